// Fused CPU sweep of the PMSN neuron: modal recurrence + ReLU + soma in one pass over time
// (equations: docs/pmsn.md §4.3, §5, §6; design: docs/kernels.md §3).
//
// Layout: u is [T, J] (J = B·C·S columns, native time-first layout, no transposes); the channel of
// column j is (j / S) % C. Columns are processed in tiles; for each tile the N complex modal states stay
// in cache while t runs 0..T−1, and every inner loop runs over the columns of the tile (vectorised).
//
// Per column (channel c, modes m):
//   x̂_m[t] = Ā_m·x̂_m[t−1] + u[t]                      (modal recurrence, x̂[−1] = 0)
//   Y[t]   = D·u[t] + Re Σ_m r_m·x̂_m[t]                (r = C̃·B̄)
//   v[t]   = rem[t−1] + ReLU(κ·Y[t]);  S[t] = [v ≥ θ] (or v > θ if strict)
//   rem[t] = v[t] − θ·⌊v[t]/θ⌋                         (stays in [0, θ): exact at any T)
// This is the serial soma of docs/pmsn.md §5.2; it gives the same spikes as the parallel soma identity (§5.3-5.4)
// and, keeping the remainder in [0, θ) every step, stays exact in float32 at long T (docs/pmsn.md §5.6,
// docs/kernels.md §8).
//
// Backward (docs/pmsn.md §6.1-6.3, docs/kernels.md §3.4-3.5). G[t] = dL/dY[t] = A[t]·κ·[κY[t] > 0] with
// A[t] = dL/dS[t]·tri(v[t] − θ) ("elementwise") or A[t] = Σ_{t'≥t} dL/dS[t']·tri(v[t'] − θ) ("cumsum").
// Adjoint of the recurrence (reverse sweep):
//   ν_m[t] = Ā_m·ν_m[t+1] + G[t]                       dL/du[t] = D·G[t] + Re Σ_m r_m·ν_m[t]
//   ζ_m[t] = Ā_m·ζ_m[t+1] + ν_m[t+1]                   (second-order adjoint: carries d(Āᵏ)/dĀ)
// and per-column sums P_m = Σ_t u·ν_m, W_m = Σ_t u·ζ_m, E = Σ_t u·G, from which (in Python)
//   dL/dr = (Re P, −Im P), dL/dĀ = (Re(r·W), −Im(r·W)), dL/dD = E.
//
// Backward reads no saved surrogate tensor: forward stores the modal state and remainder every `block`
// steps (checkpoints); backward recomputes dL/dS·tri(v − θ) and κ·[κY > 0] one block at a time into a
// small per-tile scratch, then sweeps that block in reverse (docs/kernels.md §3.3). In the reverse sweep
// the adjoint state of up to two modes and one register-wide chunk of columns lives in registers for the whole
// block (GCC/Clang vector extensions), so per step only G, u and the dL/du accumulator touch memory; the first
// group's sweep also forms G and D·G (docs/kernels.md §12.6).
//
// Register passes (docs/kernels.md §12.3, §12.6): the forward recurrence of up to kModeGroup modes and the soma
// run with state, parameters and remainder in registers (one register of the build's ISA wide: 64 bytes with
// AVX-512, 32 with AVX2, PMSN_CPU_ISA); the rows read next are prefetched during a pass, and spikes and dL/du go
// to their [T, J] rows with non-temporal stores. Every build and ISA gives the same bits.
//
// Hot loops avoid std::min/max/abs and branches (ternaries only) so that the compiler vectorises them
// (build with -fno-trapping-math so that std::floor vectorises too; docs/kernels.md §5). Tiling, prefetch and
// the vectors (Lanes) are in pmsn_kernels_common.h.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "pmsn_kernels_common.h"

namespace {

using namespace pmsn_kernels;

// Parameters gathered per tile, laid out [mode][column] so that every column loop is unit-stride. Per-tile rows
// are `stride` apart: the tile width rounded up to whole vectors, padded(tile, Lanes<scalar_t>::count).
template <typename scalar_t>
struct TileParams {
  int64_t stride;
  std::vector<scalar_t> abar_re, abar_im, residue_re, residue_im, skip;

  TileParams(int64_t stride_, int64_t modes)
      : stride(stride_), abar_re(modes * stride_), abar_im(modes * stride_), residue_re(modes * stride_),
        residue_im(modes * stride_), skip(stride_) {}

  // Padding columns (k ≥ width) get zero parameters, so that padded lanes stay zero.
  void gather(const scalar_t* const* params, int64_t first_column, int64_t width, int64_t modes, int64_t channels,
              int64_t spatial) {
    for (int64_t k = 0; k < stride; ++k) {
      const bool inside = k < width;
      const int64_t channel = inside ? ((first_column + k) / spatial) % channels : 0;
      skip[k] = inside ? params[4][channel] : scalar_t(0);
      for (int64_t m = 0; m < modes; ++m) {
        abar_re[m * stride + k] = inside ? params[0][channel * modes + m] : scalar_t(0);
        abar_im[m * stride + k] = inside ? params[1][channel * modes + m] : scalar_t(0);
        residue_re[m * stride + k] = inside ? params[2][channel * modes + m] : scalar_t(0);
        residue_im[m * stride + k] = inside ? params[3][channel * modes + m] : scalar_t(0);
      }
    }
  }
};

template <typename scalar_t>
struct SomaConfig {
  scalar_t threshold, scale, width;
  scalar_t fires_at_threshold;  // 1 for S = [v ≥ θ], 0 for strict S = [v > θ]
};

// Modal state of one tile: x̂ (re, im) [mode][column] and the soma remainder [column].
template <typename scalar_t>
struct TileState {
  std::vector<scalar_t> re, im, remainder;
  TileState(int64_t stride, int64_t modes) : re(modes * stride), im(modes * stride), remainder(stride) {}
  void clear() {
    std::fill(re.begin(), re.end(), scalar_t(0));
    std::fill(im.begin(), im.end(), scalar_t(0));
    std::fill(remainder.begin(), remainder.end(), scalar_t(0));
  }
};

// Pointers and sizes shared by all tiles of one call. params = (abar_re, abar_im, residue_re, residue_im, skip).
template <typename scalar_t>
struct Problem {
  const scalar_t* u;
  const scalar_t* params[5];
  int64_t steps, columns, channels, spatial, modes, block, tile, stride;
  SomaConfig<scalar_t> soma;

  Problem(const torch::Tensor& u_, const std::vector<torch::Tensor>& params_, int64_t channels_, int64_t spatial_,
          int64_t block_, int64_t tile_, SomaConfig<scalar_t> soma_)
      : u(u_.data_ptr<scalar_t>()), steps(u_.size(0)), columns(u_.size(1)), channels(channels_), spatial(spatial_),
        modes(params_[0].size(1)), block(block_), tile(tile_), stride(padded(tile_, Lanes<scalar_t>::count)),
        soma(soma_) {
    for (int i = 0; i < 5; ++i) params[i] = params_[i].data_ptr<scalar_t>();
  }
  int64_t blocks() const { return block_count(steps, block); }
  int64_t checkpoint_rows() const { return 2 * modes + 1; }  // x̂ re (N), x̂ im (N), remainder
  int64_t tiles() const { return tile_count(columns, tile); }
};

// What a recompute in backward writes instead of spikes: dL/dS·tri(v − θ) and κ·[κY > 0], rows `stride`
// apart, row 0 = t_begin (dL/dS is read here, in forward order, so that the reverse sweep finds it in cache).
template <typename scalar_t>
struct Recompute {
  const scalar_t* grad_spikes;  // [T, J]
  scalar_t* spike_grad;         // [block, stride]
  scalar_t* relu_gain;          // [block, stride]
};

// Steps per register-blocked pass of the modal recurrence (at least; backward's passes are whole blocks), and
// modes per pass (docs/kernels.md §12.3).
constexpr int64_t kSweepRows = 64;
constexpr int64_t kModeGroup = 4;

// The register passes (modal_group_chunk, adjoint_group_chunk) work on one register of the build's ISA at a time:
// 64-byte vectors would take two registers each under AVX2 and no longer fit its 16 (docs/kernels.md §12.6).
template <typename scalar_t>
using Reg = Lanes<scalar_t, kRegisterBytes>;

// Per-thread rows of one pass of `rows` steps: u copied from its strided rows (padded lanes zero) and Y,
// [rows][stride]. Backward sizes it to a whole block and reads u back from it (docs/kernels.md §12.3).
template <typename scalar_t>
struct SweepScratch {
  int64_t rows, stride;
  std::vector<scalar_t> u_rows, current_rows;
  SweepScratch(int64_t stride_, int64_t rows_)
      : rows(rows_), stride(stride_), u_rows(rows_ * stride_), current_rows(rows_ * stride_) {}
};

// floor of each lane, exactly std::floor (the soma's remainder, docs/pmsn.md §5.6): one rounding instruction on x86
// (AVX-512 / AVX), else lane by lane.
template <typename scalar_t, int kBytes>
inline typename Lanes<scalar_t, kBytes>::vec floor_lanes(typename Lanes<scalar_t, kBytes>::vec v) {
  using vec = typename Lanes<scalar_t, kBytes>::vec;
  constexpr bool is_float = std::is_same<scalar_t, float>::value;
#if defined(__AVX512F__)
  if constexpr (kBytes == 64) {
    if constexpr (is_float) return (vec)_mm512_floor_ps((__m512)v);
    else return (vec)_mm512_floor_pd((__m512d)v);
  }
#endif
#if defined(__AVX__)
  if constexpr (kBytes == 32) {
    if constexpr (is_float) return (vec)_mm256_floor_ps((__m256)v);
    else return (vec)_mm256_floor_pd((__m256d)v);
  }
#endif
  vec out;
  for (int64_t i = 0; i < Lanes<scalar_t, kBytes>::count; ++i) out[i] = std::floor(v[i]);
  return out;
}

// Copies one scratch row to its row of a [T, J] output (spikes, dL/du) with non-temporal stores where the output
// row is register-aligned (x86): the kernel never reads those lines again, and a plain store would first read
// each line from memory (read for ownership), a third more traffic (docs/kernels.md §12.6). The caller ends with
// stream_fence() before the output is used.
template <typename scalar_t>
inline void stream_row(const scalar_t* from, int64_t width, scalar_t* to) {
  int64_t k = 0;
#if defined(__AVX512F__) || defined(__AVX__)
  constexpr int64_t lanes = Reg<scalar_t>::count;
  if (reinterpret_cast<std::uintptr_t>(to) % kRegisterBytes == 0) {
    for (; k + lanes <= width; k += lanes) {
#if defined(__AVX512F__)
      _mm512_stream_si512(reinterpret_cast<__m512i*>(to + k),
                          _mm512_loadu_si512(reinterpret_cast<const void*>(from + k)));
#else
      _mm256_stream_si256(reinterpret_cast<__m256i*>(to + k),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(from + k)));
#endif
    }
  }
#endif
  std::copy(from + k, from + width, to + k);
}

// Orders this thread's non-temporal stores before whatever follows (the end of a parallel task).
inline void stream_fence() {
#if defined(__AVX512F__) || defined(__AVX__)
  _mm_sfence();
#endif
}

// The rows the sweep reads after this pass (its next pass, or the next block's), prefetched during the pass's
// soma, one cache line per row and register of columns, so that the next copy finds them in cache
// (docs/kernels.md §12.6): `rows` rows (0: none) of u and, for a recompute, dL/dS, `row_stride` apart.
template <typename scalar_t>
struct NextRows {
  const scalar_t* u;
  const scalar_t* grad_spikes;
  int64_t rows, row_stride;
};

// What the last mode group's pass does with Y (docs/kernels.md §12.3, §12.6): store it for the next group
// (kStoreY), run the soma writing spikes in place of Y (kSpikes), or run the recompute's soma (kRecompute).
enum SomaStage : int { kStoreY = 0, kSpikes = 1, kRecompute = 2 };

// Modes [m0, m0 + kModes) over `rows` steps for the vector of columns at k: the kModes complex states and their
// parameters stay in registers, giving 2·kModes independent recurrences per step to hide the FMA latency; per
// step only u and the Y accumulator touch (L1) memory. Y starts from D·u in the first group; the arithmetic and
// its order per column are those of the per-row loop this replaced (docs/kernels.md §12.3). In the last group
// (kStage ≠ kStoreY) the soma follows in registers, its remainder kept in a register across the pass: spikes
// overwrite Y's row (kSpikes), or dL/dS (copied into `spike_grad` rows before) becomes dL/dS·tri(v − θ) and
// κ·[κY > 0] goes to `relu_gain` (kRecompute). Its arithmetic per column is that of the row loop it replaced.
template <typename scalar_t, int kModes, int kStage>
void modal_group_chunk(const TileParams<scalar_t>& p, TileState<scalar_t>& state, SweepScratch<scalar_t>& scratch,
                       int64_t stride, int64_t m0, int64_t k, int64_t rows, const SomaConfig<scalar_t>& soma,
                       scalar_t* spike_grad, scalar_t* relu_gain, const NextRows<scalar_t>& next) {
  using L = Reg<scalar_t>;
  using vec = typename L::vec;
  vec a_re[kModes], a_im[kModes], r_re[kModes], r_im[kModes], x_re[kModes], x_im[kModes];
#pragma GCC unroll 8
  for (int j = 0; j < kModes; ++j) {
    const int64_t at = (m0 + j) * stride + k;
    a_re[j] = L::load(p.abar_re.data() + at);
    a_im[j] = L::load(p.abar_im.data() + at);
    r_re[j] = L::load(p.residue_re.data() + at);
    r_im[j] = L::load(p.residue_im.data() + at);
    x_re[j] = L::load(state.re.data() + at);
    x_im[j] = L::load(state.im.data() + at);
  }
  const vec skip = L::load(p.skip.data() + k);
  const vec zero = {}, one = zero + scalar_t(1), threshold = zero + soma.threshold, scale = zero + soma.scale;
  const vec at_threshold = zero + soma.fires_at_threshold, tri_width = zero + soma.width;
  const vec inv_width_sq = zero + scalar_t(1) / (soma.width * soma.width);
  vec remainder = kStage == kStoreY ? zero : L::load(state.remainder.data() + k);
  for (int64_t row = 0; row < rows; ++row) {
    if (row < next.rows) {
      __builtin_prefetch(next.u + row * next.row_stride + k);
      if (next.grad_spikes != nullptr) __builtin_prefetch(next.grad_spikes + row * next.row_stride + k);
    }
    const vec u = L::load(scratch.u_rows.data() + row * stride + k);
    scalar_t* current_row = scratch.current_rows.data() + row * stride + k;
    vec current = m0 == 0 ? skip * u : L::load(current_row);
#pragma GCC unroll 8
    for (int j = 0; j < kModes; ++j) {
      const vec next_re = a_re[j] * x_re[j] - a_im[j] * x_im[j] + u;
      const vec next_im = a_re[j] * x_im[j] + a_im[j] * x_re[j];
      x_re[j] = next_re;
      x_im[j] = next_im;
      current += r_re[j] * next_re - r_im[j] * next_im;
    }
    if (kStage == kStoreY) {
      L::store(current_row, current);
      continue;
    }
    const vec drive = scale * current;
    const vec v = remainder + (drive <= zero ? zero : drive);  // ReLU, NaN stays NaN (torch.relu)
    if (kStage == kSpikes) {
      L::store(current_row, (v > threshold ? one : zero) + (v == threshold ? at_threshold : zero));
    } else {
      // NaN propagates as in autograd: (γ − |x|).clamp_min(0) keeps NaN, dL/dS·0 is NaN for dL/dS = NaN/inf,
      // and ReLU's backward passes the gradient where its output (here NaN) is not <= 0
      const vec distance = v - threshold;
      const vec tri = tri_width - (distance < zero ? -distance : distance);
      scalar_t* sg = spike_grad + row * stride + k;
      L::store(sg, L::load(sg) * (tri <= zero ? zero : tri * inv_width_sq));
      L::store(relu_gain + row * stride + k, drive <= zero ? zero : scale);
    }
    remainder = v - threshold * floor_lanes<scalar_t, kRegisterBytes>(v / threshold);
  }
#pragma GCC unroll 8
  for (int j = 0; j < kModes; ++j) {
    L::store(state.re.data() + (m0 + j) * stride + k, x_re[j]);
    L::store(state.im.data() + (m0 + j) * stride + k, x_im[j]);
  }
  if (kStage != kStoreY) L::store(state.remainder.data() + k, remainder);
}

template <typename scalar_t, int kStage>
void modal_group_pass(const TileParams<scalar_t>& p, TileState<scalar_t>& state, SweepScratch<scalar_t>& scratch,
                      int64_t stride, int64_t m0, int64_t group, int64_t rows, const SomaConfig<scalar_t>& soma,
                      scalar_t* spike_grad, scalar_t* relu_gain, int64_t width, const NextRows<scalar_t>& next) {
  const NextRows<scalar_t> none{nullptr, nullptr, 0, 0};
  for (int64_t k = 0; k < stride; k += Reg<scalar_t>::count) {
    const NextRows<scalar_t>& ahead = k < width ? next : none;
    switch (group) {
      case 1: modal_group_chunk<scalar_t, 1, kStage>(p, state, scratch, stride, m0, k, rows, soma, spike_grad,
                                                     relu_gain, ahead); break;
      case 2: modal_group_chunk<scalar_t, 2, kStage>(p, state, scratch, stride, m0, k, rows, soma, spike_grad,
                                                     relu_gain, ahead); break;
      case 3: modal_group_chunk<scalar_t, 3, kStage>(p, state, scratch, stride, m0, k, rows, soma, spike_grad,
                                                     relu_gain, ahead); break;
      default: modal_group_chunk<scalar_t, kModeGroup, kStage>(p, state, scratch, stride, m0, k, rows, soma,
                                                               spike_grad, relu_gain, ahead); break;
    }
  }
}

// Forward sweep of steps [t_begin, t_end) for the `width` columns of one tile starting at `first`. If `spikes`
// is given, writes S (row stride J); otherwise fills `recompute`. Both variants run the same arithmetic, so a
// recompute reproduces the forward bit for bit. Passes of kSweepRows steps: copy u (and for a recompute dL/dS),
// then the modal recurrence in registers with the soma in the last group's pass (modal_group_chunk), then the
// spikes copied out to their rows.
template <typename scalar_t>
void sweep_forward(const Problem<scalar_t>& pb, int64_t first, int64_t width, int64_t t_begin, int64_t t_end,
                   const TileParams<scalar_t>& p, TileState<scalar_t>& state, SweepScratch<scalar_t>& scratch,
                   scalar_t* spikes, const Recompute<scalar_t>& recompute, int64_t after_begin, int64_t after_rows) {
  const int64_t columns = pb.columns, stride = pb.stride;
  for (int64_t pass = t_begin; pass < t_end; pass += scratch.rows) {
    const int64_t rows = std::min(scratch.rows, t_end - pass);
    // what is read next: this sweep's next pass, else the caller's rows [after_begin, after_begin + after_rows)
    const int64_t next_rows = pass + rows < t_end ? std::min(scratch.rows, t_end - pass - rows) : after_rows;
    const int64_t next_begin = pass + rows < t_end ? pass + rows : (after_rows > 0 ? after_begin : 0);
    const NextRows<scalar_t> next{pb.u + next_begin * columns + first,
                                  spikes == nullptr ? recompute.grad_spikes + next_begin * columns + first : nullptr,
                                  next_rows, columns};
    scalar_t* spike_grad = spikes == nullptr ? recompute.spike_grad + (pass - t_begin) * stride : nullptr;
    scalar_t* relu_gain = spikes == nullptr ? recompute.relu_gain + (pass - t_begin) * stride : nullptr;
    for (int64_t row = 0; row < rows; ++row) {
      const scalar_t* u_t = pb.u + (pass + row) * columns + first;
      if (pass + row + kPrefetchRows < t_end) prefetch_row(u_t + kPrefetchRows * columns, width);
      scalar_t* u_copy = scratch.u_rows.data() + row * stride;
      std::copy_n(u_t, width, u_copy);
      std::fill(u_copy + width, u_copy + stride, scalar_t(0));
      if (spikes == nullptr) {  // dL/dS, read in forward order (docs/kernels.md §3.3)
        const scalar_t* gs_t = recompute.grad_spikes + (pass + row) * columns + first;
        if (pass + row + kPrefetchRows < t_end) prefetch_row(gs_t + kPrefetchRows * columns, width);
        scalar_t* gs_copy = spike_grad + row * stride;
        std::copy_n(gs_t, width, gs_copy);
        std::fill(gs_copy + width, gs_copy + stride, scalar_t(0));
      }
    }
    const NextRows<scalar_t> none{nullptr, nullptr, 0, 0};
    for (int64_t m0 = 0; m0 < pb.modes; m0 += kModeGroup) {
      const int64_t group = std::min(kModeGroup, pb.modes - m0);
      const bool last = m0 + group >= pb.modes;
      if (!last) {
        modal_group_pass<scalar_t, kStoreY>(p, state, scratch, stride, m0, group, rows, pb.soma, nullptr, nullptr,
                                            width, none);  // the last group prefetches
      } else if (spikes != nullptr) {
        modal_group_pass<scalar_t, kSpikes>(p, state, scratch, stride, m0, group, rows, pb.soma, nullptr, nullptr,
                                            width, next);
      } else {
        modal_group_pass<scalar_t, kRecompute>(p, state, scratch, stride, m0, group, rows, pb.soma, spike_grad,
                                               relu_gain, width, next);
      }
    }
    if (spikes != nullptr) {
      for (int64_t row = 0; row < rows; ++row) {
        stream_row(scratch.current_rows.data() + row * stride, width, spikes + (pass + row) * columns + first);
      }
    }
  }
}

// Forward of one tile over all steps; stores the state at every block start into `checkpoints` if given.
template <typename scalar_t>
void forward_tile(const Problem<scalar_t>& pb, int64_t first, int64_t width, TileParams<scalar_t>& p,
                  TileState<scalar_t>& state, SweepScratch<scalar_t>& scratch, scalar_t* spikes,
                  scalar_t* checkpoints) {
  const int64_t modes = pb.modes, columns = pb.columns, stride = pb.stride;
  p.gather(pb.params, first, width, modes, pb.channels, pb.spatial);
  state.clear();
  if (checkpoints == nullptr) {
    sweep_forward<scalar_t>(pb, first, width, 0, pb.steps, p, state, scratch, spikes, {}, 0, 0);
    return;
  }
  for (int64_t b = 0; b < pb.blocks(); ++b) {
    scalar_t* ckpt = checkpoints + b * pb.checkpoint_rows() * columns + first;
    for (int64_t m = 0; m < modes; ++m) {
      std::copy_n(state.re.data() + m * stride, width, ckpt + m * columns);
      std::copy_n(state.im.data() + m * stride, width, ckpt + (modes + m) * columns);
    }
    std::copy_n(state.remainder.data(), width, ckpt + 2 * modes * columns);
    const int64_t t_end = std::min(pb.steps, (b + 1) * pb.block);
    sweep_forward<scalar_t>(pb, first, width, b * pb.block, t_end, p, state, scratch, spikes, {}, t_end,
                            std::min(scratch.rows, pb.steps - t_end));
  }
}

// Per-thread buffers of the backward sweep; rows `stride` apart.
template <typename scalar_t>
struct BackwardScratch {
  TileParams<scalar_t> p;
  TileState<scalar_t> state;
  // per block [block, stride]: dL/dS·tri, then G in place; κ·[κY > 0]; dL/du accumulator; u is in sweep.u_rows
  std::vector<scalar_t> grad_y, relu_gain, grad_u_block;
  SweepScratch<scalar_t> sweep;
  std::vector<scalar_t> accumulated, nu_re, nu_im, zeta_re, zeta_im, block_sums;
  BackwardScratch(int64_t stride, int64_t modes, int64_t block)
      : p(stride, modes), state(stride, modes), grad_y(block * stride), relu_gain(block * stride),
        grad_u_block(block * stride), sweep(stride, std::max(block, kSweepRows)), accumulated(stride),
        nu_re(modes * stride), nu_im(modes * stride), zeta_re(modes * stride), zeta_im(modes * stride),
        block_sums((4 * modes + 1) * stride) {}
};

// An optimisation barrier: `v` is taken as computed (rounded) here, so the compiler cannot contract the product
// that made it into a later addition (an FMA would round differently from the code this replaced).
template <typename vec>
inline void keep_rounded(vec& v) {
#if defined(__AVX__)
  asm("" : "+v"(v));  // one ymm/zmm register (Reg is 32 bytes without AVX-512, 64 with it)
#else
  asm("" : "+m"(v));  // elsewhere through memory: no register class holds a 32-byte vector everywhere
#endif
}

// Modes per register pass of the reverse sweep (docs/kernels.md §12.6).
constexpr int64_t kAdjointGroup = 2;

// Reverse sweep of modes [m0, m0 + kModes) over one block (`rows` steps) for the vector of columns at k: ν, ζ and
// the sums P, W stay in registers; adds Re(r·ν) of each mode, in mode order, to the dL/du accumulator. The first
// group (kFirst) forms G on the way (docs/pmsn.md §6.1-6.2): G = κ·[κY > 0]·A with A = dL/dS·tri (or its sum over
// t' ≥ t with `carry`), stored over dL/dS·tri for the later groups; dL/du starts from D·G and E = Σ u·G, all in
// registers (docs/kernels.md §12.6). The arithmetic per column is that of the one-mode sweeps and the separate
// pass over the block this replaced.
template <typename scalar_t, bool kParamGrads, bool kFirst, int kModes>
void adjoint_group_chunk(BackwardScratch<scalar_t>& s, int64_t stride, int64_t modes, int64_t m0, int64_t k,
                         int64_t rows, bool carry) {
  using L = Reg<scalar_t>;
  using vec = typename L::vec;
  const vec zero = {};
  vec acc = kFirst ? L::load(s.accumulated.data() + k) : zero, skip_sum = zero;
  const vec skip = kFirst ? L::load(s.p.skip.data() + k) : zero;
  vec a_re[kModes], a_im[kModes], r_re[kModes], r_im[kModes], n_re[kModes], n_im[kModes], z_re[kModes],
      z_im[kModes], p_re[kModes], p_im[kModes], w_re[kModes], w_im[kModes];
#pragma GCC unroll 4
  for (int j = 0; j < kModes; ++j) {
    const int64_t at = (m0 + j) * stride + k;
    a_re[j] = L::load(s.p.abar_re.data() + at);
    a_im[j] = L::load(s.p.abar_im.data() + at);
    r_re[j] = L::load(s.p.residue_re.data() + at);
    r_im[j] = L::load(s.p.residue_im.data() + at);
    n_re[j] = L::load(s.nu_re.data() + at);
    n_im[j] = L::load(s.nu_im.data() + at);
    z_re[j] = L::load(s.zeta_re.data() + at);
    z_im[j] = L::load(s.zeta_im.data() + at);
    p_re[j] = p_im[j] = w_re[j] = w_im[j] = zero;
  }
  for (int64_t row = rows - 1; row >= 0; --row) {
    scalar_t* g_row = s.grad_y.data() + row * stride + k;
    scalar_t* grad_u = s.grad_u_block.data() + row * stride + k;
    const vec u = L::load(s.sweep.u_rows.data() + row * stride + k);
    vec g = L::load(g_row), sum;
    if (kFirst) {
      // selects, not ·0: a NaN must not leak where autograd has no path (ReLU's zero gradient is a select)
      const vec gain = L::load(s.relu_gain.data() + row * stride + k);
      acc = carry ? acc + g : g;
      g = gain == zero ? zero : acc * gain;
      L::store(g_row, g);
      sum = skip * g;
      keep_rounded(sum);  // D·G rounded on its own, as when it was stored: no FMA with Re(r·ν) below
      skip_sum += u * g;
    } else {
      sum = L::load(grad_u);
    }
#pragma GCC unroll 4
    for (int j = 0; j < kModes; ++j) {
      if (kParamGrads) {
        const vec next_z_re = a_re[j] * z_re[j] - a_im[j] * z_im[j] + n_re[j];  // ζ[t] = Ā·ζ[t+1] + ν[t+1]
        const vec next_z_im = a_re[j] * z_im[j] + a_im[j] * z_re[j] + n_im[j];
        z_re[j] = next_z_re;
        z_im[j] = next_z_im;
      }
      const vec next_n_re = a_re[j] * n_re[j] - a_im[j] * n_im[j] + g;  // ν[t] = Ā·ν[t+1] + G[t]
      const vec next_n_im = a_re[j] * n_im[j] + a_im[j] * n_re[j];
      n_re[j] = next_n_re;
      n_im[j] = next_n_im;
      if (kParamGrads) {
        p_re[j] += u * n_re[j];
        p_im[j] += u * n_im[j];
        w_re[j] += u * z_re[j];
        w_im[j] += u * z_im[j];
      }
      sum = sum + r_re[j] * n_re[j] - r_im[j] * n_im[j];
      if (j + 1 < kModes) keep_rounded(sum);  // each mode's sum rounded as when it went through memory
    }
    L::store(grad_u, sum);
  }
  if (kFirst) {
    L::store(s.accumulated.data() + k, acc);
    L::store(s.block_sums.data() + 4 * modes * stride + k, skip_sum);
  }
#pragma GCC unroll 4
  for (int j = 0; j < kModes; ++j) {
    const int64_t at = (m0 + j) * stride + k;
    L::store(s.nu_re.data() + at, n_re[j]);
    L::store(s.nu_im.data() + at, n_im[j]);
    if (kParamGrads) {
      L::store(s.zeta_re.data() + at, z_re[j]);
      L::store(s.zeta_im.data() + at, z_im[j]);
      L::store(s.block_sums.data() + at, p_re[j]);
      L::store(s.block_sums.data() + modes * stride + at, p_im[j]);
      L::store(s.block_sums.data() + 2 * modes * stride + at, w_re[j]);
      L::store(s.block_sums.data() + 3 * modes * stride + at, w_im[j]);
    }
  }
}

template <typename scalar_t, bool kParamGrads, bool kFirst>
void adjoint_group_pass(BackwardScratch<scalar_t>& s, int64_t stride, int64_t modes, int64_t m0, int64_t rows,
                        bool carry) {
  const int64_t group = std::min(kAdjointGroup, modes - m0);
  for (int64_t k = 0; k < stride; k += Reg<scalar_t>::count) {
    if (group == 1) {
      adjoint_group_chunk<scalar_t, kParamGrads, kFirst, 1>(s, stride, modes, m0, k, rows, carry);
    } else {
      adjoint_group_chunk<scalar_t, kParamGrads, kFirst, kAdjointGroup>(s, stride, modes, m0, k, rows, carry);
    }
  }
}

// Backward of one tile, block by block (last first): recompute the block from its checkpoint, form G,
// then run the adjoint recurrences backwards through the block. `grad_u` / `sums` may be null.
template <typename scalar_t>
void backward_tile(const Problem<scalar_t>& pb, int64_t first, int64_t width, BackwardScratch<scalar_t>& s,
                   const scalar_t* grad_spikes, const scalar_t* checkpoints, bool carry, scalar_t* grad_u,
                   double* sums) {
  const int64_t modes = pb.modes, columns = pb.columns, stride = pb.stride;
  s.p.gather(pb.params, first, width, modes, pb.channels, pb.spatial);
  for (auto* buffer : {&s.nu_re, &s.nu_im, &s.zeta_re, &s.zeta_im, &s.accumulated}) {
    std::fill(buffer->begin(), buffer->end(), scalar_t(0));
  }
  for (int64_t b = pb.blocks() - 1; b >= 0; --b) {
    const int64_t t_begin = b * pb.block, t_end = std::min(pb.steps, (b + 1) * pb.block), rows = t_end - t_begin;
    const scalar_t* ckpt = checkpoints + b * pb.checkpoint_rows() * columns + first;
    for (int64_t m = 0; m < modes; ++m) {
      std::copy_n(ckpt + m * columns, width, s.state.re.data() + m * stride);
      std::copy_n(ckpt + (modes + m) * columns, width, s.state.im.data() + m * stride);
    }
    std::copy_n(ckpt + 2 * modes * columns, width, s.state.remainder.data());
    // the block before is recomputed next: its rows are prefetched during this one's soma
    sweep_forward<scalar_t>(pb, first, width, t_begin, t_end, s.p, s.state, s.sweep, nullptr,
                            {grad_spikes, s.grad_y.data(), s.relu_gain.data()}, b > 0 ? t_begin - pb.block : 0,
                            b > 0 ? pb.block : 0);
    // G = dL/dY (docs/pmsn.md §6.1 element-wise, or §6.2 summed over t' ≥ t with `carry`), times κ·[κY > 0], is
    // formed by the first group's reverse sweep; u comes from the recompute's copy of the block (padded lanes zero).
    for (int64_t m0 = 0; m0 < modes; m0 += kAdjointGroup) {
      if (sums != nullptr) {
        m0 == 0 ? adjoint_group_pass<scalar_t, true, true>(s, stride, modes, m0, rows, carry)
                : adjoint_group_pass<scalar_t, true, false>(s, stride, modes, m0, rows, carry);
      } else {
        m0 == 0 ? adjoint_group_pass<scalar_t, false, true>(s, stride, modes, m0, rows, carry)
                : adjoint_group_pass<scalar_t, false, false>(s, stride, modes, m0, rows, carry);
      }
    }
    if (grad_u != nullptr) {
      for (int64_t row = 0; row < rows; ++row) {
        stream_row(s.grad_u_block.data() + row * stride, width, grad_u + (t_begin + row) * columns + first);
      }
    }
    if (sums != nullptr) {  // block sums (scalar_t, ≤ block terms) into the float64 column sums
      for (int64_t q = 0; q < 4 * modes + 1; ++q) {
        double* out = sums + q * columns + first;
        const scalar_t* in = s.block_sums.data() + q * stride;
#pragma omp simd
        for (int64_t k = 0; k < width; ++k) out[k] += static_cast<double>(in[k]);
      }
    }
  }
}

void check_layout(const torch::Tensor& u, const std::vector<torch::Tensor>& params, int64_t channels, int64_t tile) {
  check_columns(u, "u");
  TORCH_CHECK(params.size() == 5 && params[0].dim() == 2 && params[0].size(1) >= 1,
              "params must be (abar_re, abar_im, residue_re, residue_im, skip) with at least one mode");
  const int64_t modes = params[0].size(1);
  for (size_t i = 0; i < params.size(); ++i) {
    TORCH_CHECK(params[i].is_contiguous() && params[i].scalar_type() == u.scalar_type() && params[i].device().is_cpu(),
                "parameters must be contiguous CPU tensors of u's dtype");
    TORCH_CHECK(params[i].numel() == (i < 4 ? channels * modes : channels), "parameter ", i, " has the wrong size");
  }
  TORCH_CHECK(tile > 0, "tile must be positive");
}

// Returns (spikes [T, J], checkpoints [blocks, 2N+1, J]); no checkpoints (0 blocks) when block <= 0,
// i.e. when no backward will follow.
std::vector<torch::Tensor> forward(const torch::Tensor& u, const std::vector<torch::Tensor>& params, int64_t channels,
                                   int64_t spatial, double threshold, double scale, bool strict, int64_t block,
                                   int64_t tile) {
  check_layout(u, params, channels, tile);
  const int64_t modes = params[0].size(1), columns = u.size(1);
  auto spikes = torch::empty_like(u);
  const int64_t blocks = block_count(u.size(0), block);
  auto checkpoints = torch::empty({blocks, 2 * modes + 1, columns}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "pmsn_fused_forward", [&] {
    // The surrogate width is not used when spikes are written.
    const Problem<scalar_t> pb(u, params, channels, spatial, block, tile,
                               {scalar_t(threshold), scalar_t(scale), scalar_t(1), scalar_t(strict ? 0 : 1)});
    scalar_t* spikes_ptr = spikes.data_ptr<scalar_t>();
    scalar_t* ckpt_ptr = blocks > 0 ? checkpoints.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, pb.tiles(), 1, [&](int64_t tile_begin, int64_t tile_end) {
      TileParams<scalar_t> p(pb.stride, modes);
      TileState<scalar_t> state(pb.stride, modes);
      SweepScratch<scalar_t> scratch(pb.stride, kSweepRows);
      for (int64_t index = tile_begin; index < tile_end; ++index) {
        const int64_t first = index * tile;
        forward_tile(pb, first, std::min(tile, columns - first), p, state, scratch, spikes_ptr, ckpt_ptr);
      }
      stream_fence();
    });
  });
  return {spikes, checkpoints};
}

// Returns (dL/du [T, J] — empty unless need_grad_u, column sums [4N+1, J] float64 — empty unless
// need_param_grads). Sum rows: Re P_m, Im P_m, Re W_m, Im W_m (m = 0..N−1 each), then E.
std::vector<torch::Tensor> backward(const torch::Tensor& grad_spikes, const torch::Tensor& u,
                                    const std::vector<torch::Tensor>& params, const torch::Tensor& checkpoints,
                                    int64_t channels, int64_t spatial, double threshold, double scale,
                                    double surrogate_width, bool through_integrator, int64_t block, int64_t tile,
                                    bool need_grad_u, bool need_param_grads) {
  check_layout(u, params, channels, tile);
  TORCH_CHECK(block > 0, "block must be positive");
  TORCH_CHECK(grad_spikes.sizes() == u.sizes() && grad_spikes.is_contiguous() &&
                  grad_spikes.scalar_type() == u.scalar_type(),
              "grad_spikes must be contiguous and match u");
  const int64_t modes = params[0].size(1), columns = u.size(1);
  const int64_t blocks = block_count(u.size(0), block);
  TORCH_CHECK(checkpoints.dim() == 3 && checkpoints.size(0) == blocks && checkpoints.size(1) == 2 * modes + 1 &&
                  checkpoints.size(2) == columns && checkpoints.is_contiguous(),
              "checkpoints do not match u");
  auto grad_u = need_grad_u ? torch::empty_like(u) : torch::empty({0}, u.options());
  auto sums = need_param_grads ? torch::zeros({4 * modes + 1, columns}, u.options().dtype(torch::kFloat64))
                               : torch::empty({0}, u.options().dtype(torch::kFloat64));
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "pmsn_fused_backward", [&] {
    // fires_at_threshold is irrelevant here: the recompute produces no spikes.
    const Problem<scalar_t> pb(u, params, channels, spatial, block, tile,
                               {scalar_t(threshold), scalar_t(scale), scalar_t(surrogate_width), scalar_t(1)});
    const bool carry = through_integrator;
    const scalar_t* gs_ptr = grad_spikes.data_ptr<scalar_t>();
    const scalar_t* ckpt_ptr = checkpoints.data_ptr<scalar_t>();
    scalar_t* gu_ptr = need_grad_u ? grad_u.data_ptr<scalar_t>() : nullptr;
    double* sums_ptr = need_param_grads ? sums.data_ptr<double>() : nullptr;
    at::parallel_for(0, pb.tiles(), 1, [&](int64_t tile_begin, int64_t tile_end) {
      BackwardScratch<scalar_t> scratch(pb.stride, modes, block);
      for (int64_t index = tile_begin; index < tile_end; ++index) {
        const int64_t first = index * tile;
        backward_tile(pb, first, std::min(tile, columns - first), scratch, gs_ptr, ckpt_ptr, carry, gu_ptr, sums_ptr);
      }
      stream_fence();
    });
  });
  return {grad_u, sums};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Fused CPU forward/backward sweep of the PMSN neuron (pmsn.ops.fused_cpu)";
  m.def("forward", &forward, "PMSN fused forward: (spikes, checkpoints)");
  m.def("backward", &backward, "PMSN fused backward: (grad_u, float64 column sums for the parameter gradients)");
}
