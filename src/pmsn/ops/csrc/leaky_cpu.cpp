// Fused CPU sweeps of the resetting neurons LIF/PLIF and TC-LIF (equations: docs/neurons.md §1.3-1.4, §2.1-2.2,
// §3.1-3.2; design: docs/kernels.md §4).
//
// Layout: x is [T, J] (J = B·C·S columns, the native time-first layout; no transposes). Columns are processed
// in tiles; for each tile the neuron state stays in L1 while t runs 0..T−1 and every inner loop runs over the
// columns of the tile (vectorised). The channel of column j is (j / S) % C.
//
// LIF / PLIF (the update of pmsn.neurons.lif._Leaky._step, k = 1/τ), H = charged, V = post-reset potential:
//   decay_input:  H = V + (X − (V − V_rest))·k        else: H = V − (V − V_rest)·k + X
//   S = Θ(H − θ);  hard: V = H·(1 − S) + V_reset·S,  soft: V = H − θ·S,  none: V = H
// TC-LIF (pmsn.neurons.tclif.TCLIF._step), P = S[t−1] (never detached):
//   a = U + θ·P (pre-reset coupling) or U;  D_c = D + β1·a + X;  U_c = U + β2·D_c;  S = Θ(U_c − θ)
//   D = D_c − γ·S;  U = U_c − θ·S
// The arithmetic is written in the same order as the PyTorch step (and built with -ffp-contract=off), so the
// spikes equal the serial path's bit for bit (docs/kernels.md §4.2, §5).
//
// Backward: forward stores the state every `block` steps (checkpoints); backward recomputes one block of a
// tile into a small scratch (charged potential and the factors the parameter gradients need), evaluates the
// surrogate derivative over the block in one vectorised pass, then runs the adjoint recurrence in reverse
// (docs/kernels.md §4.3):
//   LIF:    g_H = g_V·∂V/∂H + (dL/dS + g_V·∂V/∂S)·sg;  dL/dX = g_H·k (or g_H);  g_V ← g_H·(1 − k);
//           dL/dk += g_H·(X − (V − V_rest)) (or −g_H·(V − V_rest))
//   TC-LIF: g_S = dL/dS + g_P − γ·g_D − θ·g_U;  g_Uc = g_U + g_S·sg;  g_Dc = g_D + β2·g_Uc;  dL/dX = g_Dc;
//           dL/dβ2 += g_Uc·D_c;  dL/dβ1 += g_Dc·a;  g_D ← g_Dc;  g_U ← g_Uc + β1·g_Dc;  g_P ← θ·β1·g_Dc
// (∂V/∂S and the γ, θ terms of g_S vanish with detach_reset). Parameter gradients are summed per column in
// blocks (≤ block terms in the input precision) into float64 column sums; Python reduces those over columns.
//
// Hot loops avoid std::min/max/abs/floor/exp and branches (ternaries only) so that gcc vectorises them
// (docs/kernels.md §5). Tiling, prefetch, the spike step and the surrogates are in pmsn_kernels_common.h.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pmsn_kernels_common.h"

namespace {

using namespace pmsn_kernels;

// ------------------------------------------------------------------------------------------------ plumbing
// Per-thread scratch of a backward tile: `rows` arrays of [block, tile] plus the surrogate values.
template <typename scalar_t>
struct Scratch {
  std::vector<scalar_t> data;
  int64_t stride;
  Scratch(int64_t rows, int64_t block, int64_t tile) : data(rows * block * tile), stride(block * tile) {}
  scalar_t* row(int64_t i) { return data.data() + i * stride; }
};

// ================================================================================================ LIF / PLIF
enum Reset : int64_t { kHard = 0, kSoft = 1, kNone = 2 };

template <typename scalar_t>
struct LeakyConfig {
  scalar_t k, threshold, v_reset, v_rest, fires_at_threshold;
  int64_t reset;
  bool decay_input, detach_reset;
  scalar_t initial() const { return reset == kHard ? v_reset : scalar_t(0); }
};

// Forward over steps [t_begin, t_end) of one tile; V (width) carries the state. Writes S (row stride J) if
// `spikes` is given; otherwise writes the charged potential into `charged` and, if `rate_factor` is given,
// the factor of dL/dk (X − (V − V_rest) or −(V − V_rest)), both with row stride `width`.
template <typename scalar_t>
void leaky_sweep(const scalar_t* x, int64_t columns, int64_t first, int64_t width, int64_t t_begin, int64_t t_end,
                 const LeakyConfig<scalar_t>& c, scalar_t* v, scalar_t* spikes, scalar_t* charged,
                 scalar_t* rate_factor) {
  const scalar_t k = c.k, threshold = c.threshold, v_reset = c.v_reset, v_rest = c.v_rest;
  const scalar_t fires = c.fires_at_threshold;
  const bool decay_input = c.decay_input;
  const int64_t reset = c.reset;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const scalar_t* x_t = x + t * columns + first;
    if (t + kPrefetchRows < t_end) prefetch_row(x_t + kPrefetchRows * columns, width);
    scalar_t* s_t = spikes != nullptr ? spikes + t * columns + first : nullptr;
    scalar_t* h_t = charged != nullptr ? charged + (t - t_begin) * width : nullptr;
    scalar_t* f_t = rate_factor != nullptr ? rate_factor + (t - t_begin) * width : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) {
      const scalar_t leak = v[j] - v_rest;
      const scalar_t h = decay_input ? v[j] + (x_t[j] - leak) * k : v[j] - leak * k + x_t[j];
      const scalar_t s = heaviside<scalar_t>(h - threshold, fires);
      v[j] = reset == kHard ? h * (scalar_t(1) - s) + v_reset * s : (reset == kSoft ? h - threshold * s : h);
      if (s_t != nullptr) s_t[j] = s;
      if (h_t != nullptr) h_t[j] = h;
      if (f_t != nullptr) f_t[j] = decay_input ? x_t[j] - leak : -leak;
    }
  }
}

template <typename scalar_t>
void leaky_forward_tile(const scalar_t* x, int64_t steps, int64_t columns, int64_t first, int64_t width,
                        int64_t block, const LeakyConfig<scalar_t>& c, scalar_t* v, scalar_t* spikes,
                        scalar_t* checkpoints) {
  std::fill(v, v + width, c.initial());
  if (checkpoints == nullptr) {
    leaky_sweep<scalar_t>(x, columns, first, width, 0, steps, c, v, spikes, nullptr, nullptr);
    return;
  }
  for (int64_t b = 0; b < block_count(steps, block); ++b) {
    std::copy_n(v, width, checkpoints + b * columns + first);
    leaky_sweep<scalar_t>(x, columns, first, width, b * block, std::min(steps, (b + 1) * block), c, v, spikes,
                          nullptr, nullptr);
  }
}

// Returns (spikes [T, J], checkpoints [blocks, J]); no checkpoints when block <= 0 (inference).
std::vector<torch::Tensor> leaky_forward(const torch::Tensor& x, double k, double threshold, int64_t reset,
                                         double v_reset, double v_rest, bool decay_input, bool strict, int64_t block,
                                         int64_t tile) {
  check_columns(x, "x");
  TORCH_CHECK(tile > 0 && reset >= kHard && reset <= kNone, "bad tile or reset");
  const int64_t steps = x.size(0), columns = x.size(1), blocks = block_count(steps, block);
  auto spikes = torch::empty_like(x);
  auto checkpoints = torch::empty({blocks, columns}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "leaky_forward", [&] {
    const LeakyConfig<scalar_t> c{scalar_t(k), scalar_t(threshold), scalar_t(v_reset), scalar_t(v_rest),
                                  scalar_t(strict ? 0 : 1), reset, decay_input, false};
    const scalar_t* x_ptr = x.data_ptr<scalar_t>();
    scalar_t* s_ptr = spikes.data_ptr<scalar_t>();
    scalar_t* ckpt = blocks > 0 ? checkpoints.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, tile_count(columns, tile), tile_grain(steps, tile), [&](int64_t tile_begin, int64_t tile_end) {
      std::vector<scalar_t> v(tile);
      for (int64_t index = tile_begin; index < tile_end; ++index) {
        const int64_t first = index * tile;
        leaky_forward_tile<scalar_t>(x_ptr, steps, columns, first, std::min(tile, columns - first), block, c,
                                     v.data(), s_ptr, ckpt);
      }
    });
  });
  return {spikes, checkpoints};
}

// Reverse sweep of one tile, block by block (last first). grad_x / rate_sums may be null.
template <typename scalar_t>
void leaky_backward_tile(const scalar_t* x, const scalar_t* grad_spikes, const scalar_t* checkpoints, int64_t steps,
                         int64_t columns, int64_t first, int64_t width, int64_t block, const LeakyConfig<scalar_t>& c,
                         const Surrogate& sg, Scratch<scalar_t>& s, scalar_t* grad_x, double* rate_sums) {
  scalar_t* v = s.row(0);  // state (width), then per-block rows
  scalar_t* grad_v = v + width;
  scalar_t* rate_acc = grad_v + width;
  scalar_t* charged = s.row(1);
  scalar_t* slope = s.row(2);
  scalar_t* factor = s.row(3);
  scalar_t* dummy_grad_x = rate_acc + width;
  std::fill(grad_v, grad_v + width, scalar_t(0));
  const scalar_t k = c.k, keep = scalar_t(1) - c.k, threshold = c.threshold, v_reset = c.v_reset;
  const scalar_t fires = c.fires_at_threshold;
  // S reaches V only through an attached hard or soft reset; the term is left out (a select, not a ·0 that
  // would turn a NaN potential into a NaN gradient where autograd has no path at all)
  const bool reset_path = !c.detach_reset && c.reset != kNone;
  const bool decay_input = c.decay_input;
  const int64_t reset = c.reset;
  for (int64_t b = block_count(steps, block) - 1; b >= 0; --b) {
    const int64_t t_begin = b * block, t_end = std::min(steps, (b + 1) * block), rows = t_end - t_begin;
    std::copy_n(checkpoints + b * columns + first, width, v);
    leaky_sweep<scalar_t>(x, columns, first, width, t_begin, t_end, c, v, nullptr, charged,
                          rate_sums != nullptr ? factor : nullptr);
    surrogate_derivative<scalar_t>(sg, charged, threshold, slope, rows * width);
    std::fill(rate_acc, rate_acc + width, scalar_t(0));
    for (int64_t t = t_end - 1; t >= t_begin; --t) {
      const int64_t row = (t - t_begin) * width;
      const scalar_t* gs_t = grad_spikes + t * columns + first;
      if (t - kPrefetchRows >= t_begin) prefetch_row(gs_t - kPrefetchRows * columns, width);
      scalar_t* gx_t = grad_x != nullptr ? grad_x + t * columns + first : dummy_grad_x;
      const scalar_t* h_t = charged + row;
      const scalar_t* sg_t = slope + row;
      const scalar_t* f_t = factor + row;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t h = h_t[j];
        const scalar_t spike = heaviside<scalar_t>(h - threshold, fires);
        // ∂V/∂H and ∂V/∂S of the reset (docs/neurons.md §1.4)
        const scalar_t dv_dh = reset == kHard ? scalar_t(1) - spike : scalar_t(1);
        const scalar_t dv_ds = reset == kHard ? v_reset - h : (reset == kSoft ? -threshold : scalar_t(0));
        const scalar_t g_s = reset_path ? gs_t[j] + grad_v[j] * dv_ds : gs_t[j];
        const scalar_t g_h = grad_v[j] * dv_dh + g_s * sg_t[j];
        gx_t[j] = decay_input ? g_h * k : g_h;
        grad_v[j] = g_h * keep;
        rate_acc[j] += g_h * f_t[j];
      }
    }
    if (rate_sums != nullptr) {
      for (int64_t j = 0; j < width; ++j) rate_sums[first + j] += static_cast<double>(rate_acc[j]);
    }
  }
}

// Returns (dL/dx [T, J] — empty unless need_grad_x, dL/dk per column [J] float64 — empty unless need_grad_k).
std::vector<torch::Tensor> leaky_backward(const torch::Tensor& grad_spikes, const torch::Tensor& x,
                                          const torch::Tensor& checkpoints, double k, double threshold, int64_t reset,
                                          double v_reset, double v_rest, bool decay_input, bool detach_reset,
                                          bool strict, int64_t surrogate_kind, std::vector<double> surrogate_params,
                                          int64_t block, int64_t tile, bool need_grad_x, bool need_grad_k) {
  check_columns(x, "x");
  check_columns(grad_spikes, "grad_spikes");
  TORCH_CHECK(grad_spikes.sizes() == x.sizes() && grad_spikes.scalar_type() == x.scalar_type(),
              "grad_spikes must match x");
  TORCH_CHECK(tile > 0 && block > 0 && reset >= kHard && reset <= kNone, "bad tile, block or reset");
  const int64_t steps = x.size(0), columns = x.size(1);
  TORCH_CHECK(checkpoints.dim() == 2 && checkpoints.size(0) == block_count(steps, block) &&
                  checkpoints.size(1) == columns && checkpoints.is_contiguous(),
              "checkpoints do not match x");
  const Surrogate sg{surrogate_kind, std::move(surrogate_params)};
  auto grad_x = need_grad_x ? torch::empty_like(x) : torch::empty({0}, x.options());
  auto rate_sums = torch::zeros({need_grad_k ? columns : 0}, x.options().dtype(torch::kFloat64));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "leaky_backward", [&] {
    const LeakyConfig<scalar_t> c{scalar_t(k), scalar_t(threshold), scalar_t(v_reset), scalar_t(v_rest),
                                  scalar_t(strict ? 0 : 1), reset, decay_input, detach_reset};
    const scalar_t* x_ptr = x.data_ptr<scalar_t>();
    const scalar_t* gs_ptr = grad_spikes.data_ptr<scalar_t>();
    const scalar_t* ckpt = checkpoints.data_ptr<scalar_t>();
    scalar_t* gx_ptr = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    double* sums_ptr = need_grad_k ? rate_sums.data_ptr<double>() : nullptr;
    at::parallel_for(0, tile_count(columns, tile), tile_grain(steps, tile), [&](int64_t tile_begin, int64_t tile_end) {
      Scratch<scalar_t> scratch(4, std::max<int64_t>(block, 4), tile);  // row 0: state vectors; 1: H; 2: surrogate; 3: dL/dk factor
      for (int64_t index = tile_begin; index < tile_end; ++index) {
        const int64_t first = index * tile;
        leaky_backward_tile<scalar_t>(x_ptr, gs_ptr, ckpt, steps, columns, first, std::min(tile, columns - first),
                                      block, c, sg, scratch, gx_ptr, sums_ptr);
      }
    });
  });
  return {grad_x, rate_sums};
}

// ================================================================================================ TC-LIF
template <typename scalar_t>
struct TwoCompartmentConfig {
  scalar_t threshold, dendrite_reset, fires_at_threshold;
  bool pre_reset_coupling, detach_reset;
};

// β1, β2 of the tile's columns: one value per layer (numel 1) or per channel.
template <typename scalar_t>
struct TileBetas {
  std::vector<scalar_t> beta1, beta2;
  explicit TileBetas(int64_t tile) : beta1(tile), beta2(tile) {}
  void gather(const scalar_t* b1, const scalar_t* b2, int64_t groups, int64_t spatial, int64_t first, int64_t width) {
    for (int64_t j = 0; j < width; ++j) {
      const int64_t channel = ((first + j) / spatial) % groups;
      beta1[j] = b1[channel];
      beta2[j] = b2[channel];
    }
  }
};

// Forward over steps [t_begin, t_end) of one tile; state = (D, U, P) rows of `state` (width apart). Writes S
// (row stride J) if `spikes` is given, else U_c, D_c and a into the per-block rows (row stride width).
template <typename scalar_t>
void tclif_sweep(const scalar_t* x, int64_t columns, int64_t first, int64_t width, int64_t t_begin, int64_t t_end,
                 const TwoCompartmentConfig<scalar_t>& c, const TileBetas<scalar_t>& betas, scalar_t* state,
                 scalar_t* spikes, scalar_t* soma_charged, scalar_t* dendrite_charged, scalar_t* coupled) {
  const scalar_t threshold = c.threshold, gamma = c.dendrite_reset, fires = c.fires_at_threshold;
  const bool pre = c.pre_reset_coupling;
  scalar_t* dendrite = state;
  scalar_t* soma = state + width;
  scalar_t* previous = state + 2 * width;
  const scalar_t* beta1 = betas.beta1.data();
  const scalar_t* beta2 = betas.beta2.data();
  for (int64_t t = t_begin; t < t_end; ++t) {
    const scalar_t* x_t = x + t * columns + first;
    if (t + kPrefetchRows < t_end) prefetch_row(x_t + kPrefetchRows * columns, width);
    scalar_t* s_t = spikes != nullptr ? spikes + t * columns + first : nullptr;
    const int64_t row = (t - t_begin) * width;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) {
      const scalar_t a = pre ? soma[j] + threshold * previous[j] : soma[j];
      const scalar_t d = dendrite[j] + beta1[j] * a + x_t[j];
      const scalar_t u = soma[j] + beta2[j] * d;
      const scalar_t s = heaviside<scalar_t>(u - threshold, fires);
      dendrite[j] = d - gamma * s;
      soma[j] = u - threshold * s;
      previous[j] = s;
      if (s_t != nullptr) {
        s_t[j] = s;
      } else {
        soma_charged[row + j] = u;
        dendrite_charged[row + j] = d;
        coupled[row + j] = a;
      }
    }
  }
}

constexpr int64_t kTclifStateRows = 3;  // D, U, P

// Returns (spikes [T, J], checkpoints [blocks, 3, J]); no checkpoints when block <= 0 (inference).
std::vector<torch::Tensor> tclif_forward(const torch::Tensor& x, const torch::Tensor& beta1,
                                         const torch::Tensor& beta2, int64_t spatial, double threshold,
                                         double dendrite_reset, bool pre_reset_coupling, bool strict, int64_t block,
                                         int64_t tile) {
  check_columns(x, "x");
  TORCH_CHECK(beta1.is_contiguous() && beta2.is_contiguous() && beta1.numel() == beta2.numel() &&
                  beta1.scalar_type() == x.scalar_type() && beta2.scalar_type() == x.scalar_type(),
              "beta1, beta2 must be contiguous, of x's dtype and the same size");
  TORCH_CHECK(tile > 0 && spatial > 0, "bad tile or spatial");
  const int64_t steps = x.size(0), columns = x.size(1), blocks = block_count(steps, block);
  auto spikes = torch::empty_like(x);
  auto checkpoints = torch::empty({blocks, kTclifStateRows, columns}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "tclif_forward", [&] {
    const TwoCompartmentConfig<scalar_t> c{scalar_t(threshold), scalar_t(dendrite_reset), scalar_t(strict ? 0 : 1),
                                           pre_reset_coupling, false};
    const scalar_t* x_ptr = x.data_ptr<scalar_t>();
    scalar_t* s_ptr = spikes.data_ptr<scalar_t>();
    scalar_t* ckpt = blocks > 0 ? checkpoints.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, tile_count(columns, tile), tile_grain(steps, tile), [&](int64_t tile_begin, int64_t tile_end) {
      TileBetas<scalar_t> betas(tile);
      std::vector<scalar_t> state(kTclifStateRows * tile);
      for (int64_t index = tile_begin; index < tile_end; ++index) {
        const int64_t first = index * tile, width = std::min(tile, columns - first);
        betas.gather(beta1.data_ptr<scalar_t>(), beta2.data_ptr<scalar_t>(), beta1.numel(), spatial, first, width);
        std::fill(state.begin(), state.end(), scalar_t(0));
        if (ckpt == nullptr) {
          tclif_sweep<scalar_t>(x_ptr, columns, first, width, 0, steps, c, betas, state.data(), s_ptr, nullptr,
                                nullptr, nullptr);
          continue;
        }
        for (int64_t b = 0; b < blocks; ++b) {
          for (int64_t r = 0; r < kTclifStateRows; ++r) {
            std::copy_n(state.data() + r * width, width, ckpt + (b * kTclifStateRows + r) * columns + first);
          }
          tclif_sweep<scalar_t>(x_ptr, columns, first, width, b * block, std::min(steps, (b + 1) * block), c, betas,
                                state.data(), s_ptr, nullptr, nullptr, nullptr);
        }
      }
    });
  });
  return {spikes, checkpoints};
}

// Reverse sweep of one tile, block by block (last first). grad_x / beta_sums ([2, J]) may be null.
// kResetPath: S reaches U and D through an attached reset; kCouplingPath: S[t−1] reaches a through the pre-reset
// coupling (attached reset only: the pre-reset soma is rebuilt from the spike used by the reset). A path that does
// not exist is left out at compile time, not multiplied by 0 (that would turn a NaN potential into NaN gradients
// where autograd has none; a runtime select in the loop would stop gcc from vectorising it).
template <typename scalar_t, bool kResetPath, bool kCouplingPath>
void tclif_backward_tile(const scalar_t* x, const scalar_t* grad_spikes, const scalar_t* checkpoints, int64_t steps,
                         int64_t columns, int64_t first, int64_t width, int64_t block,
                         const TwoCompartmentConfig<scalar_t>& c, const TileBetas<scalar_t>& betas,
                         const Surrogate& sg, Scratch<scalar_t>& s, scalar_t* grad_x, double* beta_sums) {
  scalar_t* state = s.row(0);                      // D, U, P
  scalar_t* adjoint = state + kTclifStateRows * width;  // g_D, g_U, g_P
  scalar_t* acc = adjoint + kTclifStateRows * width;    // dβ1, dβ2 block sums
  scalar_t* dummy_grad_x = acc + 2 * width;
  scalar_t* soma_charged = s.row(1);
  scalar_t* slope = s.row(2);
  scalar_t* dendrite_charged = s.row(3);
  scalar_t* coupled = s.row(4);
  std::fill(adjoint, adjoint + kTclifStateRows * width, scalar_t(0));
  scalar_t* grad_d = adjoint;
  scalar_t* grad_u = adjoint + width;
  scalar_t* grad_p = adjoint + 2 * width;
  scalar_t* acc1 = acc;
  scalar_t* acc2 = acc + width;
  const scalar_t threshold = c.threshold, gamma = c.dendrite_reset, fires = c.fires_at_threshold;
  const scalar_t* beta1 = betas.beta1.data();
  const scalar_t* beta2 = betas.beta2.data();
  for (int64_t b = block_count(steps, block) - 1; b >= 0; --b) {
    const int64_t t_begin = b * block, t_end = std::min(steps, (b + 1) * block), rows = t_end - t_begin;
    for (int64_t r = 0; r < kTclifStateRows; ++r) {
      std::copy_n(checkpoints + (b * kTclifStateRows + r) * columns + first, width, state + r * width);
    }
    tclif_sweep<scalar_t>(x, columns, first, width, t_begin, t_end, c, betas, state, nullptr, soma_charged,
                          dendrite_charged, coupled);
    surrogate_derivative<scalar_t>(sg, soma_charged, threshold, slope, rows * width);
    std::fill(acc, acc + 2 * width, scalar_t(0));
    for (int64_t t = t_end - 1; t >= t_begin; --t) {
      const int64_t row = (t - t_begin) * width;
      const scalar_t* gs_t = grad_spikes + t * columns + first;
      if (t - kPrefetchRows >= t_begin) prefetch_row(gs_t - kPrefetchRows * columns, width);
      scalar_t* gx_t = grad_x != nullptr ? grad_x + t * columns + first : dummy_grad_x;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) {
        const scalar_t g_s = kResetPath ? gs_t[j] + grad_p[j] + (-gamma * grad_d[j] - threshold * grad_u[j])
                                        : gs_t[j] + grad_p[j];
        const scalar_t g_uc = grad_u[j] + g_s * slope[row + j];
        const scalar_t g_dc = grad_d[j] + beta2[j] * g_uc;
        const scalar_t g_a = beta1[j] * g_dc;
        gx_t[j] = g_dc;
        acc1[j] += g_dc * coupled[row + j];
        acc2[j] += g_uc * dendrite_charged[row + j];
        grad_d[j] = g_dc;
        grad_u[j] = g_uc + g_a;
        grad_p[j] = kCouplingPath ? threshold * g_a : scalar_t(0);
      }
    }
    if (beta_sums != nullptr) {
      for (int64_t j = 0; j < width; ++j) {
        beta_sums[first + j] += static_cast<double>(acc1[j]);
        beta_sums[columns + first + j] += static_cast<double>(acc2[j]);
      }
    }
  }
}

// Returns (dL/dx [T, J] — empty unless need_grad_x, (dL/dβ1, dL/dβ2) per column [2, J] float64 — empty unless
// need_grad_betas).
std::vector<torch::Tensor> tclif_backward(const torch::Tensor& grad_spikes, const torch::Tensor& x,
                                          const torch::Tensor& checkpoints, const torch::Tensor& beta1,
                                          const torch::Tensor& beta2, int64_t spatial, double threshold,
                                          double dendrite_reset, bool pre_reset_coupling, bool detach_reset,
                                          bool strict, int64_t surrogate_kind, std::vector<double> surrogate_params,
                                          int64_t block, int64_t tile, bool need_grad_x, bool need_grad_betas) {
  check_columns(x, "x");
  check_columns(grad_spikes, "grad_spikes");
  TORCH_CHECK(grad_spikes.sizes() == x.sizes() && grad_spikes.scalar_type() == x.scalar_type(),
              "grad_spikes must match x");
  TORCH_CHECK(beta1.is_contiguous() && beta2.is_contiguous() && beta1.numel() == beta2.numel() &&
                  beta1.scalar_type() == x.scalar_type() && beta2.scalar_type() == x.scalar_type(),
              "beta1, beta2 must be contiguous, of x's dtype and the same size");
  TORCH_CHECK(tile > 0 && block > 0 && spatial > 0, "bad tile, block or spatial");
  const int64_t steps = x.size(0), columns = x.size(1);
  TORCH_CHECK(checkpoints.dim() == 3 && checkpoints.size(0) == block_count(steps, block) &&
                  checkpoints.size(1) == kTclifStateRows && checkpoints.size(2) == columns &&
                  checkpoints.is_contiguous(),
              "checkpoints do not match x");
  const Surrogate sg{surrogate_kind, std::move(surrogate_params)};
  auto grad_x = need_grad_x ? torch::empty_like(x) : torch::empty({0}, x.options());
  auto beta_sums = torch::zeros({need_grad_betas ? 2 : 0, columns}, x.options().dtype(torch::kFloat64));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "tclif_backward", [&] {
    const TwoCompartmentConfig<scalar_t> c{scalar_t(threshold), scalar_t(dendrite_reset), scalar_t(strict ? 0 : 1),
                                           pre_reset_coupling, detach_reset};
    const scalar_t* x_ptr = x.data_ptr<scalar_t>();
    const scalar_t* gs_ptr = grad_spikes.data_ptr<scalar_t>();
    const scalar_t* ckpt = checkpoints.data_ptr<scalar_t>();
    scalar_t* gx_ptr = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    double* sums_ptr = need_grad_betas ? beta_sums.data_ptr<double>() : nullptr;
    const auto backward_tile = detach_reset ? &tclif_backward_tile<scalar_t, false, false>
                               : pre_reset_coupling ? &tclif_backward_tile<scalar_t, true, true>
                                                    : &tclif_backward_tile<scalar_t, true, false>;
    at::parallel_for(0, tile_count(columns, tile), tile_grain(steps, tile), [&](int64_t tile_begin, int64_t tile_end) {
      TileBetas<scalar_t> betas(tile);
      // row 0: state, adjoints, sums; 1: U_c; 2: surrogate; 3: D_c; 4: a
      Scratch<scalar_t> scratch(5, std::max<int64_t>(block, 3 * kTclifStateRows), tile);
      for (int64_t index = tile_begin; index < tile_end; ++index) {
        const int64_t first = index * tile, width = std::min(tile, columns - first);
        betas.gather(beta1.data_ptr<scalar_t>(), beta2.data_ptr<scalar_t>(), beta1.numel(), spatial, first, width);
        backward_tile(x_ptr, gs_ptr, ckpt, steps, columns, first, width, block, c, betas, sg, scratch, gx_ptr,
                      sums_ptr);
      }
    });
  });
  return {grad_x, beta_sums};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Fused CPU forward/backward sweeps of LIF/PLIF and TC-LIF (pmsn.ops.fused_leaky)";
  m.def("leaky_forward", &leaky_forward, "LIF/PLIF forward: (spikes, checkpoints)");
  m.def("leaky_backward", &leaky_backward, "LIF/PLIF backward: (grad_x, float64 column sums of dL/dk)");
  m.def("tclif_forward", &tclif_forward, "TC-LIF forward: (spikes, checkpoints)");
  m.def("tclif_backward", &tclif_backward, "TC-LIF backward: (grad_x, float64 column sums of dL/dβ1, dL/dβ2)");
}
