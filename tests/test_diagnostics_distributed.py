"""Two processes on gloo (CPU): reports are global on every rank; gradients are read after all-reduce."""

from __future__ import annotations

import datetime
import json
import math

import torch
import torch.distributed as dist
from tests.helpers import spawn_ranks
from torch import nn

from relukit.diagnostics import GradientFlowMonitor, scan

WORLD = 2


def _probe():
    """Unit 0 fires only for x > 0 (rank 1's data), unit 1 only for x < 0 (rank 0's), unit 2 never."""
    model = nn.Sequential(nn.Linear(1, 3), nn.ReLU()).double()
    with torch.no_grad():
        model[0].weight[:] = torch.tensor([[1.0], [-1.0], [1.0]])
        model[0].bias[:] = torch.tensor([0.0, 0.0, -1e6])
    return model


def _data(rank, n):
    sign = 1.0 if rank == 1 else -1.0
    return [sign * (torch.rand(n, 1, dtype=torch.float64) + 0.1)]


def _ddp_data(rank):
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(16, 4, dtype=torch.float64, generator=g), torch.randn(16, 1, dtype=torch.float64, generator=g)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).double()


def _norms(model):
    return [
        math.sqrt(sum(float(p.grad.square().sum()) for p in m.parameters(recurse=False)))
        for m in model
        if isinstance(m, nn.Linear)
    ]


def _worker(rank, port, out):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD, timeout=datetime.timedelta(60)
    )
    try:
        result = {}
        model = _probe()
        data = _data(rank, 5 + rank)
        result["global"] = scan(model, data, progress=False).to_dict()
        from relukit.diagnostics import DeadUnitMonitor

        with DeadUnitMonitor(model) as monitor, torch.no_grad():
            model(data[0])
        result["local"] = monitor.report(local=True).to_dict()
        result["one_rank_empty"] = scan(model, data if rank == 1 else [], progress=False).to_dict()

        ddp = nn.parallel.DistributedDataParallel(_net())
        x, y = _ddp_data(rank)
        with GradientFlowMonitor(ddp) as flow:
            nn.functional.mse_loss(ddp(x), y).backward()
        result["flow"] = flow.report().to_dict()
        local = _net()
        nn.functional.mse_loss(local(x), y).backward()
        result["local_norms"] = _norms(local)
        with open(f"{out}/rank{rank}.json", "w") as handle:
            json.dump(result, handle)
    finally:
        dist.destroy_process_group()


def test_reports_are_global_on_every_rank(tmp_path):
    spawn_ranks(_worker, WORLD, str(tmp_path))
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]

    for rank, result in enumerate(results):
        [layer] = result["global"]["layers"]
        assert layer["dead_units"] == [2], rank  # unit 0 is alive on rank 1's data only, unit 1 on rank 0's
        assert layer["samples_seen"] == 5 + 6 and layer["batches"] == 2
        assert result["global"] == results[0]["global"]
        # one rank saw nothing: both still get the report of rank 1's data
        [empty] = result["one_rank_empty"]["layers"]
        assert empty["dead_units"] == [1, 2] and empty["samples_seen"] == 6
    assert results[0]["local"]["layers"][0]["dead_units"] == [0, 2]
    assert results[1]["local"]["layers"][0]["dead_units"] == [1, 2]

    # the averaged gradient of DDP equals the gradient of the mean loss over both ranks' data
    reference = _net()
    losses = [nn.functional.mse_loss(reference(x), y) for x, y in map(_ddp_data, range(WORLD))]
    (sum(losses) / WORLD).backward()
    expected = _norms(reference)
    for result in results:
        norms = [layer["norm"] for layer in result["flow"]["layers"]]
        assert [layer["name"] for layer in result["flow"]["layers"]] == ["0", "2"]
        assert all(math.isclose(a, b, rel_tol=1e-10) for a, b in zip(norms, expected)), (norms, expected)
        assert not math.isclose(norms[0], result["local_norms"][0], rel_tol=1e-3)  # not the rank's own gradient
