"""Saved bytes, training step time and peak RSS: ``relukit.lean(model, sparse=True)`` against the stock model.

Models: torchvision's resnet18, vgg11_bn, mobilenet_v2 and densenet121 (random weights, no download; see
vision_models.py) and ``cspdarknet53`` (timm's layout, built in cspdarknet.py) at ``--batch`` x 3 x ``--size``
x ``--size``, and a 6-layer LeakyReLU(0.01) MLP of width 1024 at batch 256. ``--abn`` adds ``abn=True``
(in-place activated BatchNorm for BN -> invertible activation pairs); ``--compile`` compiles both variants
with ``torch.compile`` (Inductor) after lean's eager trace, for what compiled graphs keep. For each model:

* saved bytes: what autograd keeps for backward after the forward (SavedTensorMeter), stock vs lean;
* gradients: bit-identical after one step (forward, squared-sum loss, backward), from the same weights;
  with ``--abn`` not bit-identical: the relative difference ||lean - stock|| / ||stock|| over all gradients;
* step time: forward + backward, stock and lean taking turns ``--repeats`` times, ratio of medians;
* peak RSS (``--rss``): one step in a fresh subprocess per variant, the peak (VmHWM, reset before the step)
  and the RSS left after backward, each above the RSS before the step. ``--malloc fixed`` runs both
  subprocesses with glibc's mmap threshold fixed at its initial 128 KiB (``MALLOC_MMAP_THRESHOLD_=131072``).
  By default glibc raises the threshold to the size of each mmapped block that is freed (up to 32 MiB),
  and lean frees large blocks during the forward (inputs it keeps only codes of), so that its later
  activations come from the heap, where freed memory stays in the process (RSS after backward) and holes
  add to the peak; stock frees none of them before backward. Fixed, both sides map large blocks and hand
  them back on free: the comparison is of what each keeps, on equal allocator settings.

lean is traced with ``example_inputs`` of batch 1 before the measured steps.

With ``--bits K`` the lean variant is ``relukit.lean(model, bits=K)`` instead (few-bit backward of the smooth
members; no sparse storage unless ``--sparse``): gradients are then approximate, so the row gives their cosine
similarity to stock's instead of bit-identity. Models for it: torchvision's efficientnet_b0 (SiLU) and timm's
vit_tiny_patch16_224 (GELU; ``pip install --no-deps timm``).

    python benchmarks/memory_models.py --batch 8 --size 112 --repeats 3 --rss \
        --json benchmarks/results/memory_models.json
    python benchmarks/memory_models.py --models cspdarknet53 --abn --batch 8 --size 224 --repeats 3 --rss
    python benchmarks/memory_models.py --models efficientnet_b0,vit_tiny --bits 3 --batch 8 --size 224 \
        --repeats 5 --rss --json benchmarks/results/memory_models_fewbit.json
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

import relukit
from relukit.diagnostics import SavedTensorMeter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cspdarknet import cspdarknet53  # noqa: E402
from vision_models import torchvision_models, vision_model  # noqa: E402

VISION = ("resnet18", "vgg11_bn", "mobilenet_v2", "densenet121")
TIMM = {"vit_tiny": "vit_tiny_patch16_224"}  # patch 16, dim 192, depth 12, heads 3, GELU MLP


def timm_model(name: str, size: int) -> nn.Module:
    torchvision_models()  # timm imports torchvision: first through vision_models, which works on a CPU torch
    import timm

    return timm.create_model(TIMM[name], pretrained=False, img_size=size)


def build(name: str, batch: int, size: int) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if name in TIMM:
        return timm_model(name, size), torch.randn(batch, 3, size, size)
    if name == "mlp":
        layers: list[nn.Module] = []
        for index in range(6):
            layers += [nn.Linear(1024 if index else 784, 1024), nn.LeakyReLU(0.01)]
        return nn.Sequential(*layers, nn.Linear(1024, 10)), torch.randn(256, 784)
    if name == "cspdarknet53":
        return cspdarknet53(), torch.randn(batch, 3, size, size)
    return vision_model(name), torch.randn(batch, 3, size, size)


def make_lean(
    model: nn.Module, x: torch.Tensor, bits: int | None = None, sparse: bool = True, abn: bool = False
) -> nn.Module:
    if not sparse and not abn:
        return relukit.lean(model, bits=bits)
    return relukit.lean(model, bits=bits, sparse=sparse, abn=abn, example_inputs=(x[:1],))


def cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """Cosine similarity of two gradients, all parameters flattened into one vector (float64)."""
    a_flat = torch.cat([g.double().flatten() for g in a if g is not None])
    b_flat = torch.cat([g.double().flatten() for g in b if g is not None])
    return float(a_flat @ b_flat / (a_flat.norm() * b_flat.norm()))


def step(model: nn.Module, x: torch.Tensor) -> tuple[int, list[torch.Tensor]]:
    torch.manual_seed(1)  # the same dropout masks for stock and lean
    for parameter in model.parameters():
        parameter.grad = None
    with SavedTensorMeter(ignore=[x]) as meter:
        loss = model(x).square().sum()
    loss.backward()
    return meter.saved_bytes, [p.grad for p in model.parameters()]


def _status(field: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(name: str, variant: str, args: argparse.Namespace) -> None:
    """One step of one variant after a warm-up step at batch 1; prints as JSON the peak RSS during the step
    and the RSS left after backward, both above the RSS before it (peak reset first: 5 > /proc/self/clear_refs)."""
    model, x = build(name, args.batch, args.size)
    if variant == "lean":
        model = make_lean(model, x, args.bits, args.sparse, args.abn)
    # one untimed step at batch 1 for both variants: one-time work (few-bit tables, kernels loaded, the lean
    # plan) is not counted in the step's memory
    model(x[:1]).square().sum().backward()
    model.zero_grad(set_to_none=True)
    gc.collect()
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    loss = model(x).square().sum()
    loss.backward()
    print(json.dumps({"peak_rss": _status("VmHWM") - before, "rss_after_backward": _status("VmRSS") - before}))


def rss(name: str, variant: str, args: argparse.Namespace) -> dict[str, int]:
    command = [sys.executable, __file__, "--child", name, variant, "--batch", str(args.batch), "--size",
               str(args.size), "--threads", str(args.threads), *(["--bits", str(args.bits)] if args.bits else []),
               *(["--sparse"] if args.sparse else []), *(["--abn"] if args.abn else [])]  # fmt: skip
    env = os.environ | ({"MALLOC_MMAP_THRESHOLD_": "131072"} if args.malloc == "fixed" else {})
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(name: str, args: argparse.Namespace) -> dict:
    stock, x = build(name, args.batch, args.size)
    lean = make_lean(copy.deepcopy(stock), x, args.bits, args.sparse, args.abn)
    if args.compile:  # both compiled (Inductor) after lean's eager trace; the first step compiles each
        stock, lean = torch.compile(stock), torch.compile(lean)
    saved_stock, grads_stock = step(stock, x)
    saved_lean, grads_lean = step(lean, x)
    identical = all(torch.equal(a, b) for a, b in zip(grads_stock, grads_lean))
    difference = sum(float((a - b).square().sum()) for a, b in zip(grads_stock, grads_lean))
    norm = sum(float(a.square().sum()) for a in grads_stock)
    times: dict[str, list[float]] = {"stock": [], "lean": []}
    for _ in range(args.repeats):
        for variant, model in (("stock", stock), ("lean", lean)):
            start = time.perf_counter()
            step(model, x)
            times[variant].append(time.perf_counter() - start)
    row = {
        "model": name,
        "input": list(x.shape),
        "saved_stock": saved_stock,
        "saved_lean": saved_lean,
        "saved_ratio": saved_lean / saved_stock,
        "step_s_stock": statistics.median(times["stock"]),
        "step_s_lean": statistics.median(times["lean"]),
        "identical_gradients": identical,
        "gradient_relative_difference": (difference / norm) ** 0.5,
        "gradient_cosine": cosine(grads_stock, grads_lean),
        "bits": args.bits,
        "sparse": args.sparse,
        "abn": args.abn,
        "compile": args.compile,
        "malloc": args.malloc,
    }
    if (args.sparse or args.abn) and not args.compile:
        row["patterns"] = {k: v["count"] for k, v in relukit.lean_report(lean)["patterns"].items()}
    row["step_ratio"] = row["step_s_lean"] / row["step_s_stock"]
    if args.rss:
        stock_rss, lean_rss = rss(name, "stock", args), rss(name, "lean", args)
        for key in ("peak_rss", "rss_after_backward"):
            row |= {f"{key}_stock": stock_rss[key], f"{key}_lean": lean_rss[key]}
            row[f"{key}_ratio"] = lean_rss[key] / max(1, stock_rss[key])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join((*VISION, "mlp")))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rss", action="store_true", help="peak RSS of one step in a fresh subprocess")
    malloc_help = "glibc in the RSS subprocesses: its default, or the mmap threshold fixed at 128 KiB for both"
    parser.add_argument("--malloc", choices=["default", "fixed"], default="default", help=malloc_help)
    parser.add_argument("--abn", action="store_true", help="lean(..., abn=True): in-place activated BatchNorm")
    parser.add_argument("--bits", type=int, default=None, help="lean(model, bits=K): few-bit smooth members")
    sparse_help = "sparse storage of saved ReLU outputs (default: on without --bits, off with it)"
    parser.add_argument("--sparse", action=argparse.BooleanOptionalAction, default=None, help=sparse_help)
    parser.add_argument("--compile", action="store_true", help="torch.compile both variants (Inductor)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sparse is None:
        args.sparse = args.bits is None
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(*args.child, args)
        return
    rows = []
    for name in args.models.split(","):
        row = measure(name, args)
        rows.append(row)
        rss_text = f" peak rss {row['peak_rss_ratio']:.3f}" if args.rss else ""
        print(
            f"{name:13s} saved {row['saved_stock'] / 2**20:8.1f} -> {row['saved_lean'] / 2**20:8.1f} MiB "
            f"({row['saved_ratio']:.3f}) step {row['step_ratio']:.3f}{rss_text} "
            f"identical={row['identical_gradients']} gradient difference {row['gradient_relative_difference']:.1e} "
            f"cosine {row['gradient_cosine']:.6f}",
            flush=True,
        )
    if args.json:
        machine = {"platform": platform.platform(), "processor": platform.machine(), "threads": torch.get_num_threads(),
                   "load_average": list(os.getloadavg())}  # fmt: skip
        args.json.write_text(json.dumps({"machine": machine, "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
