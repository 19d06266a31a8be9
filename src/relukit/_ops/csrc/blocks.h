// relukit's native CPU kernels, what their files share: the packed-codes layout and its block helpers.
//
// Codes are packed `bits` per element (1, 2, 4 or 8: element i sits at bits `bits * (i % per_byte)` of byte
// `i / per_byte`; 3: eight codes in three bytes), relukit._ops.packing's layout; padding bits are zero.
// Work goes in blocks of BLOCK elements, split over threads by at::parallel_for (GRAIN blocks per task).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <vector>

namespace relukit {

template <typename T, typename A>
inline A rk_round(A v) {
  if constexpr (std::is_same_v<T, A> || !std::is_arithmetic_v<A>) {  // a vector A holds T lanes (kernels.cpp)
    return v;
  } else {
    return static_cast<A>(static_cast<T>(v));
  }
}

// NaN-propagating minimum/maximum (torch.minimum/maximum): a NaN operand wins; else std::min/max order.
template <typename A>
inline A rk_min(A a, A b) {
  return (a != a) ? a : ((b != b) ? b : (b < a ? b : a));
}
template <typename A>
inline A rk_max(A a, A b) {
  return (a != a) ? a : ((b != b) ? b : (a < b ? b : a));
}


constexpr int64_t BLOCK = 64;                // elements per packing block (8 bytes of 1-bit codes)
constexpr int64_t GRAIN = 32768 / BLOCK;     // blocks per thread task: torch's at::internal::GRAIN_SIZE
constexpr int MAX_CONSTANTS = 16;

// A partial (last) block, as a little-endian bit stream (the same layout as the whole blocks).
inline void pack_block(const uint8_t* codes, int64_t count, int bits, uint8_t* out) {
  std::memset(out, 0, (count * bits + 7) / 8);
  for (int64_t j = 0; j < count; ++j) {
    const int64_t position = j * bits;
    const uint32_t shifted = uint32_t(codes[j]) << (position % 8);
    out[position / 8] |= uint8_t(shifted);
    if ((position % 8) + bits > 8) out[position / 8 + 1] |= uint8_t(shifted >> 8);
  }
}

// A whole block: 1 bit per code by a multiply (eight 0/1 bytes -> bit 56 + i; the products never collide),
// else by shifts.
template <int BITS>
inline void pack_full(const uint8_t* codes, uint8_t* out) {
  if constexpr (BITS == 3) {  // eight codes in three bytes: a little-endian 24-bit word (relukit._ops.packing)
    for (int g = 0; g < BLOCK / 8; ++g) {
      uint32_t word = 0;
      for (int j = 0; j < 8; ++j) word |= uint32_t(codes[8 * g + j]) << (3 * j);
      out[3 * g] = uint8_t(word), out[3 * g + 1] = uint8_t(word >> 8), out[3 * g + 2] = uint8_t(word >> 16);
    }
  } else if constexpr (BITS == 1) {
    for (int b = 0; b < BLOCK / 8; ++b) {
      uint64_t word;
      std::memcpy(&word, codes + 8 * b, 8);
      out[b] = static_cast<uint8_t>((word * 0x0102040810204080ULL) >> 56);
    }
  } else {
    constexpr int per_byte = 8 / BITS;
    for (int b = 0; b < BLOCK / per_byte; ++b) {
      uint8_t packed = 0;
      for (int j = 0; j < per_byte; ++j) packed |= static_cast<uint8_t>(codes[b * per_byte + j] << (BITS * j));
      out[b] = packed;
    }
  }
}

// Codes and masks in lanes as wide as the arithmetic type: loops that mix uint8 codes with float values do
// not vectorise, loops over same-width lanes do (compare -> mask -> blend).
template <typename A>
using Lane = std::conditional_t<sizeof(A) == 8, uint64_t, uint32_t>;

// A whole block of 0/1 lanes into BLOCK / 8 bytes: AVX2's movemask where the compiler targets it (the
// vectoriser does not find it), else the byte path.
template <typename L>
inline void pack_lanes(const L* wide, uint8_t* out) {
#if defined(__AVX2__)
  for (int b = 0; b < BLOCK / 8; ++b) {
    const __m256i* p = reinterpret_cast<const __m256i*>(wide + 8 * b);
    if constexpr (sizeof(L) == 4) {
      const __m256i lanes = _mm256_slli_epi32(_mm256_load_si256(p), 31);
      out[b] = static_cast<uint8_t>(_mm256_movemask_ps(_mm256_castsi256_ps(lanes)));
    } else {
      const int low = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_load_si256(p), 63)));
      const int high = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_slli_epi64(_mm256_load_si256(p + 1), 63)));
      out[b] = static_cast<uint8_t>(low | (high << 4));
    }
  }
#else
  alignas(64) uint8_t codes[BLOCK];
  for (int64_t j = 0; j < BLOCK; ++j) codes[j] = uint8_t(wide[j]);
  pack_full<1>(codes, out);
#endif
}

// Codes of one block, one per byte: 1-bit codes through a table of 8 bytes per packed byte, others by shifts.
inline const std::array<uint64_t, 256> EXPAND_BITS = [] {
  std::array<uint64_t, 256> table{};
  for (int byte = 0; byte < 256; ++byte)
    for (int bit = 0; bit < 8; ++bit) table[byte] |= uint64_t((byte >> bit) & 1) << (8 * bit);
  return table;
}();

template <int BITS>
inline void unpack_block(const uint8_t* bytes, int64_t count, uint8_t* codes) {
  constexpr int per_byte = 8 / BITS;
  if constexpr (BITS == 1) {
    for (int64_t b = 0; b < (count + 7) / 8; ++b) std::memcpy(codes + 8 * b, &EXPAND_BITS[bytes[b]], 8);
  } else if constexpr (BITS == 3) {  // only the bytes of the block are read (the last one may be short)
    const int64_t available = (count * 3 + 7) / 8;
    for (int64_t j = 0; j < count; ++j) {
      const int64_t position = 3 * j;
      uint32_t word = bytes[position / 8];
      if (position / 8 + 1 < available) word |= uint32_t(bytes[position / 8 + 1]) << 8;
      codes[j] = (word >> (position % 8)) & 7;
    }
  } else {
    for (int64_t j = 0; j < count; ++j) codes[j] = (bytes[j / per_byte] >> (BITS * (j % per_byte))) & ((1 << BITS) - 1);
  }
}

// The kernels (kernels.cpp), called by the autograd functions and the Python bindings (native.cpp).
std::tuple<at::Tensor, at::Tensor> forward_kernel(const at::Tensor& x_in, int64_t variant,
                                                  const std::vector<double>& constants, bool inplace, bool codes);
at::Tensor backward_kernel(const at::Tensor& grad_in, const at::Tensor& packed, const std::vector<double>& levels,
                           int64_t zero, int64_t bits);
at::Tensor bucket_codes(const at::Tensor& x_in, const std::vector<double>& boundaries, int64_t bits);
int variant_bits(int64_t variant);

}  // namespace relukit
