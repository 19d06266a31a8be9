// What the eager entry points of this extension share (native.cpp, bnact.cpp).
#pragma once

#include <torch/python.h>

#include <optional>

namespace relukit {

// An eager call on a plain tensor: no torch-function or dispatch mode, functorch transform or TorchScript
// tracer would have to see the op; `function_modes_checked`: the caller knows that the torch-function
// modes on the stack need not (relukit's LeanMode, which takes only the ReLU family's calls).
bool plain_eager_call(pybind11::handle input, bool function_modes_checked = false);

// relukit.nn.BatchNormAct's training forward with relu / relu6 keeping the BN output z (bnact.cpp).
pybind11::object try_batch_norm_relu(pybind11::handle input, const std::optional<at::Tensor>& weight,
                                     const std::optional<at::Tensor>& bias,
                                     const std::optional<at::Tensor>& running_mean,
                                     const std::optional<at::Tensor>& running_var, double momentum, double eps,
                                     bool relu6, bool function_modes_checked);

}  // namespace relukit
