"""Issue 7 on a GPU, in one run (benchmarks/gpu.sh calls this): correctness first, then the 2^28 targets.

1. relukit.kernels against torch's own CUDA ops: values, packed codes, gradients bit for bit (NaN as NaN;
   sign-of-zero differences counted apart), relukit.functional routing, bias_act, torch.compile.
2. At 2^28 elements, bf16 and fp32 (triton.testing.do_bench medians, L2 flushed between runs):
   forward vs the copy bandwidth measured here (target >= 85%), forward+backward vs torch eager
   (target >= 1.3x), bias_act forward vs torch eager relu(x + b) (target >= 1.5x); a block-size sweep.
3. ``relukit bench --device cuda`` for the standard table.
Prints everything; ``--json PATH`` also writes the numbers. ``--dry-run`` runs every step on CPU at tiny
sizes under the Triton interpreter (set TRITON_INTERPRET=1) to check the script itself without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time

import torch
import torch.nn.functional as F
import triton
from triton.testing import do_bench

import relukit.functional as rf
import relukit.kernels as K
from relukit import catalog, cli
from relukit._ops import packing, piecewise
from relukit.kernels import ops

START = time.time()
DEVICE = "cuda"
SCALE = 0  # log2 of the size reduction (the dry run shrinks every size)
CASES = [
    ("relu", {}), ("relu6", {}), ("hardtanh", {}), ("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("threshold", {"threshold": 0.5, "value": -2.0}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.0}),
    ("leaky_relu", {"negative_slope": 0.2}), ("rrelu", {}), ("rectify", {}),
    ("rectify", {"negative_slope": 0.5, "threshold": 5.0}), ("rectify", {"negative_slope": 0.1, "max_value": 6.0}),
]  # fmt: skip
SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 6.0, -6.0, 5.0, 2.0, -2.0, 1e-30, 3e38, -3e38]
SPECIALS += [math.inf, -math.inf, math.nan]
REPORT: dict = {"correctness": [], "performance": [], "sweep": []}


def log(*args):
    print(f"[{time.time() - START:6.1f}s]", *args, flush=True)


def sample(n, dtype, seed):
    gen = torch.Generator(device=DEVICE).manual_seed(seed)
    x = torch.randn(n, device=DEVICE, generator=gen) * 4
    specials = torch.tensor(SPECIALS, device=DEVICE)
    pick = torch.randint(len(SPECIALS), (n,), device=DEVICE, generator=gen)
    return torch.where(torch.rand(n, device=DEVICE, generator=gen) < 0.2, specials[pick], x).to(dtype)


def compare(ours, ref, skip=None):
    """(real mismatches, sign-of-zero-only mismatches) with NaN equal to NaN."""
    nan = torch.isnan(ref) & torch.isnan(ours)
    same = (ours == ref) | nan
    bits_differ = ours.view(torch.int16 if ours.element_size() == 2 else torch.int32) != ref.view(
        torch.int16 if ref.element_size() == 2 else torch.int32
    )
    signed_zero = same & bits_differ & ~nan
    bad = ~same
    if skip is not None:
        bad, signed_zero = bad & ~skip, signed_zero & ~skip
    return int(bad.sum()), int(signed_zero.sum())


def check_case(name, params, dtype, n=None):
    n = (1 << (20 - SCALE)) + 13 if n is None else n
    entry = catalog.BY_NAME[name]
    bound = entry.bind(name, params)
    x, grad = sample(n, dtype, 1), sample(n, dtype, 2)
    y, codes = K.forward(name, x, **params)
    y_ref = piecewise.stock_forward(entry, x, bound)
    codes_ref = packing.pack(entry.codes(x, piecewise.xp_torch, **bound), entry.code_bits(**bound))
    g = K.backward(name, grad, codes, **params)
    if name == "rectify":  # no torch op: relukit's CPU path (torch's own kernels) is the reference
        slopes = [float(s) for s in entry.slopes(**bound)]
        g_ref = piecewise.piecewise_backward(grad.cpu(), codes_ref.cpu(), slopes, entry.backward == "multiply").to(
            DEVICE
        )
    else:
        leaf = x.clone().requires_grad_()
        (g_ref,) = torch.autograd.grad(piecewise.stock_forward(entry, leaf, bound), leaf, grad)
    skip = torch.isnan(x) if name in ("hardtanh", "relu6") else None  # relukit gives 0 at NaN (documented)
    row = {"case": f"{name}{params or ''}", "dtype": str(dtype).replace("torch.", "")}
    row["y_bad"], row["y_signed_zero"] = compare(y, y_ref)
    row["codes_bad_bytes"] = int((codes != codes_ref).sum())
    row["grad_bad"], row["grad_signed_zero"] = compare(g, g_ref, skip)
    row["ok"] = row["y_bad"] == row["codes_bad_bytes"] == row["grad_bad"] == 0
    REPORT["correctness"].append(row)
    log("OK  " if row["ok"] else "FAIL", row)


def check_functional_and_bias_act(dtype):
    x, grad = sample(3 * 4099, dtype, 3).view(3, 4099), sample(3 * 4099, dtype, 4).view(3, 4099)
    assert piecewise.fused(x), "relukit.functional should use the kernels on CUDA"
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, ref = rf.leaky_relu(a, 0.2), F.leaky_relu(b, 0.2)
    ours.backward(grad), ref.backward(grad)
    rows = [("functional.leaky_relu y", ours, ref), ("functional.leaky_relu grad", a.grad, b.grad)]
    for shape, dim in (((512, 4096), -1), ((8, 64, 32, 32), 1)) if not SCALE else (((3, 40), -1), ((2, 3, 4, 5), 1)):
        x = (torch.randn(shape, device=DEVICE) * 2).to(dtype)
        bias = torch.randn(shape[dim], device=DEVICE).to(dtype)
        grad = torch.randn(shape, device=DEVICE).to(dtype)
        xs, bs = [x.clone().requires_grad_() for _ in range(2)], [bias.clone().requires_grad_() for _ in range(2)]
        ours = rf.bias_act(xs[0], bs[0], "relu", dim=dim)
        ref = F.relu(xs[1] + bs[1].view(rf.bias_view_shape(x, dim)))
        ours.backward(grad), ref.backward(grad)
        rows += [(f"bias_act{shape} y", ours, ref), (f"bias_act{shape} grad_x", xs[0].grad, xs[1].grad)]
        rows += [(f"bias_act{shape} grad_b", bs[0].grad, bs[1].grad)]
    for label, ours, ref in rows:
        bad, signed_zero = compare(ours.detach(), ref.detach())
        row = {"case": label, "dtype": str(dtype).replace("torch.", ""), "bad": bad, "signed_zero": signed_zero}
        row["ok"] = bad == 0
        REPORT["correctness"].append(row)
        log("OK  " if row["ok"] else "FAIL", row)


def check_compile():
    x = torch.randn(4096, device=DEVICE, requires_grad=True)
    # a plain sum of the two ops: no multiply-add that Inductor could contract into an FMA
    fn = lambda x: rf.leaky_relu(x, 0.1) + rf.bias_act(x.view(64, 64), torch.ones(64, device=DEVICE)).view(-1)
    try:
        compiled = torch.compile(fn, fullgraph=True, backend="inductor" if DEVICE == "cuda" else "aot_eager")
        (g1,) = torch.autograd.grad(compiled(x).sum(), x)
        (g2,) = torch.autograd.grad(fn(x).sum(), x)
        ok = torch.equal(compiled(x), fn(x)) and torch.equal(g1, g2)
        log("OK  " if ok else "FAIL", "torch.compile(fullgraph=True) with relukit ops: outputs and gradients")
    except Exception as error:  # report and go on: the benchmarks still matter
        ok = False
        log("FAIL torch.compile:", type(error).__name__, str(error)[:500])
    REPORT["correctness"].append({"case": "torch.compile fullgraph", "ok": ok})


def guarded(label, fn, *args):
    """Runs one step; a failure is logged and recorded, and the run goes on (it happens once, on a GPU)."""
    try:
        return fn(*args)
    except Exception as error:
        log("FAIL", label, type(error).__name__, str(error)[:800])
        REPORT["correctness"].append({"case": label, "ok": False, "error": f"{type(error).__name__}: {error}"[:800]})
        return None


def ms(fn):
    if DEVICE != "cuda":  # dry run
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3
    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def ms_forward_backward(fn, x, grad):
    leaf = x.clone().requires_grad_()
    return ms(lambda: torch.autograd.grad(fn(leaf), leaf, grad))


def perf(dtype, n=None):
    n = 1 << (28 - SCALE) if n is None else n
    s = torch.finfo(dtype).bits // 8
    x, grad = torch.randn(n, device=DEVICE).to(dtype), torch.randn(n, device=DEVICE).to(dtype)
    dst = torch.empty_like(x)
    t_copy = ms(lambda: dst.copy_(x))
    copy_gbps = 2 * s * n / t_copy / 1e6
    row = {"dtype": str(dtype).replace("torch.", ""), "n": n, "copy_ms": t_copy, "copy_gbps": copy_gbps}
    for name in ("relu", "leaky_relu"):
        torch_fn = getattr(F, name)
        t_torch_fwd = ms(lambda: torch_fn(x))
        t_fwd = ms(lambda: K.forward(name, x))
        fwd_gbps = (2 * s + 1 / 8) * n / t_fwd / 1e6
        t_torch_both = ms_forward_backward(torch_fn, x, grad)
        t_func_both = ms_forward_backward(getattr(rf, name), x, grad)
        t_raw_both = ms(lambda: K.backward(name, grad, K.forward(name, x)[1]))
        row[name] = {
            "torch_forward_ms": t_torch_fwd,
            "forward_ms": t_fwd,
            "forward_gbps": fwd_gbps,
            "forward_fraction_of_copy": fwd_gbps / copy_gbps,
            "torch_forward_fraction_of_copy": 2 * s * n / t_torch_fwd / 1e6 / copy_gbps,
            "torch_fwd_bwd_ms": t_torch_both,
            "functional_fwd_bwd_ms": t_func_both,
            "kernels_fwd_bwd_ms": t_raw_both,
            "fwd_bwd_speedup_functional": t_torch_both / t_func_both,
            "fwd_bwd_speedup_kernels": t_torch_both / t_raw_both,
        }
    rest = n >> 14  # conv: N=64, C=256, H x W = rest (128 x 128 at 2^28)
    height = 1 << ((rest.bit_length() - 1) // 2)
    shapes = (("linear", (n >> 12, 1 << 12), -1), ("conv", (1 << 6, 1 << 8, height, rest // height), 1))
    for label, shape, dim in shapes:
        xb = x.view(shape)
        bias = torch.randn(shape[dim], device=DEVICE).to(dtype)
        view = bias.view(rf.bias_view_shape(xb, dim))
        t_torch = ms(lambda: F.relu(xb + view))
        t_infer = ms(lambda: K.bias_act("relu", xb, bias, dim=dim, store_codes=False))
        t_train = ms(lambda: K.bias_act("relu", xb, bias, dim=dim))
        row[f"bias_act_{label}"] = {
            "torch_ms": t_torch,
            "fused_ms": t_infer,
            "fused_with_codes_ms": t_train,
            "speedup": t_torch / t_infer,
            "speedup_with_codes": t_torch / t_train,
            "fraction_of_copy": 2 * s * n / t_infer / 1e6 / copy_gbps,
        }
    REPORT["performance"].append(row)
    log(json.dumps(row, indent=1))
    return x, grad


def sweep(dtype, x, grad):
    """Forward/backward time per (BLOCK, num_warps): tells whether ops.block_size's choice is right."""
    block_size, warps = ops.block_size, ops.NUM_WARPS
    try:
        for block in (1024, 2048, 4096, 8192):
            for num_warps in (4, 8):
                ops.block_size, ops.NUM_WARPS = (lambda t, b=block: b), num_warps
                t_fwd = ms(lambda: K.forward("relu", x))
                codes = K.forward("relu", x)[1]
                t_bwd = ms(lambda: K.backward("relu", grad, codes))
                row = {"dtype": str(dtype), "block": block, "num_warps": num_warps, "fwd_ms": t_fwd, "bwd_ms": t_bwd}
                REPORT["sweep"].append(row)
                log(row)
    finally:
        ops.block_size, ops.NUM_WARPS = block_size, warps


def summary():
    log("==== targets (issue 7) ====")
    for row in REPORT["performance"]:
        for name in ("relu", "leaky_relu"):
            r = row[name]
            log(f"{row['dtype']:9s} {name:10s} forward {r['forward_fraction_of_copy']:.0%} of copy (target >= 85%; "
                f"torch {r['torch_forward_fraction_of_copy']:.0%}); fwd+bwd speedup vs torch: functional "
                f"{r['fwd_bwd_speedup_functional']:.2f}x, kernels {r['fwd_bwd_speedup_kernels']:.2f}x "
                "(target >= 1.3x)")  # fmt: skip
        for label in ("linear", "conv"):
            r = row[f"bias_act_{label}"]
            log(f"{row['dtype']:9s} bias_act {label:6s} {r['speedup']:.2f}x torch relu(x + b) (target >= 1.5x); "
                f"with codes {r['speedup_with_codes']:.2f}x; {r['fraction_of_copy']:.0%} of copy")  # fmt: skip
    bad = [r for r in REPORT["correctness"] if not r["ok"]]
    log(f"correctness: {len(REPORT['correctness']) - len(bad)} ok, {len(bad)} failed")


RUN = contextlib.ExitStack()  # contexts held for the whole run (the dry run's kernels_on)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, Triton interpreter")
    args = parser.parse_args()
    global DEVICE, SCALE
    if args.dry_run:
        DEVICE, SCALE = "cpu", 14
        RUN.enter_context(piecewise.kernels_on("cuda", "cpu"))  # CPU tensors take the Triton interpreter
    elif not torch.cuda.is_available():
        raise SystemExit("gpu_bench.py: no CUDA device (use --dry-run with TRITON_INTERPRET=1 to test on CPU)")
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu (dry run)"
    log("device", name, "torch", torch.__version__, "triton", triton.__version__)
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        for name, params in CASES if dtype != torch.float16 else CASES[:1] + CASES[5:6]:
            guarded(f"{name}{params} {dtype}", check_case, name, params, dtype)
        guarded(f"functional/bias_act {dtype}", check_functional_and_bias_act, dtype)
    check_compile()
    for dtype in (torch.bfloat16, torch.float32):
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
        tensors = guarded(f"performance {dtype}", perf, dtype)
        if tensors is not None and time.time() - START < 150:
            guarded(f"sweep {dtype}", sweep, dtype, *tensors)
        del tensors
    summary()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(REPORT, handle, indent=1)
    if time.time() - START < 170 and REPORT["performance"]:
        run_cli_bench(args.json)
    log("done")


def run_cli_bench(json_path: str | None) -> None:
    """``relukit bench`` for relu/leaky_relu in bf16/fp32 (its JSON next to ``json_path``, as *_cli.json)."""
    sizes = "2^24,2^28" if DEVICE == "cuda" else "2^10"
    argv = ["bench", "--device", DEVICE, "--dtype", "bfloat16,float32", "--sizes", sizes]
    argv += ["--ops", "relu,leaky_relu", "--repeats", "10"]
    if json_path:
        argv += ["--json", json_path.replace(".json", "_cli.json")]
    log("relukit", " ".join(argv))
    cli.main(argv)


if __name__ == "__main__":
    with RUN:
        main()
