"""What ``relukit.lean(model)`` keeps for backward, decided from one traced forward of the model.

Each piecewise-linear activation module has two ways to be backed: relukit's lean op keeps 1-bit codes
(1/32 of a float32 tensor), torch's stock op keeps one whole tensor, its output (``ReLU``, and any member
with ``inplace=True``) or its input (the others). When that tensor is saved by another op anyway (the
convolution after a ReLU saves the same storage as its input), torch's copy costs nothing extra and the
codes would: the module then stays stock, and :class:`relukit.sparse.SparseStorage` keeps the shared
tensor as a mask plus its non-zeros. Otherwise the module runs lean. Which case holds is read from the
model's own call order in its first forward under autograd (module hooks and saved-tensor hooks), not
from the order of its children. Modules that forward does not reach stay stock ("unanalysed").

Patterns in the report:

* ``act -> saver (stock + sparse)``: the tensor the stock module saves is saved by another op too;
* ``act alone (1-bit codes)``: nothing else saves it; lean codes replace it;
* ``bn -> act``: found, not applied (``lean(model)`` without ``abn``);
* ``bn -> act (in-place activated BN)``: with ``abn=True``, a torch ``BatchNorm1d/2d/3d`` whose output
  only an invertible activation module takes (each called once) becomes one
  :class:`relukit.nn.BatchNormAct2d` (same parameters, buffers and ``state_dict`` keys) and the activation
  an ``nn.Identity``; stock bytes are BN's input plus the activation's saved tensor, lean bytes the output
  it keeps (shared with the next op when that op saves it too), plus for relu and relu6 the BN outputs
  they hide (1-bit mask and values, as traced; under sparse storage the BN output instead, and the next
  op's save of the output costs nothing). A relu / relu6 module called more than once (torchvision's
  BasicBlock) fuses for the call that took the BN output and stays for the others, wrapped in a
  :class:`relukit.batchnorm_act.SkipActivated`; such rows are named ``module#call``;
* ``unanalysed (stock)``: activation modules the traced forward did not call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary

from relukit import intercept
from relukit import nn as rnn
from relukit.batchnorm_act import SkipActivated
from relukit.sparse import SparseStorage

__all__ = ["LeanPlan", "Pattern"]


@dataclass
class Pattern:
    """One row of the report: how many modules, the bytes stock torch would save for them in the traced
    forward and the bytes saved as planned (codes, or the sparse share of the tensor)."""

    modules: list[str] = field(default_factory=list)
    stock_bytes: int = 0
    lean_bytes: int = 0
    count: int | None = None  # len(modules) unless given

    def as_dict(self) -> dict[str, Any]:
        count = len(self.modules) if self.count is None else self.count
        return {"count": count, "modules": self.modules, "stock_bytes": self.stock_bytes, "lean_bytes": self.lean_bytes}


def _stock_saves_output(module: nn.Module) -> bool:
    return rnn.activation_name(module) == "relu" or bool(getattr(module, "inplace", False))


class LeanPlan:
    """Forward hooks on a model: the sparse-storage context around every outermost forward, and on the
    first forward under autograd the trace that picks stock or lean for each converted activation module.

    ``converted`` maps qualified module names to the torch class each had before ``relukit.lean``.
    """

    def __init__(self, converted: dict[str, type[nn.Module]], sparse: bool = True, abn: bool = False) -> None:
        self.converted = dict(converted)
        self.sparse = sparse
        self.abn = abn
        self.traced = False
        self.patterns: dict[str, Pattern] = {}
        self._reset()

    def _reset(self) -> None:
        self.storage = SparseStorage() if self.sparse else None
        self._depth = 0
        self._trace: _Trace | None = None

    def __getstate__(self) -> dict[str, Any]:  # copy.deepcopy / torch.save of a model carrying the hooks
        return {key: getattr(self, key) for key in ("converted", "sparse", "abn", "traced", "patterns")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"abn": False} | state)
        self._reset()

    def attach(self, model: nn.Module) -> None:
        model.register_forward_pre_hook(self._enter)
        model.register_forward_hook(self._exit, always_call=True, prepend=True)

    def _enter(self, model: nn.Module, args: Any) -> None:
        if self._depth == 0 and intercept._stay_out():
            return  # torch.compile traces torch's ops; torch.func transforms take no saved-tensor hooks
        if self._depth == 0:
            if not self.traced and torch.is_grad_enabled():
                self._trace = _Trace(model, self.converted)
            if self.storage is not None:
                self.storage.on_saved = None if self._trace is None else self._trace.saved
                self.storage.__enter__()
            elif self._trace is not None:
                self._trace.hooks.__enter__()
        self._depth += 1

    def _exit(self, model: nn.Module, args: Any, output: Any) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth:
            return
        if self.storage is not None:
            self.storage.__exit__(None, None, None)
            self.storage.on_saved = None
        elif self._trace is not None:
            self._trace.hooks.__exit__(None, None, None)
        if self._trace is not None:
            trace = self._trace
            self.patterns = trace.finish(model, self.converted, output if self.abn else None, self.sparse)
            if self.storage is not None:  # less the fused pairs' outputs: derived from the BN output from now on
                tally, (dense, stored, count) = self.storage.tally, trace.derived
                self.patterns["sparse storage (saved ReLU-family outputs)"] = Pattern(
                    [], tally.dense_bytes - dense, tally.stored_bytes - stored, count=tally.sparse_tensors - count
                )
            self.traced, self._trace = True, None

    def report(self) -> dict[str, Any]:
        """Per pattern: count, module names, bytes stock vs lean in the traced forward (empty before it)."""
        return {"traced": self.traced, "sparse": self.sparse, "abn": self.abn,
                "patterns": {name: p.as_dict() for name, p in self.patterns.items()}}  # fmt: skip


class _Trace:
    """Records, during one forward, which tensors each activation module takes and returns, and which of
    them another op saves for backward."""

    def __init__(self, model: nn.Module, converted: dict[str, type[nn.Module]]) -> None:
        self.roles: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> [(module name, role, call)]
        self.saved_before: WeakIdKeyDictionary = WeakIdKeyDictionary()  # every tensor saved so far
        self.shared: set[tuple[str, str]] = set()
        self.shared_calls: set[tuple[str, str, int]] = set()  # as shared, per call of the module
        self.sizes: dict[str, tuple[int, int]] = {}  # module name -> (bytes, elements) of its outputs
        self.after_bn: dict[str, str] = {}  # activation module -> the BatchNorm whose output it took
        self.calls_after_bn: dict[str, list[str | None]] = {}  # per call of an activation module, that BatchNorm
        self.call_nodes: dict[str, list[Any]] = {}  # per call of an activation module, its output's grad_fn
        self.call_sizes: dict[str, list[tuple[int, int]]] = {}  # per call, (bytes, elements) of its output
        self.calls: dict[str, int] = {}  # module name -> calls in the traced forward
        self.nodes: dict[str, Any] = {}  # module name -> grad_fn of its output (BatchNorms, activations)
        self.bn_input_bytes: dict[str, int] = {}
        self.bn_hidden: dict[str, dict[str, int]] = {}  # BN name -> elements relu / relu6 would hide
        self.bn_outputs: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> BatchNorm name
        self.derived = (0, 0, 0)  # see _fuse
        self.wrap: dict[str, str] = {}  # see _fuse
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack_plain, lambda t: t)
        self.handles = []
        for name, module in model.named_modules():
            if name in converted:
                self.handles.append(module.register_forward_pre_hook(self._before(name)))
                self.handles.append(module.register_forward_hook(self._after(name)))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                self.handles.append(module.register_forward_hook(self._bn(name)))

    def _pack_plain(self, t: torch.Tensor) -> torch.Tensor:
        self.saved(t)
        return t

    def saved(self, t: torch.Tensor) -> None:
        for tensor in (t, t._base):
            if tensor is None:
                continue
            self.saved_before[tensor] = True
            for name, role, call in self.roles.get(tensor, ()):
                self.shared.add((name, role))
                self.shared_calls.add((name, role, call))

    def _bn(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor) and args and isinstance(args[0], torch.Tensor):
                self.bn_outputs[output] = name
                self.nodes[name] = output.grad_fn
                self.bn_input_bytes[name] = args[0].numel() * args[0].element_size()
                with torch.no_grad():
                    low, high = int((~(output > 0)).sum()), int((output >= 6).sum())
                self.bn_hidden[name] = {"relu": low, "relu6": low + high}

        return hook

    def _before(self, name: str):
        def hook(module: nn.Module, args: Any) -> None:
            if args and isinstance(args[0], torch.Tensor):
                x = args[0]
                if x in self.saved_before:
                    self.shared.add((name, "input"))
                bn = self.bn_outputs.get(x)
                if bn is not None:
                    self.after_bn[name] = bn
                self.calls_after_bn.setdefault(name, []).append(bn)
                self.roles.setdefault(x, []).append((name, "input", self.calls.get(name, 0)))

        return hook

    def _after(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                self.nodes[name] = output.grad_fn
                self.roles.setdefault(output, []).append((name, "output", self.calls[name] - 1))
                size, numel = self.sizes.get(name, (0, 0))
                here = (output.numel() * output.element_size(), output.numel())
                self.sizes[name] = (size + here[0], numel + here[1])
                self.call_nodes.setdefault(name, []).append(output.grad_fn)
                self.call_sizes.setdefault(name, []).append(here)

        return hook

    def finish(self, model: nn.Module, converted: dict, output: Any = None, sparse: bool = False) -> dict[str, Pattern]:
        """The patterns, with the modules each stays or becomes; ``output`` (the traced forward's) is
        given when BN -> act pairs are to be fused (``abn=True``); ``sparse``: under sparse storage."""
        for handle in self.handles:
            handle.remove()
        patterns = {key: Pattern() for key in ("act -> saver (stock + sparse)", "act alone (1-bit codes)",
                                               "bn -> act", "unanalysed (stock)")}  # fmt: skip
        if output is not None:
            patterns[ABN] = self._fuse(model, output, sparse)
        for name, stock_class in converted.items():
            if output is not None and name in patterns[ABN].modules:
                continue  # replaced by nn.Identity
            module = model.get_submodule(name)
            role = "output" if _stock_saves_output(module) else "input"
            size, numel = self.sizes.get(name, (0, 0))
            if name not in self.calls:
                key = "unanalysed (stock)"
            elif (name, role) in self.shared:
                key = "act -> saver (stock + sparse)"
            else:
                key = "act alone (1-bit codes)"
                patterns[key].lean_bytes += (numel + 7) // 8
            patterns[key].stock_bytes += size
            if key == "act -> saver (stock + sparse)":
                patterns[key].lean_bytes += size  # the shared tensor itself; see the sparse storage row
            if key != "act alone (1-bit codes)":
                keep_stock(module, stock_class)  # torch's own op: its saved tensor is shared or unknown
            patterns[key].modules.append(name)
            if name in self.after_bn and name not in self.wrap:
                patterns["bn -> act"].modules.append(name)
        for name, activation in self.wrap.items():
            _replace(model, name, SkipActivated(model.get_submodule(name), activation))
        return patterns

    def _fuse(self, model: nn.Module, output: Any, sparse: bool) -> Pattern:
        """Replaces each BN -> invertible activation pair whose BN output nothing else takes by a
        BatchNormAct (at the BN's name) and an nn.Identity (at the activation's); a relu / relu6 module
        called more than once fuses for the call that took BN's output and is wrapped (``self.wrap``)."""
        from relukit.batchnorm_act import PARTLY_INVERTIBLE, fuse

        consumers = _consumers(output)
        pattern = Pattern()
        for act_name, bns in self.calls_after_bn.items():
            calls = self.calls.get(act_name, 0)
            for call, bn_name in enumerate(bns):
                bn_node = self.nodes.get(bn_name)
                act_node = self.call_nodes.get(act_name, [None] * (call + 1))[call] if bn_name else None
                if bn_name is None or self.calls.get(bn_name) != 1 or bn_node is None or act_node is None:
                    continue
                if consumers.get(bn_node) != 1 or bn_node not in (edge[0] for edge in act_node.next_functions):
                    continue  # BN's output is taken elsewhere too, or the activation did not take it itself
                act = model.get_submodule(act_name)
                fused = fuse(model.get_submodule(bn_name), act)
                if fused is None or (calls != 1 and fused.activation not in PARTLY_INVERTIBLE):
                    continue  # only relu and relu6 are idempotent: a module's other calls may still run it
                _replace(model, bn_name, fused)
                size, numel = self.call_sizes[act_name][call]
                if calls == 1:
                    _replace(model, act_name, nn.Identity())
                    pattern.modules.append(act_name)
                else:
                    self.wrap[act_name] = fused.activation
                    pattern.modules.append(f"{act_name}#{call}")
                    total, total_numel = self.sizes[act_name]  # the other calls' outputs, for the report
                    self.sizes[act_name] = (total - size, total_numel - numel)
                pattern.stock_bytes += self.bn_input_bytes[bn_name] + size
                pattern.lean_bytes += size
                self._hidden_bytes(pattern, act_name, call, bn_name, fused.activation, sparse, (size, numel))
        return pattern

    def _hidden_bytes(self, pattern, act_name, call, bn_name, activation, sparse, sizes) -> None:  # noqa: ANN001
        """relu / relu6: without sparse storage the BN outputs they hide, compacted (or whole if not smaller);
        with it nothing (z is kept in y's place) and y's compacted copy the trace counted goes (``derived``)."""
        hidden = self.bn_hidden[bn_name].get(activation)
        if hidden is None:
            return
        size, numel = sizes
        itemsize = size // max(numel, 1)
        if sparse:
            low = self.bn_hidden[bn_name]["relu"]  # y's zeros
            stored = (numel + 7) // 8 + (numel - low) * itemsize
            if (act_name, "output", call) in self.shared_calls and stored < size:  # the trace compacted y
                self.derived = tuple(a + b for a, b in zip(self.derived, (size, stored, 1)))
        else:
            pattern.lean_bytes += min((numel + 7) // 8 + hidden * itemsize, size)


ABN = "bn -> act (in-place activated BN)"


def _consumers(output: Any) -> dict[Any, int]:
    """How many edges of the autograd graph behind ``output`` point at each node."""
    roots = [t.grad_fn for t in torch.utils._pytree.tree_leaves(output) if isinstance(t, torch.Tensor)]
    counts: dict[Any, int] = {}
    seen: set[Any] = set()
    stack = [node for node in roots if node is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for next_node, _ in node.next_functions:
            if next_node is not None:
                counts[next_node] = counts.get(next_node, 0) + 1
                stack.append(next_node)
    return counts


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, leaf, module)


def _stock_enter(module: nn.Module, args: Any) -> None:
    intercept.STOCK.depth = getattr(intercept.STOCK, "depth", 0) + 1


def _stock_exit(module: nn.Module, args: Any, output: Any) -> None:
    intercept.STOCK.depth -= 1


def keep_stock(module: nn.Module, stock_class: type[nn.Module]) -> None:
    """Gives ``module`` back torch's class, and keeps relukit's LeanMode off the calls of its forward."""
    if isinstance(module, SkipActivated):
        module = module.act
    module.__class__ = stock_class
    if _stock_enter not in module._forward_pre_hooks.values():
        module.register_forward_pre_hook(_stock_enter)
        module.register_forward_hook(_stock_exit, always_call=True)


def plan_of(model: nn.Module) -> LeanPlan | None:
    """The LeanPlan whose hooks are on ``model``, if any."""
    for hook in model._forward_pre_hooks.values():
        if isinstance(getattr(hook, "__self__", None), LeanPlan):
            return hook.__self__
    return None


def attach_plan(
    model: nn.Module,
    converted: dict[str, type[nn.Module]],
    example_inputs: tuple | None = None,
    *,
    sparse: bool = True,
    abn: bool = False,
) -> LeanPlan:
    """Puts a LeanPlan on ``model`` (once) and, given ``example_inputs``, traces it now: a forward under
    autograd whose buffer updates (BatchNorm's running statistics) and random draws are undone."""
    plan = plan_of(model)
    if plan is None:
        plan = LeanPlan(converted, sparse=sparse, abn=abn)
        plan.attach(model)
    elif plan.traced:  # lean(model) again: the modules the trace kept stock stay stock
        for key in ("act -> saver (stock + sparse)", "unanalysed (stock)"):
            for name in plan.patterns[key].modules:
                keep_stock(model.get_submodule(name), plan.converted[name])
    if example_inputs is not None and not plan.traced:
        if not isinstance(example_inputs, tuple):
            raise TypeError(f"lean: example_inputs must be a tuple of inputs, got {type(example_inputs).__name__}")
        buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        with torch.random.fork_rng(), torch.enable_grad():
            model(*example_inputs)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return plan


def print_report(report: dict[str, Any]) -> None:
    """The report as one table (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="relukit.lean" + ("" if report["traced"] else " (not traced yet)"))
    for column in ("pattern", "count", "stock bytes", "lean bytes"):
        table.add_column(column, justify="left" if column == "pattern" else "right")
    for name, row in report["patterns"].items():
        table.add_row(name, str(row["count"]), f"{row['stock_bytes']:,}", f"{row['lean_bytes']:,}")
    Console().print(table)
