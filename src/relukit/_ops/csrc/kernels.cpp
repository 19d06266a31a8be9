// relukit's native CPU kernels: one pass per direction for the piecewise-linear members.
//
// forward:  reads x once, writes y and the packed derivative codes (bits per element: 1, 2, 4 or 8;
//           element i sits at bits `bits * (i % per_byte)` of byte `i / per_byte`, relukit._ops.packing's
//           layout; padding bits are zero).
// backward: reads grad and the codes, writes grad_input = grad * levels[code], where a level whose bit
//           is set in `zero` gives 0 whatever grad is (torch's threshold/hardtanh backward "select" a zero).
//
// The element expressions (`value`, `code`) come from the catalog: relukit._ops.native generates one
// struct per formula template into "generated.h" and compiles this file beside it. Constants arrive at
// run time (`c`), so one template serves every parameter value of the same shape. Arithmetic is done in
// `A` (float for fp32/fp16/bf16, double for fp64) and rounded to the I/O type after every operation,
// as torch does when it evaluates a formula op by op.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include "blocks.h"
#include "generated.h"

namespace relukit {

// The block-loop skeleton of the forward and bucket kernels: body(local, scratch, block, start, count) for
// every BLOCK-element block of n, the blocks split over torch's threads. `prepare()` runs once per task and
// returns what the body reads (constants copied into the task's own array, so that the compiler knows the
// stores cannot change them); each task has its own lane and code buffers.
template <typename A>
struct Scratch {
  alignas(64) Lane<A> wide[BLOCK];
  alignas(64) uint8_t codes[BLOCK];
};

template <typename A, typename Prepare, typename Body>
void each_block(int64_t n, Prepare prepare, Body body) {
  at::parallel_for(0, (n + BLOCK - 1) / BLOCK, GRAIN, [&](int64_t begin, int64_t end) {
    const auto local = prepare();
    Scratch<A> scratch;
    for (int64_t block = begin; block < end; ++block) {
      const int64_t start = block * BLOCK;
      body(local, scratch, block, start, std::min(BLOCK, n - start));
    }
  });
}

// A block's codes, one per byte, into its packed bytes (whole blocks by the fast path).
template <int BITS>
inline void pack_codes(const uint8_t* codes, int64_t count, uint8_t* out) {
  if (count == BLOCK) {
    pack_full<BITS>(codes, out);
  } else {
    pack_block(codes, count, BITS, out);
  }
}

// Blocks of BLOCK elements: the codes first (so that an in-place y may overwrite x after), then the
// values; both loops are branch-free and vectorised (`omp simd`: each iteration touches its own element).
template <typename K, typename T, typename A>
void forward_blocks(const T* x, T* y, uint8_t* packed, int64_t n, const A* constants) {
  constexpr int64_t bytes_per_block = BLOCK * K::bits / 8;
  const auto prepare = [constants] {
    std::array<A, MAX_CONSTANTS> c;
    for (int i = 0; i < MAX_CONSTANTS; ++i) c[i] = constants[i];
    return c;
  };
  each_block<A>(n, prepare, [&](const std::array<A, MAX_CONSTANTS>& constants_copy, Scratch<A>& scratch,
                                int64_t block, int64_t start, int64_t count) {
    const A* c = constants_copy.data();
    const T* xs = x + start;
    T* ys = y + start;
    if (packed != nullptr) {
      uint8_t* out = packed + block * bytes_per_block;
      bool packed_already = false;  // 1-bit lanes go straight to bits (movemask)
      if (count == BLOCK) {  // codes in lanes as wide as A (vectorised), then packed
#pragma omp simd
        for (int64_t j = 0; j < BLOCK; ++j) scratch.wide[j] = Lane<A>(K::template code<T, A>(A(xs[j]), c));
        if constexpr (K::bits == 1) {
          pack_lanes(scratch.wide, out);
          packed_already = true;
        } else {
#pragma omp simd
          for (int64_t j = 0; j < BLOCK; ++j) scratch.codes[j] = uint8_t(scratch.wide[j]);
        }
      } else {
        for (int64_t j = 0; j < count; ++j) scratch.codes[j] = uint8_t(K::template code<T, A>(A(xs[j]), c));
      }
      if (!packed_already) pack_codes<K::bits>(scratch.codes, count, out);
    }
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) ys[j] = static_cast<T>(K::template value<T, A>(A(xs[j]), c));
  });
}

#if defined(__AVX2__)
typedef float f32x8 __attribute__((vector_size(32)));

// fp32 with 1-bit codes: one pass over 8-float vectors. GCC's vector types take the generated expressions
// unchanged (comparisons give lane masks, ?: selects lane by lane, the same IEEE operations as the scalar
// loop), so values and codes are bit for bit the scalar loop's. A block's 64 codes are its 8 movemasks,
// stored as one word; an in-place y overwrites only the 8 floats just read.
template <typename K>
void forward_vectors(const float* x, float* y, uint8_t* packed, int64_t blocks, const float* constants) {
  at::parallel_for(0, blocks, GRAIN, [=](int64_t begin, int64_t end) {
    // local copies: the captures live in the lambda object, which a store through y could alias, so
    // the compiler would reload them after every store
    const float* __restrict in = x;
    float* __restrict out = y;
    uint8_t* __restrict codes = packed;
    f32x8 c[MAX_CONSTANTS];
    for (int i = 0; i < MAX_CONSTANTS; ++i) c[i] = f32x8{} + constants[i];
    for (int64_t block = begin; block < end; ++block) {
      const int64_t start = block * BLOCK;
      uint64_t word = 0;
      for (int k = 0; k < BLOCK / 8; ++k) {
        f32x8 v;
        std::memcpy(&v, in + start + 8 * k, sizeof v);
        const auto mask = K::mask(v, c);
        const f32x8 value = K::template value<float, f32x8>(v, c);
        std::memcpy(out + start + 8 * k, &value, sizeof value);
        word |= uint64_t(uint32_t(_mm256_movemask_ps((__m256)mask))) << (8 * k);
      }
      std::memcpy(codes + block * (BLOCK / 8), &word, sizeof word);
    }
  });
}
#endif

template <typename K, typename T, typename A>
void forward_loop(const T* x, T* y, uint8_t* packed, int64_t n, const A* constants) {
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float> && std::is_same_v<A, float> && K::has_mask) {
    if (packed != nullptr) {
      const int64_t full = n / BLOCK, done = full * BLOCK;
      forward_vectors<K>(x, y, packed, full, constants);
      if (done < n) forward_blocks<K, T, A>(x + done, y + done, packed + full * (BLOCK / 8), n - done, constants);
      return;
    }
  }
#endif
  forward_blocks<K, T, A>(x, y, packed, n, constants);
}

template <typename K>
void forward_typed(const at::Tensor& x, at::Tensor& y, uint8_t* packed, const std::vector<double>& constants) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relukit_native_forward", [&] {
    using A = at::opmath_type<scalar_t>;
    TORCH_CHECK(constants.size() <= MAX_CONSTANTS, "relukit native: too many constants");
    A c[MAX_CONSTANTS] = {};
    for (size_t i = 0; i < constants.size(); ++i) c[i] = static_cast<A>(constants[i]);
    forward_loop<K, scalar_t, A>(x.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(), packed, x.numel(), c);
  });
}

#define RELUKIT_BITS_CASE(index, K) \
  case index:                        \
    return K::bits;
int variant_bits(int64_t variant) {
  switch (variant) { RELUKIT_VARIANTS(RELUKIT_BITS_CASE) }
  TORCH_CHECK(false, "relukit native: unknown variant ", variant);
}

#define RELUKIT_FORWARD_CASE(index, K)                  \
  case index:                                           \
    forward_typed<K>(x, y, packed, constants);          \
    return;
void forward_variant(int64_t variant, const at::Tensor& x, at::Tensor& y, uint8_t* packed,
                     const std::vector<double>& constants) {
  switch (variant) { RELUKIT_VARIANTS(RELUKIT_FORWARD_CASE) }
  TORCH_CHECK(false, "relukit native: unknown variant ", variant);
}

// grad * levels[code]; codes flagged in `zero` give 0 (not grad * 0, which would keep NaN and -0.0).
template <int BITS, typename T, typename A>
void backward_blocks(const T* grad, const uint8_t* packed, T* out, int64_t n, const A* table, const bool* zero) {
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
  at::parallel_for(0, blocks, GRAIN, [&](int64_t begin, int64_t end) {
    constexpr int levels_count = 1 << BITS;
    A levels[levels_count];
    Lane<A> keep[levels_count];  // all ones where the product is kept, 0 where the code gives 0
    for (int i = 0; i < levels_count; ++i) levels[i] = table[i], keep[i] = zero[i] ? 0 : ~Lane<A>(0);
    alignas(64) uint8_t codes[BLOCK + 8];
    alignas(64) Lane<A> wide[BLOCK];
    for (int64_t block = begin; block < end; ++block) {
      const int64_t start = block * BLOCK;
      const int64_t count = std::min(BLOCK, n - start);
      unpack_block<BITS>(packed + start * BITS / 8, count, codes);
#pragma omp simd
      for (int64_t j = 0; j < count; ++j) wide[j] = codes[j];
      const T* g = grad + start;
      T* o = out + start;
      if constexpr (BITS == 1) {
        const A s0 = levels[0], s1 = levels[1];
        const bool z0 = zero[0], z1 = zero[1];
#pragma omp simd
        for (int64_t j = 0; j < count; ++j) {
          const A gj = A(g[j]);
          const A low = z0 ? A(0) : gj * s0;
          const A high = z1 ? A(0) : gj * s1;
          o[j] = static_cast<T>(wide[j] ? high : low);
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < count; ++j) {
          const A product = A(g[j]) * levels[wide[j]];
          o[j] = static_cast<T>(keep[wide[j]] ? product : A(0));
        }
      }
    }
  });
}

#if defined(__AVX2__)
// fp32 with 1-bit codes: 8 floats at a time, each lane's code bit tested in place (byte & 2^lane), the
// same products and choice as the scalar loop. Whole blocks only; the caller runs the tail.
void backward_vectors(const float* grad, const uint8_t* packed, float* out, int64_t blocks, const float* table,
                      const bool* zero) {
  at::parallel_for(0, blocks, GRAIN, [=](int64_t begin, int64_t end) {
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256 s0 = _mm256_set1_ps(table[0]), s1 = _mm256_set1_ps(table[1]);
    const __m256 keep0 = _mm256_castsi256_ps(_mm256_set1_epi32(zero[0] ? 0 : -1));
    const __m256 keep1 = _mm256_castsi256_ps(_mm256_set1_epi32(zero[1] ? 0 : -1));
    for (int64_t block = begin; block < end; ++block) {
      for (int k = 0; k < BLOCK / 8; ++k) {
        const int64_t at = block * BLOCK + 8 * k;
        const __m256i byte = _mm256_set1_epi32(packed[block * (BLOCK / 8) + k]);
        const __m256 high = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(byte, lane_bit), lane_bit));
        const __m256 g = _mm256_loadu_ps(grad + at);
        const __m256 low_value = _mm256_and_ps(_mm256_mul_ps(g, s0), keep0);
        const __m256 high_value = _mm256_and_ps(_mm256_mul_ps(g, s1), keep1);
        _mm256_storeu_ps(out + at, _mm256_blendv_ps(low_value, high_value, high));
      }
    }
  });
}
#endif

template <int BITS, typename T, typename A>
void backward_loop(const T* grad, const uint8_t* packed, T* out, int64_t n, const A* table, const bool* zero) {
#if defined(__AVX2__)
  if constexpr (BITS == 1 && std::is_same_v<T, float> && std::is_same_v<A, float>) {
    const int64_t full = n / BLOCK, done = full * BLOCK;
    backward_vectors(grad, packed, out, full, table, zero);
    if (done < n) backward_blocks<1, T, A>(grad + done, packed + full * (BLOCK / 8), out + done, n - done, table, zero);
    return;
  }
#endif
  backward_blocks<BITS, T, A>(grad, packed, out, n, table, zero);
}

template <typename T>
void backward_typed(const at::Tensor& grad, const at::Tensor& codes, at::Tensor& out, int bits,
                    const std::vector<double>& levels, const bool* zero) {
  using A = at::opmath_type<T>;
  A level[256];
  for (size_t i = 0; i < 256; ++i) level[i] = i < levels.size() ? static_cast<A>(levels[i]) : A(0);
  const T* g = grad.const_data_ptr<T>();
  const uint8_t* packed = codes.const_data_ptr<uint8_t>();
  T* o = out.mutable_data_ptr<T>();
  switch (bits) {
    case 1: return backward_loop<1, T, A>(g, packed, o, grad.numel(), level, zero);
    case 2: return backward_loop<2, T, A>(g, packed, o, grad.numel(), level, zero);
    case 3: return backward_loop<3, T, A>(g, packed, o, grad.numel(), level, zero);
    case 4: return backward_loop<4, T, A>(g, packed, o, grad.numel(), level, zero);
    default: return backward_loop<8, T, A>(g, packed, o, grad.numel(), level, zero);
  }
}

at::Tensor backward_kernel(const at::Tensor& grad_in, const at::Tensor& packed, const std::vector<double>& levels,
                           int64_t zero, int64_t bits) {
  TORCH_CHECK(grad_in.device().is_cpu() && packed.device().is_cpu(), "relukit native backward: CPU tensors only");
  TORCH_CHECK(bits >= 1 && bits <= 4 || bits == 8, "relukit native backward: bits must be 1..4 or 8");
  TORCH_CHECK(static_cast<int64_t>(levels.size()) == (int64_t{1} << bits) || (bits == 2 && levels.size() == 3),
              "relukit native backward: ", levels.size(), " levels for ", bits, " bits");
  const at::Tensor grad = grad_in.contiguous();
  at::Tensor out = at::empty_like(grad, at::MemoryFormat::Contiguous);
  TORCH_CHECK(packed.numel() * 8 >= grad.numel() * bits, "relukit native backward: too few packed codes");
  const at::Tensor codes = packed.contiguous();
  bool zero_flags[256] = {false};
  for (int i = 0; i < 64; ++i) zero_flags[i] = (zero >> i) & 1;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "relukit_native_backward", [&] {
    backward_typed<scalar_t>(grad, codes, out, static_cast<int>(bits), levels, zero_flags);
  });
  return out;
}

// Few-bit codes of a smooth member (relukit.fewbit): code = how many boundaries lie below x (x on a
// boundary takes the lower code, NaN the top one), as torch.bucketize over boundaries in x's dtype.
template <int BITS, typename T>
void bucket_loop(const T* x, uint8_t* packed, int64_t n, const std::vector<double>& boundaries) {
  using A = at::opmath_type<T>;
  const int count_boundaries = static_cast<int>(boundaries.size());
  constexpr int64_t bytes_per_block = BLOCK * BITS / 8;
  const auto prepare = [&] {
    std::array<A, 256> bound;
    for (int i = 0; i < count_boundaries; ++i) bound[i] = static_cast<A>(static_cast<T>(boundaries[i]));
    return bound;
  };
  each_block<A>(n, prepare, [&](const std::array<A, 256>& bound, Scratch<A>& scratch, int64_t block,
                                int64_t start, int64_t count) {
    const T* xs = x + start;
    Lane<A>* wide = scratch.wide;
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) wide[j] = 0;
    for (int i = 0; i < count_boundaries; ++i) {
      const A b = bound[i];
#pragma omp simd
      for (int64_t j = 0; j < count; ++j) wide[j] += Lane<A>(b < A(xs[j]));
    }
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) {
      const A v = A(xs[j]);
      scratch.codes[j] = uint8_t(v != v ? Lane<A>(count_boundaries) : wide[j]);
    }
    pack_codes<BITS>(scratch.codes, count, packed + block * bytes_per_block);
  });
}

at::Tensor bucket_codes(const at::Tensor& x_in, const std::vector<double>& boundaries, int64_t bits) {
  TORCH_CHECK(x_in.device().is_cpu(), "relukit native bucket_codes: CPU tensors only");
  TORCH_CHECK(bits >= 1 && bits <= 4 || bits == 8, "relukit native bucket_codes: bits 1..4 or 8");
  TORCH_CHECK(static_cast<int64_t>(boundaries.size()) < (int64_t{1} << bits), "relukit native: too many boundaries");
  const at::Tensor x = x_in.contiguous();
  at::Tensor packed = at::empty({(x.numel() * bits + 7) / 8}, x.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relukit_bucket_codes", [&] {
    const scalar_t* data = x.const_data_ptr<scalar_t>();
    uint8_t* out = packed.mutable_data_ptr<uint8_t>();
    switch (bits) {
      case 1: return bucket_loop<1, scalar_t>(data, out, x.numel(), boundaries);
      case 2: return bucket_loop<2, scalar_t>(data, out, x.numel(), boundaries);
      case 3: return bucket_loop<3, scalar_t>(data, out, x.numel(), boundaries);
      case 4: return bucket_loop<4, scalar_t>(data, out, x.numel(), boundaries);
      default: return bucket_loop<8, scalar_t>(data, out, x.numel(), boundaries);
    }
  });
  return packed;
}

// (y, packed): y into `x` itself when inplace (x contiguous), else a new tensor; packed empty if !codes.
std::tuple<at::Tensor, at::Tensor> forward_kernel(const at::Tensor& x_in, int64_t variant,
                                                  const std::vector<double>& constants, bool inplace, bool codes) {
  TORCH_CHECK(x_in.device().is_cpu(), "relukit native forward: CPU tensors only");
  const bool direct = x_in.is_contiguous();
  const at::Tensor x = direct ? x_in : x_in.contiguous();
  at::Tensor y = (inplace && direct) ? x_in : at::empty_like(x, at::MemoryFormat::Contiguous);
  const int bits = variant_bits(variant);
  at::Tensor packed;
  if (codes) {
    packed = at::empty({(x.numel() * bits + 7) / 8}, x.options().dtype(at::kByte));
    forward_variant(variant, x, y, packed.mutable_data_ptr<uint8_t>(), constants);
  } else {
    forward_variant(variant, x, y, nullptr, constants);
  }
  if (inplace && !direct) {
    x_in.copy_(y);
    y = x_in;
  }
  return {y, packed};
}

}  // namespace relukit
