// Sparse storage of saved ReLU-family outputs (relukit.sparse): a tensor t of n elements is kept as
//
//   mask   = bits(t) != 0, 1 bit per element (element i at bit i % 8 of byte i / 8, NumPy's
//            packbits(bitorder="little") layout; padding bits zero)
//   values = the non-zero elements in order
//
// and rebuilt bit for bit. Both directions take the tensor as its integer bit patterns (int16/int32/int64
// views of fp16/bf16, fp32, fp64), so -0.0 and NaN count as values, exactly as the Python path does.
//
// Parallel in chunks of mask words (at::parallel_for): a first pass gives each chunk's count of non-zeros
// (writing the mask on the way when packing), an exclusive prefix over the chunks gives each one the place
// of its first value, and a second pass copies the values (the set bits of each word, lowest first).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace relukit {
namespace {

constexpr int64_t WORD = 64;     // elements per mask word
constexpr int64_t CHUNK = 256;   // mask words per task (16384 elements)

// The mask word of 64 whole elements: bit j set where element j's bit pattern is not zero.
template <typename I>
inline uint64_t mask_word(const I* x) {
#if defined(__AVX2__)
  if constexpr (sizeof(I) == 4) {
    uint64_t m = 0;
    const __m256i zero = _mm256_setzero_si256();
    for (int b = 0; b < WORD / 8; ++b) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 8 * b));
      const int is_zero = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, zero)));
      m |= uint64_t(uint8_t(~is_zero)) << (8 * b);
    }
    return m;
  }
#endif
  uint64_t m = 0;
  for (int64_t j = 0; j < WORD; ++j) m |= uint64_t(x[j] != 0) << j;
  return m;
}

template <typename I>
inline uint64_t mask_word_partial(const I* x, int64_t count) {
  uint64_t m = 0;
  for (int64_t j = 0; j < count; ++j) m |= uint64_t(x[j] != 0) << j;
  return m;
}

// Word w of a packed mask of `bytes` bytes (the last word may be short).
inline uint64_t load_word(const uint8_t* mask, int64_t w, int64_t bytes) {
  uint64_t m = 0;
  std::memcpy(&m, mask + 8 * w, std::min<int64_t>(8, bytes - 8 * w));
  return m;
}

inline void store_word(uint8_t* mask, int64_t w, int64_t bytes, uint64_t m) {
  std::memcpy(mask + 8 * w, &m, std::min<int64_t>(8, bytes - 8 * w));
}

#if defined(__AVX2__)
// 8 x int32 lanes at a time (fp32's bit patterns): for a mask byte b, LEFT[b] lists the set lanes first (pack
// moves them together), SPREAD[b] gives lane j the rank of bit j among the set bits (unpack moves them back).
struct Lanes {
  alignas(32) int32_t left[256][8];
  alignas(32) int32_t spread[256][8];
  Lanes() {
    for (int b = 0; b < 256; ++b) {
      int k = 0;
      for (int j = 0; j < 8; ++j) left[b][j] = 0, spread[b][j] = 0;
      for (int j = 0; j < 8; ++j) {
        if (b >> j & 1) left[b][k] = j, spread[b][j] = k++;
      }
    }
  }
};
const Lanes LANES;

// The values of one mask word's 64 int32 elements, appended at v + position; `limit`: how far this task may
// write (the 8-lane store writes up to 7 lanes past the last value, which a later store or the limit covers).
inline int64_t compress_word(const int32_t* xs, uint64_t word, int32_t* v, int64_t position, int64_t limit) {
  for (int g = 0; g < WORD / 8; ++g) {
    const int b = int(word >> (8 * g) & 0xff);
    if (position + 8 <= limit) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs + 8 * g));
      const __m256i order = _mm256_load_si256(reinterpret_cast<const __m256i*>(LANES.left[b]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + position), _mm256_permutevar8x32_epi32(x, order));
    } else {
      for (int k = 0, bits = b; bits != 0; bits &= bits - 1, ++k) v[position + k] = xs[8 * g + __builtin_ctz(bits)];
    }
    position += __builtin_popcount(b);
  }
  return position;
}

// One mask word's 64 int32 elements rebuilt from the values at v + position (reads stay below `limit`).
inline int64_t expand_word(int32_t* os, uint64_t word, const int32_t* v, int64_t position, int64_t limit) {
  const __m256i select = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  for (int g = 0; g < WORD / 8; ++g) {
    const int b = int(word >> (8 * g) & 0xff);
    if (position + 8 <= limit) {
      const __m256i values = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + position));
      const __m256i order = _mm256_load_si256(reinterpret_cast<const __m256i*>(LANES.spread[b]));
      const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(b), select), select);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(os + 8 * g),
                          _mm256_and_si256(_mm256_permutevar8x32_epi32(values, order), set));
    } else {
      for (int j = 0; j < 8; ++j) os[8 * g + j] = 0;
      for (int k = 0, bits = b; bits != 0; bits &= bits - 1, ++k) os[8 * g + __builtin_ctz(bits)] = v[position + k];
    }
    position += __builtin_popcount(b);
  }
  return position;
}
#endif

// Exclusive prefix of per-chunk counts, in place: counts[c] becomes the index of chunk c's first value.
inline int64_t exclusive_prefix(std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (auto& c : counts) {
    const int64_t here = c;
    c = total;
    total += here;
  }
  return total;
}

template <typename I>
std::tuple<at::Tensor, at::Tensor, int64_t> pack_typed(const at::Tensor& bits, int64_t max_nnz) {
  const int64_t n = bits.numel();
  const int64_t words = (n + WORD - 1) / WORD;
  const int64_t bytes = (n + 7) / 8;
  const int64_t chunks = (words + CHUNK - 1) / CHUNK;
  const I* x = bits.const_data_ptr<I>();
  at::Tensor mask = at::empty({bytes}, bits.options().dtype(at::kByte));
  uint8_t* m = mask.mutable_data_ptr<uint8_t>();
  std::vector<int64_t> counts(chunks, 0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t count = 0;
      for (int64_t w = c * CHUNK; w < std::min(words, (c + 1) * CHUNK); ++w) {
        const int64_t start = w * WORD;
        const uint64_t word = start + WORD <= n ? mask_word(x + start) : mask_word_partial(x + start, n - start);
        store_word(m, w, bytes, word);
        count += __builtin_popcountll(word);
      }
      counts[c] = count;
    }
  });
  const int64_t nnz = exclusive_prefix(counts);
  if (nnz > max_nnz) return {mask, at::empty({0}, bits.options()), nnz};  // the caller keeps t dense
  counts.push_back(nnz);
  at::Tensor values = at::empty({nnz}, bits.options());
  I* v = values.mutable_data_ptr<I>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t position = counts[c];
      for (int64_t w = c * CHUNK; w < std::min(words, (c + 1) * CHUNK); ++w) {
        const I* xs = x + w * WORD;
        const uint64_t word = load_word(m, w, bytes);
#if defined(__AVX2__)
        if constexpr (sizeof(I) == 4) {
          if ((w + 1) * WORD <= n) {
            position = compress_word(reinterpret_cast<const int32_t*>(xs), word, reinterpret_cast<int32_t*>(v),
                                     position, counts[c + 1]);
            continue;
          }
        }
#endif
        for (uint64_t rest = word; rest != 0; rest &= rest - 1) v[position++] = xs[__builtin_ctzll(rest)];
      }
    }
  });
  return {mask, values, nnz};
}

template <typename I>
at::Tensor unpack_typed(const at::Tensor& mask, const at::Tensor& values, int64_t n) {
  const int64_t words = (n + WORD - 1) / WORD;
  const int64_t bytes = (n + 7) / 8;
  const int64_t chunks = (words + CHUNK - 1) / CHUNK;
  const uint8_t* m = mask.const_data_ptr<uint8_t>();
  const I* v = values.const_data_ptr<I>();
  std::vector<int64_t> counts(chunks, 0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t count = 0;
      for (int64_t w = c * CHUNK; w < std::min(words, (c + 1) * CHUNK); ++w) {
        count += __builtin_popcountll(load_word(m, w, bytes));
      }
      counts[c] = count;
    }
  });
  TORCH_CHECK(exclusive_prefix(counts) == values.numel(), "relukit sparse_unpack: the mask has ",
              "a different number of set bits than values has elements (", values.numel(), ")");
  counts.push_back(values.numel());
  at::Tensor out = at::empty({n}, values.options());
  I* o = out.mutable_data_ptr<I>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      int64_t position = counts[c];
      for (int64_t w = c * CHUNK; w < std::min(words, (c + 1) * CHUNK); ++w) {
        I* os = o + w * WORD;
        const uint64_t word = load_word(m, w, bytes);
#if defined(__AVX2__)
        if constexpr (sizeof(I) == 4) {
          if ((w + 1) * WORD <= n) {
            position = expand_word(reinterpret_cast<int32_t*>(os), word, reinterpret_cast<const int32_t*>(v),
                                   position, counts.back());
            continue;
          }
        }
#endif
        std::memset(os, 0, sizeof(I) * std::min(WORD, n - w * WORD));
        for (uint64_t rest = word; rest != 0; rest &= rest - 1) os[__builtin_ctzll(rest)] = v[position++];
      }
    }
  });
  return out;
}

#define RELUKIT_SPARSE_TYPES(CASE) \
  CASE(at::kByte, uint8_t)         \
  CASE(at::kShort, int16_t)        \
  CASE(at::kInt, int32_t)          \
  CASE(at::kLong, int64_t)

// (mask, values, nnz); values is empty when nnz > max_nnz (dense storage is smaller: nothing is compacted).
std::tuple<at::Tensor, at::Tensor, int64_t> sparse_pack(const at::Tensor& bits, int64_t max_nnz) {
  TORCH_CHECK(bits.device().is_cpu() && bits.is_contiguous(), "relukit sparse_pack: bits must be a contiguous ",
              "CPU tensor");
#define RELUKIT_PACK_CASE(type, I) \
  if (bits.scalar_type() == type) return pack_typed<I>(bits, max_nnz);
  RELUKIT_SPARSE_TYPES(RELUKIT_PACK_CASE)
  TORCH_CHECK(false, "relukit sparse_pack: bits must be uint8/int16/int32/int64, got ", bits.scalar_type());
}

at::Tensor sparse_unpack(const at::Tensor& mask, const at::Tensor& values, int64_t numel) {
  TORCH_CHECK(mask.device().is_cpu() && mask.is_contiguous() && mask.scalar_type() == at::kByte &&
                  mask.numel() == (numel + 7) / 8,
              "relukit sparse_unpack: mask must be a contiguous uint8 CPU tensor of (numel + 7) / 8 bytes");
  TORCH_CHECK(values.device().is_cpu() && values.is_contiguous(), "relukit sparse_unpack: values must be a ",
              "contiguous CPU tensor");
#define RELUKIT_UNPACK_CASE(type, I) \
  if (values.scalar_type() == type) return unpack_typed<I>(mask, values, numel);
  RELUKIT_SPARSE_TYPES(RELUKIT_UNPACK_CASE)
  TORCH_CHECK(false, "relukit sparse_unpack: values must be uint8/int16/int32/int64, got ", values.scalar_type());
}

}  // namespace
}  // namespace relukit

TORCH_LIBRARY_FRAGMENT(relukit_native, m) {
  m.def("sparse_pack(Tensor bits, int max_nnz) -> (Tensor, Tensor, int)");
  m.def("sparse_unpack(Tensor mask, Tensor values, int numel) -> Tensor");
}

TORCH_LIBRARY_IMPL(relukit_native, CPU, m) {
  m.impl("sparse_pack", &relukit::sparse_pack);
  m.impl("sparse_unpack", &relukit::sparse_unpack);
}
