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
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/python.h>

#include <cmath>
#include <cstdint>
#include <array>
#include <cstring>
#include <deque>
#include <mutex>
#include <type_traits>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <vector>

namespace relukit {

template <typename T, typename A>
inline A rk_round(A v) {
  if constexpr (std::is_same_v<T, A>) {
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

}  // namespace relukit

#include "generated.h"
#include "unit_stats.h"

namespace relukit {

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

// Blocks of BLOCK elements: the codes first (so that an in-place y may overwrite x after), then the
// values; both loops are branch-free and vectorised (`omp simd`: each iteration touches its own element).
// The constants are copied into a local array so that the compiler knows the stores cannot change them.
template <typename K, typename T, typename A>
void forward_loop(const T* x, T* y, uint8_t* packed, int64_t n, const A* constants) {
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
  const int64_t bytes_per_block = BLOCK * K::bits / 8;
  at::parallel_for(0, blocks, GRAIN, [&](int64_t begin, int64_t end) {
    A c[MAX_CONSTANTS];
    for (int i = 0; i < MAX_CONSTANTS; ++i) c[i] = constants[i];
    alignas(64) Lane<A> wide[BLOCK];
    alignas(64) uint8_t codes[BLOCK];
    for (int64_t block = begin; block < end; ++block) {
      const int64_t start = block * BLOCK;
      const int64_t count = std::min(BLOCK, n - start);
      const T* xs = x + start;
      T* ys = y + start;
      if (packed != nullptr) {
        uint8_t* out = packed + block * bytes_per_block;
        if (count == BLOCK) {
#pragma omp simd
          for (int64_t j = 0; j < BLOCK; ++j) wide[j] = Lane<A>(K::template code<T, A>(A(xs[j]), c));
          if constexpr (K::bits == 1) {
            pack_lanes(wide, out);
          } else {
#pragma omp simd
            for (int64_t j = 0; j < BLOCK; ++j) codes[j] = uint8_t(wide[j]);
            pack_full<K::bits>(codes, out);
          }
        } else {
          for (int64_t j = 0; j < count; ++j) codes[j] = uint8_t(K::template code<T, A>(A(xs[j]), c));
          pack_block(codes, count, K::bits, out);
        }
      }
#pragma omp simd
      for (int64_t j = 0; j < count; ++j) ys[j] = static_cast<T>(K::template value<T, A>(A(xs[j]), c));
    }
  });
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

// Codes of one block, one per byte: 1-bit codes through a table of 8 bytes per packed byte, others by shifts.
static const std::array<uint64_t, 256> EXPAND_BITS = [] {
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

// grad * levels[code]; codes flagged in `zero` give 0 (not grad * 0, which would keep NaN and -0.0).
template <int BITS, typename T, typename A>
void backward_loop(const T* grad, const uint8_t* packed, T* out, int64_t n, const A* table, const bool* zero) {
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
  const int64_t blocks = (n + BLOCK - 1) / BLOCK;
  constexpr int64_t bytes_per_block = BLOCK * BITS / 8;
  at::parallel_for(0, blocks, GRAIN, [&](int64_t begin, int64_t end) {
    A bound[256];
    for (int i = 0; i < count_boundaries; ++i) bound[i] = static_cast<A>(static_cast<T>(boundaries[i]));
    alignas(64) Lane<A> wide[BLOCK];
    alignas(64) uint8_t codes[BLOCK];
    for (int64_t block = begin; block < end; ++block) {
      const int64_t start = block * BLOCK;
      const int64_t count = std::min(BLOCK, n - start);
      const T* xs = x + start;
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
        codes[j] = uint8_t(v != v ? Lane<A>(count_boundaries) : wide[j]);
      }
      uint8_t* out = packed + block * bytes_per_block;
      if (count == BLOCK) {
        pack_full<BITS>(codes, out);
      } else {
        pack_block(codes, count, BITS, out);
      }
    }
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

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Table {
  std::vector<double> levels;
  std::vector<bool> zero;
  int64_t bits;
};

// grad * levels[code] as a function of grad (linear): its own backward is itself, so double backward works.
struct LeanBackward : public torch::autograd::Function<LeanBackward> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& packed,
                            std::vector<double> levels, int64_t zero, int64_t bits) {
    ctx->save_for_backward({packed});
    ctx->saved_data["levels"] = levels;
    ctx->saved_data["zero"] = zero;
    ctx->saved_data["bits"] = bits;
    return backward_kernel(grad, packed, levels, zero, bits);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

at::Tensor apply_backward(const at::Tensor& grad, const at::Tensor& packed, const std::vector<double>& levels,
                          int64_t zero, int64_t bits) {
  if (at::GradMode::is_enabled() && grad.requires_grad()) {
    return LeanBackward::apply(grad, packed, levels, zero, bits);
  }
  return backward_kernel(grad, packed, levels, zero, bits);
}

variable_list LeanBackward::backward(AutogradContext* ctx, variable_list grads) {
  const auto packed = ctx->get_saved_variables()[0];
  const auto levels = ctx->saved_data["levels"].toDoubleVector();
  const int64_t zero = ctx->saved_data["zero"].toInt();
  if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  return {apply_backward(grads[0], packed, levels, zero, ctx->saved_data["bits"].toInt()), at::Tensor(),
          at::Tensor(), at::Tensor(), at::Tensor()};
}

// Calls registered once (a member's variant, constants and backward table), then named by an index: the
// hot path passes one integer. A deque keeps references valid while it grows.
struct Registered {
  int64_t variant;
  std::vector<double> constants, levels;
  int64_t zero;
};
std::deque<Registered> registered;
std::mutex registered_mutex;

int64_t register_call(int64_t variant, std::vector<double> constants, std::vector<double> levels, int64_t zero) {
  variant_bits(variant);  // checks the variant
  std::lock_guard<std::mutex> guard(registered_mutex);
  registered.push_back({variant, std::move(constants), std::move(levels), zero});
  return static_cast<int64_t>(registered.size()) - 1;
}

const Registered& lookup(int64_t handle) {
  std::lock_guard<std::mutex> guard(registered_mutex);
  TORCH_CHECK(handle >= 0 && handle < static_cast<int64_t>(registered.size()), "relukit native: unknown call ", handle);
  return registered[handle];
}

// y = member(x) saving only the packed codes; `inplace` writes y into x (mark_dirty, as torch's relu_).
struct Lean : public torch::autograd::Function<Lean> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t handle, bool inplace) {
    const Registered& call = lookup(handle);
    auto [y, packed] = forward_kernel(x, call.variant, call.constants, inplace, true);
    ctx->save_for_backward({packed});
    ctx->saved_data["handle"] = handle;
    ctx->set_materialize_grads(false);
    if (inplace) ctx->mark_dirty({x});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list result(3);
    if (!grads[0].defined()) return result;
    const Registered& call = lookup(ctx->saved_data["handle"].toInt());
    const auto packed = ctx->get_saved_variables()[0];
    result[0] = apply_backward(grads[0], packed, call.levels, call.zero, variant_bits(call.variant));
    return result;
  }
};

// The out-of-place hot path: torch's own pattern for generated backward nodes (a Node with one saved
// variable, set_history on the output) instead of the generic custom-Function machinery, which costs a
// few microseconds per call. In-place calls keep `Lean` (mark_dirty rebases x's history as torch's relu_).
struct LeanBackwardNode : public torch::autograd::Node {
  torch::autograd::SavedVariable packed;
  int64_t handle = 0;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    const Registered& call = lookup(handle);
    const auto codes = packed.unpack();
    return {apply_backward(grads[0], codes, call.levels, call.zero, variant_bits(call.variant))};
  }
  void release_variables() override { packed.reset_data(); }
  std::string name() const override { return "LeanBackward"; }
};

at::Tensor lean(const at::Tensor& x, int64_t handle, bool inplace) {
  if (inplace || !at::GradMode::is_enabled() || !x.requires_grad()) return Lean::apply(x, handle, inplace);
  const Registered& call = lookup(handle);
  auto [y, packed] = forward_kernel(x.detach(), call.variant, call.constants, false, true);
  auto node = c10::make_intrusive<LeanBackwardNode>();
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  node->packed = torch::autograd::SavedVariable(packed, false);
  node->handle = handle;
  torch::autograd::set_history(y, node);
  return y;
}

at::Tensor values(const at::Tensor& x, int64_t variant, const std::vector<double>& constants, bool inplace) {
  return std::get<0>(forward_kernel(x, variant, constants, inplace, false));
}

}  // namespace relukit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "relukit native CPU kernels (generated from the catalog)";
  m.def("register_call", &relukit::register_call, "remembers a call's arguments; returns its handle");
  m.def("lean", &relukit::lean, "y with autograd saving packed codes (a registered call)");
  m.def("values", &relukit::values, "y only (no codes)");
  m.def("forward", &relukit::forward_kernel, "(y, packed)");
  m.def("backward", &relukit::backward_kernel, "grad * levels[code]");
  m.def("bucket_codes", &relukit::bucket_codes, "packed few-bit codes: boundaries below x");
  m.def("variant_bits", &relukit::variant_bits, "bits of a variant's codes");
  m.def("unit_stats", &relukit::unit_stats, "DeadUnitMonitor's per-unit sums in one pass (in place)");
}
