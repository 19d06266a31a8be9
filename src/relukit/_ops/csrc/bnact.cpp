// relukit.nn.BatchNormAct with relu / relu6 in training, inside a relukit.sparse.SparseStorage: torch's
// BatchNorm and activation ops behind one C++ autograd node that keeps the BN output z (and the per-channel
// weight, bias and 1/std), so that an eager call costs one C++ call each way, as torch's own modules do.
// The caller declares y = relu(z) (relukit.sparse.derive): the next layer's save of y is recomputed from z.
//
// Backward is the Python autograd.Function's (relukit/batchnorm_act.py), op for op: dz from torch's own
// activation backward read from z, then torch's native_batch_norm_backward given beta as the mean and
// 1 / gamma as the inverse deviation, so that its x_hat is (z - beta) / gamma.
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/csrc/autograd/variable.h>

#include "eager.h"

namespace relukit {
namespace {

using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

struct BatchNormReluBackward : public torch::autograd::Node {
  SavedVariable z, weight, bias, invstd;
  bool relu6 = false;
  double eps = 0.0;

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    const at::Tensor z_ = z.unpack(), w = weight.unpack(), b = bias.unpack(), inv = invstd.unpack();
    const at::Tensor grad_z = relu6 ? at::hardtanh_backward(grads[0], z_, 0.0, 6.0)
                                    : at::threshold_backward(grads[0], z_, 0);
    at::Tensor mean, inverse_deviation, scale;
    if (w.defined()) {  // torch's x_hat = (z - mean) * inverse_deviation, dx = scale * inverse_deviation * (...)
      mean = b, inverse_deviation = w.reciprocal(), scale = w * w * inv;
    } else {  // gamma = 1, beta = 0
      mean = at::zeros_like(inv), inverse_deviation = at::ones_like(inv), scale = inv;
    }
    const std::array<bool, 3> mask = {should_compute_output(0), w.defined() && should_compute_output(1),
                                      b.defined() && should_compute_output(2)};
    auto [dx, dw, db] = at::native_batch_norm_backward(grad_z, z_, scale, std::nullopt, std::nullopt, mean,
                                                       inverse_deviation, true, eps, mask);
    return {dx, dw, db};
  }
  void release_variables() override {
    z.reset_data(), weight.reset_data(), bias.reset_data(), invstd.reset_data();
  }
  std::string name() const override { return "BatchNormReluBackward"; }
};

bool needs_grad(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined() && t->requires_grad(); }

}  // namespace

// (y, z) for a plain eager call (eager.h) on a float32 / float64 CPU input that autograd records, with a
// non-zero weight; None otherwise (the caller's full path runs, and raises its own errors).
pybind11::object try_batch_norm_relu(pybind11::handle input, const std::optional<at::Tensor>& weight,
                                     const std::optional<at::Tensor>& bias,
                                     const std::optional<at::Tensor>& running_mean,
                                     const std::optional<at::Tensor>& running_var, double momentum, double eps,
                                     bool relu6, bool function_modes_checked) {
  if (!plain_eager_call(input, function_modes_checked)) return pybind11::none();
  const at::Tensor& x = THPVariable_Unpack(input.ptr());
  const auto dtype = x.scalar_type();
  if (!x.is_cpu() || (dtype != at::kFloat && dtype != at::kDouble) || !at::GradMode::is_enabled()) {
    return pybind11::none();
  }
  if (!(x.requires_grad() || needs_grad(weight) || needs_grad(bias))) return pybind11::none();
  const at::Tensor w = weight.value_or(at::Tensor()), b = bias.value_or(at::Tensor());
  if (w.defined() && (!w.is_cpu() || !at::all(w).item<bool>())) return pybind11::none();  // 0: x_hat is lost
  at::Tensor z, invstd, y;
  {
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // as torch's own kernels (running statistics:
                                                          // updated in place, versions unchanged, as torch's)
    std::tie(z, std::ignore, invstd) = at::native_batch_norm(x, w, b, running_mean, running_var, true, momentum, eps);
    y = relu6 ? at::hardtanh(z, 0.0, 6.0) : at::relu(z);  // torch's relu6 and relu
  }
  auto node = c10::make_intrusive<BatchNormReluBackward>();
  node->set_next_edges(torch::autograd::collect_next_edges(x, w, b));
  node->z = SavedVariable(z, false);
  node->weight = SavedVariable(w, false);
  node->bias = SavedVariable(b, false);
  node->invstd = SavedVariable(invstd, false);
  node->relu6 = relu6;
  node->eps = eps;
  torch::autograd::set_history(y, node);
  return pybind11::make_tuple(y, z);
}

}  // namespace relukit
