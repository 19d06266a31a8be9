// Mish on the CPU: one exponential per element and direction, float32 in and out, float64 inside.
//
//   mish(x)  = x t,                          t = n (n + 2) / (n (n + 2) + 2),  n = e^x   (Misra 2019)
//   mish'(x) = (w (w + 2) + 4 x u) / (w + 2)^2,  u = n (n + 1), w = n (n + 2) = u + n
//
// (relukit.formulas.mish / mish_derivative.) Evaluating in double after a float32 input leaves one
// rounding that matters, the final one to float32, so results are within 1 ulp of the float64 value
// (0.5 ulp measured, tests/test_mish.py), subnormal outputs included (no subnormal intermediate exists in
// double). e^x is a Cody-Waite reduction
// and a degree-8 minimax polynomial (relative error < 8e-13, far below float32's 6e-8). The math is written
// once, as templates over the lane type of lanes.h: packs of 2 x 4 doubles (AVX2 + FMA) and one double for
// the tails and other CPUs, rounding identically (tests/test_mish.py compares them bit for bit).
//
// Large |x|: the exponent's argument is clamped to [-200, 40]; past 40, t is 1 in double and mish' is 1;
// below -200, x e^x is far below float32's smallest subnormal and the clamped value rounds to -0 all the
// same. NaN passes through every step (comparisons keep it), so NaN in gives NaN out.
//
// Near the root of mish' (x ~ -1.19) the formula cancels: its absolute error (~1e-12, from the exp) is a
// tenth of a float32 ulp of the result only beyond ~3e-4 of the root (mish' ~ 0.27 (x - root) there).
// There the derivative is the catalog's series about the root (relukit.formulas._MISH_ROOT_SERIES), whose
// coefficients arrive at run time with the root and the window (`constants` = [root_hi, root_lo, window,
// c_1, c_2, ...]), so none is restated here; the window is 2^-10 (relukit._ops.mish.SERIES_WINDOW), so 5
// terms suffice and most blocks skip the series.
//
// The ops (namespace relukit_native, a fragment: other sources of this extension add their own) write into
// an output the caller allocates (relukit._ops.allocator: huge pages for large blocks). Each element
// depends on its input only, so results do not depend on the thread count (at::parallel_for).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "lanes.h"
#include "mish.h"

namespace relukit {
namespace {

constexpr int64_t MISH_GRAIN = 16384;
constexpr int MAX_SERIES = 48;
constexpr double LOW = -200.0;  // e^LOW is a normal double; x e^x rounds to -0 in float32 below it
constexpr double HIGH = 40.0;   // beyond, n (n + 2) + 2 == n (n + 2) in double: t = 1

template <class L>
L clamp(L x, double low, double high) {
  // NaN fails both comparisons and is returned unchanged.
  return lanes::at_least(lanes::at_most(x, high), low);
}

// e^a for a in [LOW, HIGH] (or NaN): a = k ln2 + r, |r| <= ln2 / 2, e^a = 2^k e^r.
template <class L>
L exp_bounded(L a) {
  constexpr double log2e = 1.4426950408889634;
  constexpr double ln2_hi = 0.6931471803691238;  // 32 significant bits: k ln2_hi is exact
  constexpr double ln2_lo = 1.9082149292705877e-10;
  constexpr double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const L shifted = a * log2e + shifter;
  const L k = shifted - shifter;
  const L r = (a - k * ln2_hi) - k * ln2_lo;
  // degree 8, relative error < 8e-13 on |r| <= ln2 / 2 (the minimax fit of tests/test_mish.py; the degree-10
  // Taylor polynomial, 3e-13, costs two more FMAs); Horner, highest term first
  constexpr double coefficients[] = {0x1.a1a81baadea5cp-13, 0x1.6c18b34c9139cp-10, 0x1.111082af7146ap-7,
                                     0x1.55555405071bbp-5,  0x1.555555a081881p-3,  0x1.0000000087f84p-1,
                                     0x1.ffffffffd5644p-1,  0x1.ffffffffff7a5p-1};
  L p = L(0x1.9eda7f0109c90p-16);
  for (double c : coefficients) p = lanes::fma(p, r, c);
  return p * lanes::power_of_two(shifted);
}

struct Series {
  double root_hi, root_lo, window;
  int terms;
  double c[MAX_SERIES];  // c[j] multiplies d^(j + 1)
};

Series series_from(const std::vector<double>& constants) {
  TORCH_CHECK(constants.size() >= 4 && constants.size() - 3 <= MAX_SERIES,
              "relukit native mish: constants must be [root_hi, root_lo, window, c_1, ...], got ",
              constants.size(), " values");
  Series s{constants[0], constants[1], constants[2], int(constants.size() - 3), {}};
  for (int j = 0; j < s.terms; ++j) s.c[j] = constants[3 + j];
  return s;
}

template <class L>
L mish_value(L x) {
  const L n = exp_bounded(clamp(x, LOW, HIGH));
  const L w = n * (n + 2.0);
  const L xs = lanes::at_least(x, -1e10);  // -inf -> -0 (not -inf * 0); +inf, NaN stay
  return xs * (w / (w + 2.0));
}

constexpr int64_t BLOCK = 256;

template <class L>
L mish_derivative_formula(L x) {
  const L n = exp_bounded(clamp(x, LOW, HIGH));
  const L u = n * (n + 1.0);
  const L w = u + n;  // n (n + 2)
  const L w2 = w + 2.0;
  const L b = clamp(x, -1e10, 1e10);  // -inf -> -1e10: 4 b u is then tiny (mish' -> 0), not -inf
  return lanes::select(lanes::greater(x, HIGH), L(1.0), lanes::fma(w, w2, (4.0 * b) * u) / (w2 * w2));
}

inline double root_distance(double x, const Series& s) { return (x - s.root_hi) - s.root_lo; }

// The pack of lanes this build uses: 2 AVX2 registers (8 elements, 2 chains; 4 spill registers) or one double.
#if defined(RELUKIT_LANES)
using Pack = lanes::Lanes<2>;
#else
using Pack = double;
#endif
constexpr int64_t PACK = sizeof(Pack) / sizeof(double);

// grad * mish'(x) at [i, i + width of L): the formula, and the number of elements near the root (the root and
// the window are passed by value: held in registers, not reloaded after every store through `out`)
template <class L>
int gradient_at(const float* g, const float* xs, float* out, double root_hi, double root_lo, double window) {
  const L x = lanes::load(xs, L());
  const L d = (x - root_hi) - root_lo;
  lanes::store(out, lanes::load(g, L()) * mish_derivative_formula(x));
  return lanes::count(lanes::less(lanes::abs(d), window));
}

// grad * mish'(x) for one block of up to BLOCK elements: the formula in packs, which also count the
// elements near the root; those (rare: the window is ~1e-3 wide) are redone with the series.
void mish_gradient_block(const float* g, const float* xs, float* out, int64_t count, const Series& s) {
  const double root_hi = s.root_hi, root_lo = s.root_lo, window = s.window;
  int near_count = 0;
  int64_t i = 0;
  for (; i + PACK <= count; i += PACK) {
    near_count += gradient_at<Pack>(g + i, xs + i, out + i, root_hi, root_lo, window);
  }
  for (; i < count; ++i) near_count += gradient_at<double>(g + i, xs + i, out + i, root_hi, root_lo, window);
  if (near_count == 0) return;
  for (i = 0; i < count; ++i) {
    const double d = root_distance(xs[i], s);
    if (!((d < 0 ? -d : d) < s.window) || d == 0.0) continue;
    double series = 0.0;
    for (int j = s.terms - 1; j >= 0; --j) series = (series + s.c[j]) * d;
    out[i] = float(double(g[i]) * series);
  }
}

void check(const at::Tensor& t, const at::Tensor& out, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat, "relukit native mish: ", name,
              " must be a float32 CPU tensor, got ", t.scalar_type(), " on ", t.device());
  TORCH_CHECK(t.is_non_overlapping_and_dense() && out.sizes() == t.sizes() && out.strides() == t.strides() &&
                  out.scalar_type() == at::kFloat,
              "relukit native mish: ", name, " and out must be dense float32 tensors of one layout");
}

}  // namespace

void mish_forward_into(const at::Tensor& x, const at::Tensor& out) {
  check(x, out, "x");
  const float* in = x.const_data_ptr<float>();
  float* result = out.mutable_data_ptr<float>();
  at::parallel_for(0, x.numel(), MISH_GRAIN, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + PACK <= end; i += PACK) lanes::store(result + i, mish_value(lanes::load(in + i, Pack())));
    for (; i < end; ++i) result[i] = float(mish_value(double(in[i])));
  });
}

void mish_backward_into(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& out,
                        const std::vector<double>& constants) {
  check(x, out, "x");
  TORCH_CHECK(grad.scalar_type() == at::kFloat && grad.sizes() == x.sizes() && grad.strides() == x.strides(),
              "relukit native mish: grad must be float32 with x's shape and strides");
  const Series s = series_from(constants);
  const float* g = grad.const_data_ptr<float>();
  const float* in = x.const_data_ptr<float>();
  float* result = out.mutable_data_ptr<float>();
  at::parallel_for(0, x.numel(), MISH_GRAIN, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i += BLOCK) {
      mish_gradient_block(g + i, in + i, result + i, std::min(BLOCK, end - i), s);
    }
  });
}

}  // namespace relukit

TORCH_LIBRARY_FRAGMENT(relukit_native, m) {
  m.def("mish_forward_into(Tensor x, Tensor(a!) out) -> ()");
  m.def("mish_backward_into(Tensor grad, Tensor x, Tensor(a!) out, float[] constants) -> ()");
}

TORCH_LIBRARY_IMPL(relukit_native, CPU, m) {
  m.impl("mish_forward_into", &relukit::mish_forward_into);
  m.impl("mish_backward_into", &relukit::mish_backward_into);
}
