"""print(), plot() and log_to_tensorboard() of the diagnostics reports; SavedTensorMeter; import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import relukit.functional as RF
from relukit.diagnostics import DeadUnitMonitor, GradientFlowMonitor, SavedTensorMeter

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def watched(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 4), nn.Mish(), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].bias[3] = -1e6
    with DeadUnitMonitor(model) as dead, GradientFlowMonitor(model) as flow:
        for _ in range(2):
            model(torch.randn(32, 6)).square().mean().backward()
    return dead, flow


def test_print_tables(watched, capsys):
    dead, flow = watched
    dead.print()
    out = capsys.readouterr().out
    assert "dead and dormant units" in out and "relu" in out and "mish" in out and "n/a" in out
    flow.print()
    out = capsys.readouterr().out
    assert "gradient flow after backward #1" in out and flow.report().verdict in out


def test_plots_are_pngs(watched, tmp_path):
    dead, flow = watched
    for monitor, name in ((dead, "dead.png"), (flow, "flow.png")):
        path = monitor.plot(tmp_path / "figures" / name)
        assert path == (tmp_path / "figures" / name).resolve()
        assert path.read_bytes()[:8] == PNG
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["dead.png", "flow.png"]  # no temporaries


def test_tensorboard_scalars_read_back(watched, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    dead, flow = watched
    writer = SummaryWriter(tmp_path)
    dead.log_to_tensorboard(writer, 7)
    flow.log_to_tensorboard(writer, 7)
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    [dead_fraction] = events.Scalars("dead_units/1/dead_fraction")
    assert (dead_fraction.step, dead_fraction.value) == (7, pytest.approx(0.1))
    assert "dead_units/3/dead_fraction" not in events.Tags()["scalars"]  # mish: not applicable
    assert "dead_units/3/unit_rate" in events.Tags()["histograms"]
    [ratio] = events.Scalars("gradient_flow/first_to_last_ratio")
    assert ratio.value == pytest.approx(flow.report().first_to_last_ratio, rel=1e-6)


def test_saved_tensor_meter_counts_and_prints(capsys):
    x = torch.randn(1000, requires_grad=True)
    with SavedTensorMeter() as lean:
        RF.relu(x * 2).sum()
    with SavedTensorMeter() as stock:
        torch.relu(x * 2).sum()
    # x * 2 saves nothing (a scalar factor); relukit's relu keeps 1000 bits, torch's relu its fp32 output
    assert (lean.saved_bytes, lean.by_dtype) == (125, {"uint8": 125})
    assert (stock.saved_bytes, stock.tensors) == (4000, 1)
    stock.print()
    out = capsys.readouterr().out
    assert "float32" in out and "4,000 in 1 storages" in out


def test_import_relukit_diagnostics_pulls_no_plotting_or_tensorboard():
    code = (
        "import sys, relukit, relukit.diagnostics, relukit.functional\n"
        "bad = [m for m in ('matplotlib', 'rich', 'tensorboard', 'sklearn', 'onnx', 'triton') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
