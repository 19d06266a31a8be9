"""torch.compile(fullgraph=True) and ONNX export of a model holding every relukit module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import relukit.nn as rnn


def every_module():
    return [
        rnn.ReLU(), rnn.ReLU6(), rnn.Hardtanh(-0.5, 2.0), rnn.Threshold(0.1, -1.0), rnn.Rectify(0.1, 6.0, 0.5),
        rnn.Rectify(0.2), rnn.LeakyReLU(0.1), rnn.PReLU(4), rnn.RReLU(), rnn.ELU(0.5), rnn.CELU(2.0), rnn.SELU(),
        rnn.GELU(), rnn.GELU("tanh"), rnn.SiLU(), rnn.Mish(), rnn.Softplus(2.0, 10.0),
    ]  # fmt: skip


class Every(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.acts = torch.nn.ModuleList(every_module())

    def forward(self, x):
        x = self.linear(x)
        return torch.stack([act(x) for act in self.acts])


def test_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    model = Every().eval()
    x = torch.randn(8, 4) * 3
    eager = model(x)
    eager_grads = torch.autograd.grad(eager.sum(), list(model.parameters()))
    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    grads = torch.autograd.grad(out.sum(), list(model.parameters()))
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-6)
    for g, e in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


STANDARD = {
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "Elu",
    "Celu",
    "Selu",
    "Gelu",
    "Mish",
    "Softplus",
    "Erf",
    "Tanh",
    "Sigmoid",
    "Where",
    "Min",
    "Max",
    "Mul",
    "Add",
    "Sub",
    "Div",
    "Pow",
    "Greater",
    "LessOrEqual",
    "Gemm",
    "Concat",
    "Unsqueeze",
    "Cast",
    "Constant",
    "Less",
    "GreaterOrEqual",
    "Reshape",
    "Expand",
    "MatMul",
}


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo-exporter", "torchscript-exporter"])
def test_onnx_export_uses_standard_ops_and_matches(tmp_path, dynamo):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is installed by make test")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is installed by make test")
    torch.manual_seed(0)
    model = Every().eval()
    x = torch.randn(16, 4) * 3
    path = tmp_path / "every.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=18)
    graph = onnx.load(str(path))
    domains = {node.domain for node in graph.graph.node}
    ops = {node.op_type for node in graph.graph.node}
    assert domains <= {"", "ai.onnx"}, domains
    assert ops <= STANDARD, ops - STANDARD
    assert {"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Softplus"} <= ops
    session = ort.InferenceSession(str(path))
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-5, atol=1e-5)
