"""`relukit bench`: the smoke run of make test (tiny sizes, no timing assertions), its JSON and its errors."""

from __future__ import annotations

import json
import os

import pytest
import torch

from relukit import bench, cli
from relukit.bench import measure


def test_quick_bench_writes_the_json_schema(tmp_path, capsys):
    path = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--sizes", "2^10,1000", "--ops", "relu,leaky", "--dtype", "fp32,bf16", "--repeats", "1"]
    assert cli.main([*argv, "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["schema"] == measure.SCHEMA and data["machine"]["device"] == "cpu"
    assert data["command"].startswith("relukit bench --device cpu --dtype float32,bfloat16 --sizes 1024,1000")
    assert set(data["copy_gbps"]) == {"float32", "bfloat16"} and set(data["copy_gbps"]["float32"]) == {"1024", "1000"}
    rows = {(r["op"], r["dtype"], r["size"], r["impl"]): r for r in data["results"]}
    # 2 ops x 2 sizes x (torch, relukit) per dtype, plus relukit.array on NumPy for float32 (NumPy has no bf16)
    assert len(rows) == len(data["results"]) == 2 * 2 * (3 + 2)
    for (_, dtype, size, impl), row in rows.items():
        assert row["forward_s"] > 0 and row["forward_gbps"] > 0 and row["forward_roofline"] > 0
        itemsize = 4 if dtype == "float32" else 2
        if impl == "torch":  # relu saves its output, leaky_relu its input: one full tensor
            assert row["saved_bytes"] == size * itemsize and row["forward_vs_torch"] == 1.0
        elif impl == "relukit":  # 1-bit codes
            assert row["saved_bytes"] == (size + 7) // 8 and row["forward_backward_s"] > 0
        else:
            assert impl == "relukit.array (NumPy)" and row["forward_backward_s"] is None
    out = capsys.readouterr().out
    assert "relukit bench" in out and "leaky_relu" in out and "copy bandwidth" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ops", "relu,nope"], "unknown activation 'nope'; available: relu, relu6"),
        (["--sizes", "2^20,lots"], "--sizes: cannot read 'lots'"),
        (["--dtype", "float8"], "--dtype: unknown dtype 'float8'; choose from bf16"),
        (["--repeats", "0"], "--repeats must be >= 1, got 0"),
    ],
)
def test_bad_arguments_say_which_and_why(argv, message, capsys):
    assert cli.main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(capsys):
    assert cli.main(["bench", "--device", "cuda"]) == 2
    assert "--device cuda: CUDA is not available here" in capsys.readouterr().err


def test_saved_bytes_counts_each_storage_once_and_skips_leaves():
    x = torch.randn(1000)
    assert measure.saved_bytes(torch.relu, x) == 4000  # the output
    assert measure.saved_bytes(lambda h: h * h, x) == 4000  # h saved twice, one storage
    weight = torch.randn(1000, requires_grad=True)
    assert measure.saved_bytes(lambda h: h * weight, x) == 4000  # weight is a leaf: alive anyway


def test_threads_apply_to_the_run_only():
    """Configuring sets nothing; ``--threads`` holds for the measurement and the setting before comes back."""
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    argv = ["bench", "--quick", "--sizes", "64", "--ops", "relu", "--threads", str(wanted)]
    args = cli.build_parser().parse_args(argv)
    config = bench.configure(args)
    assert torch.get_num_threads() == before
    data = measure.run(config | {"repeats": 1}, threads=wanted)
    assert data["machine"]["cpu_threads"] == wanted and torch.get_num_threads() == before
    assert f"--threads {wanted}" in bench.present.command_line(data)


def test_medians_time_each_function_in_runs_of_its_own_calls(monkeypatch):
    """A sample is one untimed call, then consecutive calls of the same function (about SAMPLE_SECONDS),
    functions taking turns per repeat; the result is seconds per call."""
    log = []
    clock = iter(range(10**6))  # perf_counter: one "second" per reading
    monkeypatch.setattr(measure.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(measure, "SAMPLE_SECONDS", 3)
    times = measure.medians({"a": lambda: log.append("a"), "b": lambda: log.append("b")}, "cpu", 1, 2)
    # warm-up: one timed call each (1 s, so 3 calls per sample); then per repeat, per function: 1 + 3 calls
    assert "".join(log) == "ab" + ("aaaa" + "bbbb") * 2
    assert times["a"] == times["b"] == pytest.approx(1 / 3) and times["a min"] == pytest.approx(1 / 3)


def test_each_size_runs_in_a_fresh_process_on_the_cpu():
    """Several sizes: each column is measured in a spawned process (no heap inherited from the size before);
    the rows come back in order, with the copy bandwidth of each size."""
    assert measure._in_fresh_process(os.getpid) != os.getpid()
    config = {"device": "cpu", "dtypes": ["float32"], "sizes": [64, 256], "ops": ["relu", "mish"]}
    data = measure.run(config | {"compile": False, "repeats": 1, "warmup": 1}, threads=1)
    assert [(r["size"], r["op"]) for r in data["results"] if r["impl"] == "relukit"] == [
        (64, "relu"),
        (64, "mish"),
        (256, "relu"),
        (256, "mish"),
    ]
    assert set(data["copy_gbps"]["float32"]) == {"64", "256"} and data["machine"]["cpu_threads"] == 1
