// Helpers shared by the fused CPU kernels, pmsn_cpu.cpp (PMSN, docs/kernels.md §3) and leaky_cpu.cpp
// (LIF/PLIF/TC-LIF, docs/kernels.md §4): tiling and blocking arithmetic, row prefetch, 64-byte vectors,
// the layout check, the spike step and the surrogate derivatives of pmsn.surrogate.
//
// Everything here has internal linkage (an anonymous namespace), as it had inside each kernel file: each kernel
// is its own extension module, compiled with its own flags (leaky_cpu.cpp with -ffp-contract=off, docs/kernels.md
// §5), so one module's copy of a helper must never be bound to another module's when both are loaded. The code
// is compiled with the flags of the file that includes it; the arithmetic here is in the order each kernel had
// before it moved (bit-identical results).
//
// Hot-loop rules (docs/kernels.md §5): no std::min/max/abs/floor/exp and no branches inside vectorised loops
// (ternaries only), NaN handled with selects rather than multiplications by 0.

#pragma once

#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace pmsn_kernels {
namespace {

// ------------------------------------------------------------------------------------------------ tiles, blocks
// Columns of [T, J] are processed in tiles of `tile` columns (docs/kernels.md §3.1, §4.1); state is checkpointed
// every `block` steps (docs/kernels.md §3.3).
inline int64_t tile_count(int64_t columns, int64_t tile) { return (columns + tile - 1) / tile; }

// Checkpointed blocks of `steps`; 0 when block <= 0 (inference: no checkpoints).
inline int64_t block_count(int64_t steps, int64_t block) { return block > 0 ? (steps + block - 1) / block : 0; }

// Tiles per parallel task: at least ~2^20 column-steps (about a millisecond of work), so that short sequences
// do not pay a thread hand-off that costs more than the sweep itself (docs/kernels.md §4.5, §7.5).
inline int64_t tile_grain(int64_t steps, int64_t tile) {
  const int64_t work = std::max<int64_t>(1, steps * tile);
  return std::max<int64_t>(1, (int64_t(1) << 20) / work);
}

// `tile` rounded up to whole vectors of `lanes` (per-tile rows are this far apart; the padding is zero).
inline int64_t padded(int64_t tile, int64_t lanes) { return (tile + lanes - 1) / lanes * lanes; }

// One vector of kBytes bytes of scalar_t as a GCC/Clang vector extension (docs/kernels.md §3.4); by default 64
// bytes: one AVX-512 register, two AVX2 registers. kRegisterBytes is one register of the build's ISA.
#ifdef __AVX512F__
constexpr int kRegisterBytes = 64;
#else
constexpr int kRegisterBytes = 32;  // AVX2 (PMSN_CPU_ISA=avx2, docs/kernels.md §12.6); a NEON pair elsewhere
#endif

template <typename scalar_t, int kBytes = 64>
struct Lanes {
  typedef scalar_t vec __attribute__((vector_size(kBytes)));
  static constexpr int64_t count = kBytes / sizeof(scalar_t);
  static vec load(const scalar_t* p) {
    vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(scalar_t* p, const vec& v) { std::memcpy(p, &v, sizeof v); }
};

// ------------------------------------------------------------------------------------------------ memory
// Rows of a tile are J elements apart, out of the hardware prefetchers' reach: the sweeps fetch this many rows
// ahead explicitly (docs/kernels.md §3.4).
constexpr int64_t kPrefetchRows = 4;

// Prefetch the `width` elements of one row, one cache line (64 bytes) at a time.
template <typename scalar_t>
inline void prefetch_row(const scalar_t* row, int64_t width) {
  for (int64_t k = 0; k < width; k += 64 / sizeof(scalar_t)) __builtin_prefetch(row + k);
}

// x must be a contiguous CPU [T, J] tensor (the native time-first layout, docs/kernels.md §3.1).
inline void check_columns(const torch::Tensor& x, const char* name) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous() && x.device().is_cpu(), name, " must be a contiguous CPU [T, J] tensor");
}

// ------------------------------------------------------------------------------------------------ spikes
// Spike of a charged potential: 1 if z > 0, z == 0 gives `fires_at_threshold` (1 for Θ with ≥, 0 if strict;
// docs/neurons.md §1.2).
template <typename scalar_t>
inline scalar_t heaviside(scalar_t z, scalar_t fires_at_threshold) {
  return z > 0 ? scalar_t(1) : (z == 0 ? fires_at_threshold : scalar_t(0));
}

// ------------------------------------------------------------------------------------------------ surrogates
// Surrogate kinds of pmsn.surrogate, by position in SURROGATE_KINDS of pmsn/ops/fused_leaky.py.
enum SurrogateKind : int64_t { kTriangle = 0, kATan = 1, kSigmoid = 2, kRectangle = 3, kMultiGaussian = 4 };

template <typename scalar_t> struct ExpConstants;
template <> struct ExpConstants<double> {
  using bits_t = int64_t;
  static constexpr double lowest = -700.0, round_magic = 6755399441055744.0;  // 1.5·2^52
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr int mantissa_bits = 52, exponent_bias = 1023, degree = 12;
};
template <> struct ExpConstants<float> {
  using bits_t = int32_t;
  static constexpr float lowest = -87.0f, round_magic = 12582912.0f;  // 1.5·2^23
  static constexpr float ln2_hi = 6.93145752e-01f, ln2_lo = 1.42860677e-06f;
  static constexpr int mantissa_bits = 23, exponent_bias = 127, degree = 7;
};

// exp(x) for x ≤ 0 in plain arithmetic (vectorisable, unlike std::exp): x = n·ln2 + r with |r| ≤ ln2/2,
// e^r by its Taylor polynomial (relative error ≲ 2 ulp), 2^n built in the exponent bits. x below `lowest`
// is clamped (e^x < 1e-37 there: the surrogates using it are 0 to working precision, and no subnormal is
// ever returned; docs/kernels.md §4.4, §7.4).
template <typename scalar_t>
inline scalar_t exp_nonpositive(scalar_t x) {
  using C = ExpConstants<scalar_t>;
  using bits_t = typename C::bits_t;
  x = x < C::lowest ? C::lowest : x;
  const scalar_t shifted = x * scalar_t(1.4426950408889634) + C::round_magic;  // n in the low mantissa bits
  const scalar_t n = shifted - C::round_magic;
  const scalar_t r = (x - n * C::ln2_hi) - n * C::ln2_lo;
  scalar_t poly = scalar_t(1);
  for (int i = C::degree; i >= 1; --i) poly = scalar_t(1) + poly * (r * scalar_t(1.0 / i));
  bits_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  bits = (bits + C::exponent_bias) << C::mantissa_bits;  // the shift drops the magic's bits: 2^n
  scalar_t power;
  std::memcpy(&power, &bits, sizeof(power));
  return poly * power;
}

struct Surrogate {
  int64_t kind;
  std::vector<double> params;  // the dataclass fields of the surrogate, in declaration order
};

// out[i] = surrogate'(charged[i] − θ) for n contiguous values (formulas of pmsn.surrogate, docs/neurons.md §1.3;
// evaluated in C++ as in docs/kernels.md §4.4).
template <typename scalar_t>
void surrogate_derivative(const Surrogate& sg, const scalar_t* charged, scalar_t threshold, scalar_t* out,
                          int64_t n) {
  const auto param = [&](int i) { return scalar_t(sg.params[i]); };
  switch (sg.kind) {
    case kTriangle: {  // (γ − |x|)⁺ / γ²
      const scalar_t width = param(0), width_sq = param(0) * param(0);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t x = charged[i] - threshold;
        const scalar_t room = width - (x < 0 ? -x : x);
        out[i] = room <= 0 ? scalar_t(0) : room / width_sq;  // NaN stays NaN, like clamp_min
      }
      break;
    }
    case kATan: {  // α / (2·(1 + (π α x / 2)²))
      const scalar_t alpha = param(0), slope = scalar_t(M_PI / 2.0 * sg.params[0]);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t y = slope * (charged[i] - threshold);
        out[i] = alpha / (scalar_t(2) * (scalar_t(1) + y * y));
      }
      break;
    }
    case kSigmoid: {  // α·σ(αx)·(1 − σ(αx)) = α·e / (1 + e)², e = exp(−α|x|)
      const scalar_t alpha = param(0);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t x = charged[i] - threshold;
        const scalar_t e = exp_nonpositive<scalar_t>(-alpha * (x < 0 ? -x : x));
        const scalar_t one_plus = scalar_t(1) + e;
        out[i] = alpha * e / (one_plus * one_plus);
      }
      break;
    }
    case kRectangle: {  // 1/w inside |x| < w/2
      const scalar_t half = param(0) / scalar_t(2), height = scalar_t(1) / param(0);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t x = charged[i] - threshold;
        out[i] = (x < 0 ? -x : x) < half ? height : scalar_t(0);
      }
      break;
    }
    case kMultiGaussian: {  // scale·[(1+h)·N(x; 0, σ) − h·N(x; σ, sσ) − h·N(x; −σ, sσ)]
      const double sigma = sg.params[0], height = sg.params[1], wide = sg.params[2] * sg.params[0];
      const double root_two_pi = std::sqrt(2.0 * M_PI);
      const scalar_t mu = scalar_t(sigma);
      const scalar_t narrow_gain = scalar_t(sg.params[3] * (1.0 + height) / (root_two_pi * sigma));
      const scalar_t wide_gain = scalar_t(sg.params[3] * height / (root_two_pi * wide));
      const scalar_t narrow_rate = scalar_t(-0.5 / (sigma * sigma)), wide_rate = scalar_t(-0.5 / (wide * wide));
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t x = charged[i] - threshold;
        const scalar_t right = x - mu, left = x + mu;
        out[i] = narrow_gain * exp_nonpositive<scalar_t>(narrow_rate * x * x) -
                 wide_gain * (exp_nonpositive<scalar_t>(wide_rate * right * right) +
                              exp_nonpositive<scalar_t>(wide_rate * left * left));
      }
      break;
    }
    default:
      TORCH_CHECK(false, "unknown surrogate kind ", sg.kind);
  }
}

}  // namespace
}  // namespace pmsn_kernels
