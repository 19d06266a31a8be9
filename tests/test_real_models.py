"""The monitor and lean on real code: torchvision's googlenet and densenet121 (random weights, no download)
and a transformer block whose MLP wraps F.gelu/F.silu in small activation classes.

The expected layers are counted from the models' source (each class's functional activation calls, times its
instances, plus the activation modules) and cross-checked against the ReLU nodes in the autograd graph.
"""

from __future__ import annotations

import copy
import inspect
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import relukit
from relukit import registry
from relukit.diagnostics import DeadUnitMonitor, SavedTensorMeter

# a call of the family in source code: F.relu(...), F.gelu(...), torch.relu_(...), x.relu()
_CALL = re.compile(
    r"\b(?:F|torch)\.(relu6|relu|hardtanh|leaky_relu|threshold|rrelu|elu|celu|selu|gelu|silu|mish|softplus|prelu)_?\(|\.(relu)_?\(\)"
)


def _expected_layers(model: nn.Module) -> list[str]:
    """Layer names the monitor must report, from the source of each module's class: "<module>/<member>#k"
    for its k-th functional call of a member, the qualified name of each activation module."""
    names = []
    for name, module in model.named_modules():
        if relukit.nn.activation_name(module) is not None:
            names.append(name)
            continue
        if type(module).__module__.startswith("torch.nn"):
            continue
        counts: dict[str, int] = {}
        for match in _CALL.finditer(inspect.getsource(type(module))):
            member = match.group(1) or match.group(2)
            k = counts[member] = counts.get(member, -1) + 1
            names.append(f"{name}/{member}#{k}" if name else f"{member}#{k}")
    return names


def _graph_nodes(outputs, kind: str) -> int:
    seen, stack = set(), [o.grad_fn for o in outputs]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return sum(type(node).__name__ == kind for node in seen)


def _step(model: nn.Module, x: torch.Tensor, seed: int = 1):
    """One forward (dropout seeded) and backward; the outputs, the gradients and the bytes saved."""
    torch.manual_seed(seed)
    with SavedTensorMeter(ignore=[x]) as meter:
        out = model(x)
    outputs = list(out) if isinstance(out, tuple) else [out]
    sum(o.sum() for o in outputs).backward()
    return outputs, [p.grad for p in model.parameters()], meter.saved_bytes


def _identical(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(s, t) for s, t in zip(a, b))


def _module_lean(model: nn.Module) -> nn.Module:
    """relukit.lean's module swaps alone (no mode around the forward)."""
    return relukit.convert(model, registry._lean_copy, include=list(relukit.nn._TORCH_CLASSES))


@pytest.fixture(scope="module")
def googlenet(vision_model):
    torch.manual_seed(0)
    return vision_model("googlenet", aux_logits=True).train()


def test_googlenet_every_functional_relu_is_seen_and_made_lean(googlenet):
    x = torch.randn(2, 3, 32, 32)
    expected = _expected_layers(googlenet)
    assert len(expected) == 61  # 57 BasicConv2d + 2 InceptionAux (a BasicConv2d and an F.relu each)
    outputs, grads, saved = _step(copy.deepcopy(googlenet), x)
    monitored = copy.deepcopy(googlenet)
    with DeadUnitMonitor(monitored) as monitor:
        outputs_m, grads_m, saved_m = _step(monitored, x)
    layers = monitor.report().layers
    assert sorted(layer.name for layer in layers) == sorted(expected)
    assert _graph_nodes(outputs_m, "ReluBackward0") == len(layers)
    assert all(layer.kind == "relu" and layer.samples_seen == 2 and layer.producer for layer in layers)
    assert _identical(outputs_m, outputs) and _identical(grads_m, grads) and saved_m == saved

    lean = relukit.lean(copy.deepcopy(googlenet))
    with DeadUnitMonitor(lean) as monitor:
        outputs_l, grads_l, saved_l = _step(lean, x)
    assert _identical(outputs_l, outputs) and _identical(grads_l, grads)
    assert sorted(layer.name for layer in monitor.report().layers) == sorted(expected)
    assert _graph_nodes(outputs_l, "ReluBackward0") == 0  # every relu ran relukit's lean op
    # The relu outputs concatenated by the Inception blocks were saved only by relu (the next conv or
    # pool saves the others anyway): lean keeps their 1-bit codes instead.
    assert saved_l < 0.95 * saved


def test_densenet121_modules_and_the_final_functional_relu(vision_model):
    torch.manual_seed(0)
    base = vision_model("densenet121")
    x = torch.randn(2, 3, 32, 32)
    expected = _expected_layers(base)
    assert len(expected) == 121 and expected.count("relu#0") == 1  # 120 nn.ReLU + F.relu in forward
    monitored = copy.deepcopy(base)
    with DeadUnitMonitor(monitored) as monitor:
        outputs, grads, saved = _step(monitored, x)
    names = [layer.name for layer in monitor.report().layers]
    assert sorted(names) == sorted(expected) and names[-1] == "relu#0"  # forward order
    assert _graph_nodes(outputs, "ReluBackward0") == 121
    outputs_m, grads_m, saved_modules = _step(_module_lean(copy.deepcopy(base)), x)
    outputs_l, grads_l, saved_lean = _step(relukit.lean(copy.deepcopy(base), sparse=False), x)
    assert _identical(outputs_m, outputs) and _identical(grads_m, grads)
    assert _identical(outputs_l, outputs) and _identical(grads_l, grads)
    # The final F.relu's output goes to an average pool, which saves nothing: through the mode, lean keeps
    # 1 bit per element instead of its fp32 output. (The 120 module ReLUs feed convolutions that save their
    # input anyway, so their codes add 1/32 each: module lean makes densenet slightly heavier.)
    features = base.features(x).numel()
    assert saved_modules - saved_lean == 4 * features - features // 8
    # With sparse storage (the default) those ReLUs stay torch's and their shared outputs are kept sparse.
    sparse = relukit.lean(copy.deepcopy(base), sparse=True)
    _step(sparse, x)  # the traced forward
    for parameter in sparse.parameters():
        parameter.grad = None
    outputs_s, grads_s, saved_sparse = _step(sparse, x)
    assert _identical(outputs_s, outputs) and _identical(grads_s, grads)
    assert saved_sparse < 0.9 * saved
    assert relukit.lean_report(sparse)["patterns"]["act -> saver (stock + sparse)"]["count"] == 120


class GELUActivation(nn.Module):
    """An activation wrapper class, as transformer libraries write them (not an nn.GELU)."""

    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class SiLUGate(nn.Module):
    def forward(self, gate, up):
        return F.silu(gate) * up


class Block(nn.Module):
    def __init__(self, width: int = 32, heads: int = 4):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.up, self.gate, self.down = (
            nn.Linear(width, 4 * width),
            nn.Linear(width, 4 * width),
            nn.Linear(4 * width, width),
        )
        self.act, self.glu = GELUActivation(), SiLUGate()

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        h = self.norm2(x)
        return x + self.down(self.glu(self.gate(h), self.act(self.up(h))))


def test_transformer_blocks_with_activation_wrappers():
    torch.manual_seed(0)
    model = nn.Sequential(Block(), Block())
    x = torch.randn(3, 10, 32)
    expected = _expected_layers(model)
    assert expected == ["0.act/gelu#0", "0.glu/silu#0", "1.act/gelu#0", "1.glu/silu#0"]
    with DeadUnitMonitor(model, unit_axis=-1) as monitor:  # features are the last dim of (batch, seq, width)
        outputs, grads, saved = _step(model, x)
    report = monitor.report()
    assert sorted(layer.name for layer in report.layers) == sorted(expected)
    assert all(layer.units == 128 and layer.dead is None for layer in report.layers)  # smooth: no "dead"
    lean = relukit.lean(copy.deepcopy(model))
    for parameter in lean.parameters():
        parameter.grad = None
    outputs_l, grads_l, saved_l = _step(lean, x)
    assert _identical(outputs_l, outputs) and _identical(grads_l, grads)
    assert saved_l == saved  # smooth members stay torch's (exact) for now
