// DeadUnitMonitor's per-unit sums in one pass (relukit.diagnostics.tally).
//
// y is viewed as (outer, units, inner): unit u owns y[o, u, i] for every o, i. For each unit the pass adds
//   positive[u] += #{y > 0}        (NaN is not positive, as `y > 0`)
//   abs_sum[u]  += sum |y|          (in double; a NaN makes the unit's sum NaN)
// and batch_dead += #{units with no positive element in this y}. positive, abs_sum and batch_dead are
// float64 CPU tensors updated in place. Units are split over threads; each unit's sums are private to the
// thread that owns it, so the result does not depend on the number of threads.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace relukit {

constexpr int64_t LANES = 8;  // independent float64 sums per unit: the compiler vectorizes across them

// Units [begin, end) of one (outer, units, inner) tensor, inner long enough to stream along. The compare is
// in T's op-math type (float for fp32/fp16/bf16), the sum of |y| in double.
template <typename T>
void unit_stats_rows(const T* y, int64_t outer, int64_t units, int64_t inner, int64_t begin, int64_t end,
                     int64_t* count, double* sum) {
  using A = at::opmath_type<T>;
  for (int64_t u = begin; u < end; ++u) {
    int64_t c = 0;
    double s[LANES] = {0.0};
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = y + (o * units + u) * inner;
      int64_t i = 0;
      for (; i + LANES <= inner; i += LANES) {
        for (int64_t k = 0; k < LANES; ++k) {
          const A v = static_cast<A>(row[i + k]);
          c += v > A(0);
          s[k] += std::fabs(static_cast<double>(v));
        }
      }
      for (; i < inner; ++i) {
        const A v = static_cast<A>(row[i]);
        c += v > A(0);
        s[0] += std::fabs(static_cast<double>(v));
      }
    }
    count[u] += c;
    for (int64_t k = 0; k < LANES; ++k) sum[u] += s[k];
  }
}

// Units [begin, end) when inner is short (a 2-D output's features: inner = 1): walk each outer row's
// contiguous block of units, each unit with its own sums.
template <typename T>
void unit_stats_columns(const T* y, int64_t outer, int64_t units, int64_t inner, int64_t begin, int64_t end,
                        int64_t* count, double* sum) {
  using A = at::opmath_type<T>;
  for (int64_t o = 0; o < outer; ++o) {
    const T* block = y + o * units * inner;
    for (int64_t u = begin; u < end; ++u) {
      for (int64_t i = 0; i < inner; ++i) {
        const A v = static_cast<A>(block[u * inner + i]);
        count[u] += v > A(0);
        sum[u] += std::fabs(static_cast<double>(v));
      }
    }
  }
}

inline void unit_stats(const at::Tensor& y_in, int64_t axis, at::Tensor& positive, at::Tensor& abs_sum,
                       at::Tensor& batch_dead) {
  TORCH_CHECK(y_in.device().is_cpu() && positive.device().is_cpu(), "relukit unit_stats: CPU tensors only");
  TORCH_CHECK(positive.scalar_type() == at::kDouble && abs_sum.scalar_type() == at::kDouble &&
                  batch_dead.scalar_type() == at::kDouble,
              "relukit unit_stats: float64 accumulators expected");
  TORCH_CHECK(0 <= axis && axis < y_in.dim(), "relukit unit_stats: axis ", axis, " out of range");
  const at::Tensor y = y_in.contiguous();
  const int64_t units = y.size(axis);
  TORCH_CHECK(positive.is_contiguous() && abs_sum.is_contiguous() && positive.numel() == units &&
                  abs_sum.numel() == units && batch_dead.numel() == 1,
              "relukit unit_stats: accumulators must hold one value per unit");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= y.size(d);
  for (int64_t d = axis + 1; d < y.dim(); ++d) inner *= y.size(d);
  std::vector<int64_t> count(units, 0);
  std::vector<double> sum(units, 0.0);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, outer * inner));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "relukit_unit_stats", [&] {
    const scalar_t* data = y.const_data_ptr<scalar_t>();
    at::parallel_for(0, units, grain, [&](int64_t begin, int64_t end) {
      if (inner >= LANES) {
        unit_stats_rows(data, outer, units, inner, begin, end, count.data(), sum.data());
      } else {
        unit_stats_columns(data, outer, units, inner, begin, end, count.data(), sum.data());
      }
    });
  });
  double* positive_data = positive.data_ptr<double>();
  double* abs_data = abs_sum.data_ptr<double>();
  int64_t dead = 0;
  for (int64_t u = 0; u < units; ++u) {
    positive_data[u] += static_cast<double>(count[u]);
    abs_data[u] += sum[u];
    dead += count[u] == 0;
  }
  *batch_dead.data_ptr<double>() += static_cast<double>(dead);
}

}  // namespace relukit
