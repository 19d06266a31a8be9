"""Global dead-unit statistics under torch.distributed: every rank gets the same report.

Ranks may have seen different layers (a rank with no batches has seen none), so the layer lists are
first gathered and merged (forward order, rank 0's first); then one flat float64 tensor of counts and
sums is all-reduced by SUM and one flat tensor of alive flags by MAX. Counts stay exact below 2**53.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist

_SCALARS = ("batch_dead", "elements", "samples", "batches")


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def _host(tally: Any) -> dict[str, Any]:
    positive = np.rint(tally.positive.cpu().numpy()).astype(np.int64)
    return {
        "meta": tally.meta(),
        "positive": positive,
        "alive": positive > 0,
        "abs_sum": tally.abs_sum.cpu().numpy(),
        "batch_dead": int(round(float(tally.batch_dead))),
        "elements": tally.elements,
        "samples": tally.samples,
        "batches": tally.batches,
    }


def _merge(per_rank: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for metas in per_rank:
        for meta in metas:
            known = merged.setdefault(meta["name"], dict(meta))
            if known["units"] != meta["units"] or known["kind"] != meta["kind"]:
                raise ValueError(
                    f"DeadUnitMonitor.report: layer {meta['name']!r} differs across ranks: "
                    f"{known['kind']} with {known['units']} units vs {meta['kind']} with {meta['units']}"
                )
            for key in ("producer", "norm"):
                known[key] = known[key] or meta[key]
    return list(merged.values())


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def reduce_tallies(tallies: list[Any], *, local: bool = False) -> list[dict[str, Any]]:
    """Per layer: metadata and host arrays (positive, alive, abs_sum) and scalars, global when distributed."""
    if local or not active():
        return [_host(t) for t in tallies]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, [t.meta() for t in tallies])
    metas = _merge(gathered)
    mine = {t.name: t for t in tallies}
    device = _device()
    sums, flags = [], []
    for meta in metas:
        units, tally = meta["units"], mine.get(meta["name"])
        if tally is None:
            sums.append(torch.zeros(2 * units + len(_SCALARS), dtype=torch.float64, device=device))
            flags.append(torch.zeros(units, dtype=torch.int32, device=device))
            continue
        scalars = torch.tensor([float(tally.batch_dead), tally.elements, tally.samples, tally.batches])
        sums.append(torch.cat([tally.positive.to(device), tally.abs_sum.to(device), scalars.double().to(device)]))
        flags.append((tally.positive > 0).int().to(device))
    if not metas:
        return []
    flat_sums, flat_flags = torch.cat(sums), torch.cat(flags)
    dist.all_reduce(flat_sums, op=dist.ReduceOp.SUM)
    dist.all_reduce(flat_flags, op=dist.ReduceOp.MAX)
    sums_host, flags_host = flat_sums.cpu().numpy(), flat_flags.cpu().numpy()
    layers, at, at_flags = [], 0, 0
    for meta in metas:
        units = meta["units"]
        block = sums_host[at : at + 2 * units + len(_SCALARS)]
        at += 2 * units + len(_SCALARS)
        scalars = dict(zip(_SCALARS, (int(round(v)) for v in block[2 * units :])))
        layers.append(
            {
                "meta": meta,
                "positive": np.rint(block[:units]).astype(np.int64),
                "alive": flags_host[at_flags : at_flags + units] > 0,
                "abs_sum": block[units : 2 * units].copy(),
                **scalars,
            }
        )
        at_flags += units
    return layers
