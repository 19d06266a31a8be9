// Mish's kernels (mish.cpp), for the eager autograd route in native.cpp.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace relukit {

// out = mish(x); x and out dense float32 CPU tensors of one layout.
void mish_forward_into(const at::Tensor& x, const at::Tensor& out);

// out = grad * mish'(x); constants = [root_hi, root_lo, window, c_1, ...] (relukit._ops.mish.series_constants).
void mish_backward_into(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& out,
                        const std::vector<double>& constants);

}  // namespace relukit
