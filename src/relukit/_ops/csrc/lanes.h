// Arithmetic written once for one double or for a pack of doubles.
//
// A kernel's math is a template over its lane type L: `double` (one element; the portable path and every
// loop's tail) or `Lanes<K>` (K AVX2 registers of 4 doubles, where the compiler targets AVX2 and FMA).
// Every operation maps one to one: `a * b` is one product, `fma(a, b, c)` one fused multiply-add (std::fma /
// vfmadd), `select(m, a, b)` is `m ? a : b` with NaN failing every comparison. So both paths round
// identically and give the same bits (tests compare them). Lanes<K> runs K independent dependency chains
// interleaved in program order: GCC's own vectorization of the scalar loop keeps one, and a long chain
// (a degree-10 polynomial, a division) then waits on latency.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define RELUKIT_LANES 1
#endif

namespace relukit {
namespace lanes {

// ---- one double ------------------------------------------------------------------------------------
inline double load(const float* p, double) { return *p; }
inline void store(float* p, double v) { *p = float(v); }
inline double fma(double a, double b, double c) { return std::fma(a, b, c); }
inline bool less(double a, double b) { return a < b; }
inline bool greater(double a, double b) { return a > b; }
inline double select(bool m, double a, double b) { return m ? a : b; }
inline double abs(double a) { return std::fabs(a); }
// x < low ? low : x and x > high ? high : x (NaN x stays): vmaxpd / vminpd with the bound first
inline double at_least(double x, double low) { return x < low ? low : x; }
inline double at_most(double x, double high) { return x > high ? high : x; }
inline int count(bool m) { return m; }
// 2^k for `shifted` = k + 1.5 * 2^52 (k an integer in [-1022, 1023]): its low bits hold k
inline double power_of_two(double shifted) {
  int64_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  const int64_t scale_bits = (bits + 1023) << 52;
  double scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  return scale;
}

#if defined(RELUKIT_LANES)
// ---- K x 4 doubles ---------------------------------------------------------------------------------
// Lanes<1> is one register; Lanes<K> two halves, so every value has a named member the compiler keeps in a
// register (an array member indexed in a loop is kept in memory and the pack runs ~3x slower).
template <int K>
struct Lanes {
  static constexpr int width = 4 * K;  // elements per pack
  Lanes<K / 2> lo, hi;
  Lanes() = default;
  Lanes(double s) : lo(s), hi(s) {}  // NOLINT: broadcasts, as a double constant would in the scalar code
  Lanes(Lanes<K / 2> l, Lanes<K / 2> h) : lo(l), hi(h) {}
};
template <>
struct Lanes<1> {
  static constexpr int width = 4;
  __m256d v;
  Lanes() = default;
  Lanes(double s) : v(_mm256_set1_pd(s)) {}  // NOLINT
  Lanes(__m256d r) : v(r) {}                 // NOLINT
};

// the operations, lane by lane: one intrinsic on one register, both halves on a pack
#define RELUKIT_BINARY(name, intrinsic)                                                          \
  inline Lanes<1> name(Lanes<1> a, Lanes<1> b) { return intrinsic(a.v, b.v); }                 \
  template <int K>                                                                              \
  Lanes<K> name(Lanes<K> a, Lanes<K> b) {                                                       \
    return {name(a.lo, b.lo), name(a.hi, b.hi)};                                                \
  }
RELUKIT_BINARY(operator+, _mm256_add_pd)
RELUKIT_BINARY(operator-, _mm256_sub_pd)
RELUKIT_BINARY(operator*, _mm256_mul_pd)
RELUKIT_BINARY(operator/, _mm256_div_pd)
inline __m256d lt(__m256d a, __m256d b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }  // false for NaN
inline __m256d gt(__m256d a, __m256d b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
RELUKIT_BINARY(less, lt)
RELUKIT_BINARY(greater, gt)
#undef RELUKIT_BINARY

inline Lanes<1> fma(Lanes<1> a, Lanes<1> b, Lanes<1> c) { return _mm256_fmadd_pd(a.v, b.v, c.v); }
template <int K> Lanes<K> fma(Lanes<K> a, Lanes<K> b, Lanes<K> c) { return {fma(a.lo, b.lo, c.lo), fma(a.hi, b.hi, c.hi)}; }
// m ? a : b, m from less / greater
inline Lanes<1> select(Lanes<1> m, Lanes<1> a, Lanes<1> b) { return _mm256_blendv_pd(b.v, a.v, m.v); }
template <int K> Lanes<K> select(Lanes<K> m, Lanes<K> a, Lanes<K> b) {
  return {select(m.lo, a.lo, b.lo), select(m.hi, a.hi, b.hi)};
}
inline Lanes<1> at_least(Lanes<1> x, Lanes<1> low) { return _mm256_max_pd(low.v, x.v); }
inline Lanes<1> at_most(Lanes<1> x, Lanes<1> high) { return _mm256_min_pd(high.v, x.v); }
template <int K> Lanes<K> at_least(Lanes<K> x, Lanes<K> low) { return {at_least(x.lo, low.lo), at_least(x.hi, low.hi)}; }
template <int K> Lanes<K> at_most(Lanes<K> x, Lanes<K> high) { return {at_most(x.lo, high.lo), at_most(x.hi, high.hi)}; }
template <int K> Lanes<K> at_least(Lanes<K> x, double low) { return at_least(x, Lanes<K>(low)); }
template <int K> Lanes<K> at_most(Lanes<K> x, double high) { return at_most(x, Lanes<K>(high)); }
inline Lanes<1> abs(Lanes<1> a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v); }
template <int K> Lanes<K> abs(Lanes<K> a) { return {abs(a.lo), abs(a.hi)}; }
inline Lanes<1> power_of_two(Lanes<1> shifted) {
  const __m256i k = _mm256_add_epi64(_mm256_castpd_si256(shifted.v), _mm256_set1_epi64x(1023));
  return _mm256_castsi256_pd(_mm256_slli_epi64(k, 52));
}
template <int K> Lanes<K> power_of_two(Lanes<K> shifted) { return {power_of_two(shifted.lo), power_of_two(shifted.hi)}; }

// mixed with a double constant, as the scalar code writes it
template <int K> Lanes<K> operator+(Lanes<K> a, double b) { return a + Lanes<K>(b); }
template <int K> Lanes<K> operator-(Lanes<K> a, double b) { return a - Lanes<K>(b); }
template <int K> Lanes<K> operator*(Lanes<K> a, double b) { return a * Lanes<K>(b); }
template <int K> Lanes<K> operator*(double a, Lanes<K> b) { return Lanes<K>(a) * b; }
template <int K> Lanes<K> fma(Lanes<K> a, Lanes<K> b, double c) { return fma(a, b, Lanes<K>(c)); }
template <int K> Lanes<K> less(Lanes<K> a, double b) { return less(a, Lanes<K>(b)); }
template <int K> Lanes<K> greater(Lanes<K> a, double b) { return greater(a, Lanes<K>(b)); }

// float32 memory <-> lanes; `count` is the number of true lanes of a mask
inline Lanes<1> load(const float* p, Lanes<1>) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
template <int K> Lanes<K> load(const float* p, Lanes<K>) {
  return {load(p, Lanes<K / 2>()), load(p + 2 * K, Lanes<K / 2>())};
}
inline void store(float* p, Lanes<1> a) { _mm_storeu_ps(p, _mm256_cvtpd_ps(a.v)); }
template <int K> void store(float* p, Lanes<K> a) {
  store(p, a.lo);
  store(p + 2 * K, a.hi);
}
inline int count(Lanes<1> m) { return __builtin_popcount(_mm256_movemask_pd(m.v)); }
template <int K> int count(Lanes<K> m) { return count(m.lo) + count(m.hi); }
#endif

}  // namespace lanes
}  // namespace relukit
