"""lean(model, abn=True) under DistributedDataParallel, two gloo processes: each rank normalizes with its own
batch statistics (BatchNormAct is not synchronized), and the all-reduced gradients equal the mean of the
stock model's per-rank gradients."""

from __future__ import annotations

import datetime

import torch
import torch.distributed as dist
from tests.helpers import spawn_ranks
from torch import nn

import relukit
from relukit import nn as rnn

WORLD = 2


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.LeakyReLU(0.1), nn.Linear(6, 1)).double()


def _data(rank):
    return torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(10 + rank))


def _worker(rank, port, out):
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD, timeout=datetime.timedelta(60)
    )
    try:
        model = relukit.lean(_model(), abn=True, example_inputs=(_data(rank),))
        assert type(model[1]) is rnn.BatchNormAct1d
        ddp = nn.parallel.DistributedDataParallel(model)
        ddp(_data(rank)).square().sum().backward()
        torch.save([p.grad for p in model.parameters()] + [model[1].running_mean], f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_gradients_are_the_mean_of_per_rank_stock_gradients(tmp_path):
    spawn_ranks(_worker, WORLD, str(tmp_path))
    expected, means = None, []
    for rank in range(WORLD):
        stock = _model()
        stock(_data(rank)).square().sum().backward()
        grads = [p.grad / WORLD for p in stock.parameters()]
        expected = grads if expected is None else [a + b for a, b in zip(expected, grads)]
        means.append(stock[1].running_mean)
    for rank in range(WORLD):
        *grads, running_mean = torch.load(tmp_path / f"rank{rank}.pt")
        for got, want in zip(grads, expected):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(running_mean, means[rank], rtol=0, atol=0)  # local statistics
