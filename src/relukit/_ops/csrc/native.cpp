// relukit's native CPU autograd: the lean forward saving only packed codes, its backward, and the Python
// bindings. The kernels themselves are in kernels.cpp (blocks.h: what both files share).

#include <ATen/PythonTorchFunctionTLS.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/core/impl/TorchDispatchModeTLS.h>
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/python.h>

#include <deque>
#include <mutex>

#include "blocks.h"
#include "eager.h"
#include "mish.h"
#include "unit_stats.h"

namespace relukit {

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
  at::Tensor y, packed;
  {
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // as torch's own kernels: no x.detach() copy
    std::tie(y, packed) = forward_kernel(x, call.variant, call.constants, false, true);
  }
  auto node = c10::make_intrusive<LeanBackwardNode>();
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  node->packed = torch::autograd::SavedVariable(packed, false);
  node->handle = handle;
  torch::autograd::set_history(y, node);
  return y;
}

// relukit._ops.piecewise.native_eager's conditions past the tensor's own (eager.h).
bool plain_eager_call(pybind11::handle input, bool function_modes_checked) {
  if (!THPVariable_CheckExact(input.ptr())) return false;
  const auto included = c10::impl::tls_local_dispatch_key_set().included_;  // functorch transforms add these
  const bool transforms = included.has(c10::DispatchKey::FuncTorchDynamicLayerFrontMode) ||
                          included.has(c10::DispatchKey::FuncTorchDynamicLayerBackMode);
  const bool function_modes = !function_modes_checked && at::impl::torch_function_mode_enabled();
  return !(function_modes || c10::impl::TorchDispatchModeTLS::stack_len() > 0 ||
           transforms || torch::jit::tracer::isTracing());
}

// The eager hot path's test and call in one (relukit.functional, after its Dynamo test): for a plain CPU
// tensor of a native dtype in a plain eager call, y with autograd saving the codes where autograd records,
// else y alone (the values kernel: what torch's op gives, nothing saved); None where a condition fails or
// for an in-place call that autograd does not record (torch's in-place op bumps x's version counter), and
// the caller takes its full path.
pybind11::object try_lean(pybind11::handle input, int64_t handle, bool inplace) {
  if (!plain_eager_call(input)) return pybind11::none();
  const at::Tensor& x = THPVariable_Unpack(input.ptr());
  const auto dtype = x.scalar_type();
  const bool native_dtype = dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf || dtype == at::kBFloat16;
  if (!x.is_cpu() || !native_dtype) return pybind11::none();
  if (x.requires_grad() && at::GradMode::is_enabled()) return pybind11::cast(lean(x, handle, inplace));
  if (inplace) return pybind11::none();
  const Registered& call = lookup(handle);
  return pybind11::cast(std::get<0>(forward_kernel(x, call.variant, call.constants, false, false)));
}

// Mish's eager route (relukit._ops.mish.try_native): mish.cpp's kernels behind a C++ backward node saving
// x, as torch's own mish does, so that a call costs one C++ call each way. mish_setup passes, once, the
// series constants of the backward kernel and the differentiable backward (Python, the catalog's
// derivative) that a create_graph backward runs instead of the kernel.
struct MishSetup {
  std::vector<double> constants;
  pybind11::object differentiable;
};
const MishSetup* mish_state = nullptr;  // set once, never freed (no Python object dies after the interpreter)

void mish_setup(std::vector<double> constants, pybind11::object differentiable) {
  if (mish_state == nullptr) mish_state = new MishSetup{std::move(constants), std::move(differentiable)};
}

struct MishBackwardNode : public torch::autograd::Node {
  torch::autograd::SavedVariable x;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    const at::Tensor input = x.unpack();
    if (at::GradMode::is_enabled()) {  // create_graph: differentiable torch ops, so double backward works
      pybind11::gil_scoped_acquire gil;
      return {mish_state->differentiable(grads[0], input).cast<at::Tensor>()};
    }
    at::Tensor grad = grads[0];
    if (grad.strides() != input.strides()) grad = at::empty_like(input).copy_(grad);  // x's memory order
    at::Tensor out = at::empty_like(input);
    mish_backward_into(grad, input, out, mish_state->constants);
    return {out};
  }
  void release_variables() override { x.reset_data(); }
  std::string name() const override { return "NativeMishBackward"; }
};

// mish(x) for a dense float32 CPU tensor of at least min_numel elements in a plain eager call, recorded
// by autograd where it records; None otherwise (the caller's full path runs).
pybind11::object try_mish(pybind11::handle input, int64_t min_numel) {
  if (mish_state == nullptr || !plain_eager_call(input)) return pybind11::none();
  const at::Tensor& x = THPVariable_Unpack(input.ptr());
  if (x.scalar_type() != at::kFloat || !x.is_cpu() || x.numel() < min_numel ||
      !x.is_non_overlapping_and_dense()) {
    return pybind11::none();
  }
  at::Tensor y = at::empty_like(x);
  mish_forward_into(x, y);
  if (at::GradMode::is_enabled() && x.requires_grad()) {
    auto node = c10::make_intrusive<MishBackwardNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    node->x = torch::autograd::SavedVariable(x, false);
    torch::autograd::set_history(y, node);
  }
  return pybind11::cast(y);
}

// A call's arguments after the input as a dictionary key: (args, their types, kwargs items, their types).
// Types ride along because True == 1 hashes alike, and only one of them passes relukit's checks. A null
// key (Python error cleared) where an argument is unhashable: the caller takes its full path.
static PyObject* new_call_key(PyObject* args, PyObject* kwargs) {
  const Py_ssize_t n = PyTuple_GET_SIZE(args);
  const Py_ssize_t k = kwargs == nullptr ? 0 : PyDict_GET_SIZE(kwargs);
  PyObject* key = PyTuple_New(4);
  PyObject* rest = PyTuple_New(n > 0 ? n - 1 : 0);
  PyObject* rest_types = PyTuple_New(n > 0 ? n - 1 : 0);
  PyObject* items = PyTuple_New(k);
  PyObject* item_types = PyTuple_New(k);
  PyTuple_SET_ITEM(key, 0, rest);
  PyTuple_SET_ITEM(key, 1, rest_types);
  PyTuple_SET_ITEM(key, 2, items);
  PyTuple_SET_ITEM(key, 3, item_types);
  for (Py_ssize_t i = 1; i < n; ++i) {
    PyObject* value = PyTuple_GET_ITEM(args, i);
    Py_INCREF(value);
    PyTuple_SET_ITEM(rest, i - 1, value);
    Py_INCREF(Py_TYPE(value));
    PyTuple_SET_ITEM(rest_types, i - 1, reinterpret_cast<PyObject*>(Py_TYPE(value)));
  }
  Py_ssize_t position = 0, i = 0;
  PyObject *name, *value;
  while (kwargs != nullptr && PyDict_Next(kwargs, &position, &name, &value)) {
    PyTuple_SET_ITEM(items, i, PyTuple_Pack(2, name, value));
    Py_INCREF(Py_TYPE(value));
    PyTuple_SET_ITEM(item_types, i++, reinterpret_cast<PyObject*>(Py_TYPE(value)));
  }
  if (PyObject_Hash(key) == -1) {
    PyErr_Clear();
    Py_DECREF(key);
    return nullptr;
  }
  return key;
}

pybind11::object call_key(pybind11::tuple args, pybind11::dict kwargs) {
  PyObject* key = new_call_key(args.ptr(), kwargs.ptr());
  return key == nullptr ? pybind11::none() : pybind11::reinterpret_steal<pybind11::object>(key);
}

// The eager hot path of a relukit.functional member for arguments it has checked before:
// known_call(calls, args, kwargs), where calls maps call_key(args, kwargs) to (handle, inplace); try_lean's
// result, or None (the caller's full path runs). A plain CPython function (METH_FASTCALL), not a pybind11
// one: its argument conversion would cost as much as the rest of the call.
PyObject* known_call(PyObject*, PyObject* const* argv, Py_ssize_t argc) {
  if (argc != 3 || !PyDict_Check(argv[0]) || !PyTuple_Check(argv[1]) || !PyDict_Check(argv[2])) {
    PyErr_SetString(PyExc_TypeError, "known_call(calls: dict, args: tuple, kwargs: dict)");
    return nullptr;
  }
  PyObject* args = argv[1];
  if (PyTuple_GET_SIZE(args) == 0) Py_RETURN_NONE;
  PyObject* key = new_call_key(args, argv[2]);
  if (key == nullptr) Py_RETURN_NONE;
  PyObject* known = PyDict_GetItem(argv[0], key);  // borrowed; no exception set
  Py_DECREF(key);
  if (known == nullptr) Py_RETURN_NONE;
  const int64_t handle = PyLong_AsLongLong(PyTuple_GET_ITEM(known, 0));
  const bool inplace = PyTuple_GET_ITEM(known, 1) == Py_True;
  HANDLE_TH_ERRORS  // torch's errors become the Python exceptions torch's own bindings raise
  return try_lean(PyTuple_GET_ITEM(args, 0), handle, inplace).release().ptr();
  END_HANDLE_TH_ERRORS
}

PyMethodDef known_call_method = {"known_call", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&known_call)),
                                 METH_FASTCALL, "try_lean with (handle, inplace) remembered under call_key"};

at::Tensor values(const at::Tensor& x, int64_t variant, const std::vector<double>& constants, bool inplace) {
  return std::get<0>(forward_kernel(x, variant, constants, inplace, false));
}

}  // namespace relukit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "relukit native CPU kernels (generated from the catalog)";
  m.def("register_call", &relukit::register_call, "remembers a call's arguments; returns its handle");
  m.def("lean", &relukit::lean, "y with autograd saving packed codes (a registered call)");
  m.def("try_lean", &relukit::try_lean, "lean(x, handle, inplace) where the eager hot path applies, else None");
  m.def("call_key", &relukit::call_key, "a call's arguments after the input as a key, None if unhashable");
  m.add_object("known_call", pybind11::reinterpret_steal<pybind11::object>(PyCFunction_New(&relukit::known_call_method, nullptr)));
  m.def("mish_setup", &relukit::mish_setup, "series constants and differentiable backward of try_mish (once)");
  m.def("try_mish", &relukit::try_mish, "mish(x, min_numel) with a native backward node where it applies, else None");
  m.def("try_batch_norm_relu", &relukit::try_batch_norm_relu, "(y, z) of BatchNormAct relu / relu6 keeping z, or None");
  m.def("values", &relukit::values, "y only (no codes)");
  m.def("forward", &relukit::forward_kernel, "(y, packed)");
  m.def("backward", &relukit::backward_kernel, "grad * levels[code]");
  m.def("bucket_codes", &relukit::bucket_codes, "packed few-bit codes: boundaries below x");
  m.def("variant_bits", &relukit::variant_bits, "bits of a variant's codes");
  m.def("unit_stats", &relukit::unit_stats, "DeadUnitMonitor's per-unit sums in one pass (in place)");
}
