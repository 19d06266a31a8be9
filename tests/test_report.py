"""relukit study end to end: results.json schema, determinism, atomic writes, and the page in a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import without_timing

from relukit import cli
from relukit.report import html as report_html
from relukit.report import writer

STUDY_KEYS = {"nonlinearity", "vanishing", "born_dead", "init", "dying", "compare", "fewbit"}


def _study(out: Path, *extra: str) -> int:
    return cli.main(["study", "--tiny", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "relukit-report"
    assert _study(out) == 0
    return out


def _load(path: Path) -> dict:
    def reject(constant):
        raise AssertionError(f"results.json holds {constant}, which is not JSON")

    return json.loads((path / "results.json").read_text(), parse_constant=reject)


def test_results_json_schema(tiny_report):
    results = _load(tiny_report)
    assert set(results) == STUDY_KEYS | {"meta"}
    assert results["meta"]["scale"] == "tiny" and results["meta"]["seed"] == 0
    for key in STUDY_KEYS:
        assert {"config", "seed", "timing"} <= set(results[key]), key
        assert results[key]["seed"] == 0 and results[key]["timing"]["wall_seconds"] > 0
    for name, r in results["compare"]["activations"].items():  # per compared activation: interval, difference
        assert {"mean", "low", "high", "n", "level"} <= set(r["test_accuracy_interval"]), name
        assert name == "relu" or {"mean", "low", "high", "resolved"} <= set(r["difference_to_relu"]), name
    assert all("best_lr" in r and "dead_fraction" in r for r in results["vanishing"]["activations"].values())
    grid = results["born_dead"]["grid"]
    assert grid and all(
        set(c) == {"width", "hidden_layers", "trials", "measured", "exact", "ci_low", "ci_high"} for c in grid
    )
    assert all(0 <= c["ci_low"] <= c["measured"] <= c["ci_high"] <= 1 for c in grid)
    assert set(results["compare"]["timing"]) - {"wall_seconds"} == set(results["compare"]["activations"])
    assert sorted(p.name for p in tiny_report.glob("*.png")) == sorted(f"{k}.png" for k in STUDY_KEYS)


def test_same_command_gives_the_same_numbers(tiny_report, tmp_path):
    """A second run in a fresh process (another hash seed, fresh allocator) gives identical numbers."""
    again = tmp_path / "again"
    command = [sys.executable, "-m", "relukit.cli", "study", "--tiny", "--out", str(again)]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    first, second = _load(tiny_report), _load(again)
    assert without_timing(first) == without_timing(second)
    assert first["compare"]["timing"] != {}  # wall-clock times exist, and are the only thing left out


def test_index_is_self_contained(tiny_report):
    page = (tiny_report / "index.html").read_text()
    sources = re.findall(r'<(?:img|script|link|iframe)[^>]*(?:src|href)="([^"]+)"', page)
    assert sources and all(not re.match(r"[a-z]+:", s) and (tiny_report / s).is_file() for s in sources)
    for key in STUDY_KEYS:
        assert f'id="{key}"' in page
    assert "He, X. Zhang" in page or "K. He" in page
    assert "unverified" not in page.lower()  # a number not checked against its source is not printed
    assert "0.1245" not in page  # Xu et al.'s recalled table (never checked against the paper) is gone


_CHECK = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || (e.target && e.target.src))), true);
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(
    i => ({src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0}));
  const out = document.createElement("pre");
  out.id = "relukit-check";
  out.textContent = JSON.stringify({images, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("RELUKIT_NO_BROWSER"):
            pytest.skip("RELUKIT_NO_BROWSER is set")
        pytest.fail("chromium not found: `make test` installs it (apt-get install -y chromium)")
    return path


def test_report_in_headless_chromium(tiny_report, tmp_path):
    """Every image loads and nothing reaches the console as an error (a checking script is injected into a copy)."""
    site = tmp_path / "site"
    shutil.copytree(tiny_report, site)
    page = (site / "index.html").read_text()
    (site / "check.html").write_text(page.replace("</body>", _CHECK + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=10000"]  # fmt: skip
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [_chromium(), *flags, f"--user-data-dir={profile}", "--dump-dom", (site / "check.html").as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="relukit-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(check["images"]) == len(STUDY_KEYS)
    assert all(image["ok"] for image in check["images"]), check["images"]
    assert check["errors"] == []
    console_errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console_errors == []


def test_write_report_is_atomic(tiny_report, tmp_path, monkeypatch):
    results = {key: value for key, value in _load(tiny_report).items() if key in ("meta", "nonlinearity", "init")}
    out = tmp_path / "report"
    writer.write_report(results, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted while writing")

    monkeypatch.setattr(report_html, "render", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        writer.write_report(results, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the good report is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporary directory left behind


def test_write_report_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a relukit report.*refusing to replace it"):
        writer.write_report({"meta": {}}, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nope"], "unknown study 'nope'"),
        (["compare", "--skip", "compare"], "no study left to run"),
        (["compare", "--seed", "-1"], "seed must be an int >= 0"),
        (["compare", "--device", "tpu"], "device must be 'cpu' or 'cuda', got 'tpu'"),
    ],
)
def test_study_cli_errors(tmp_path, capsys, arguments, message):
    assert _study(tmp_path / "out", *arguments) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_study_cli_with_user_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    np.savez(tmp_path / "mine.npz", x=x, y=(x[:, 0] > 0).astype(int))
    assert _study(tmp_path / "out", "compare", "--data", str(tmp_path / "mine.npz")) == 0
    results = _load(tmp_path / "out")
    assert set(results) == {"meta", "compare"} and results["compare"]["model"] == "mlp"
    assert results["compare"]["data"]["name"] == "mine" and results["compare"]["data"]["classes"] == 2
    np.savez(tmp_path / "bad.npz", x=x)
    assert _study(tmp_path / "out2", "compare", "--data", str(tmp_path / "bad.npz")) == 2
    assert "lacks array(s) ['y']" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_study_cli_cuda_without_a_gpu(tmp_path, capsys):
    assert _study(tmp_path / "out", "compare", "--device", "cuda") == 2
    assert "device 'cuda' is not available" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], ["nonlinearity", "vanishing", "born-dead", "init", "dying", "compare", "fewbit"]),
        (["init", "born_dead"], ["init", "born-dead"]),
        (["--only", "compare", "init"], ["compare", "init"]),
        (["--skip", "compare", "dying", "vanishing", "fewbit"], ["nonlinearity", "born-dead", "init"]),
    ],
)
def test_study_selection(arguments, expected):
    args = cli.build_parser().parse_args(["study", *arguments])
    assert cli._study_names(args) == expected


# ----------------------------------------------------------------------------------------------
# The report's sections: references carry their place in the source; findings claim no more than intervals
# ----------------------------------------------------------------------------------------------
def test_every_reference_table_names_its_place_in_the_source():
    from relukit.report import text

    for key, words in text.STUDIES.items():
        assert "unverified" not in (words["reference"] + words["method"]).lower(), key
        for table in words.get("tables", []):
            assert table["where"] and table["caption"], key
            assert all(len(row) == len(table["columns"]) for row in table["rows"]), key
    # the Mish table against the repository's "Sample Size = 23" table (read at the commit named in "where")
    rows = {row[0]: row[1] for row in text.MISH2019["rows"]}
    assert rows == {"Mish": "87.48", "Swish-1 (SiLU)": "87.32", "GELU": "87.37", "ReLU": "86.66", "ELU": "86.41",
                    "Leaky ReLU (0.3)": "86.85", "RReLU": "86.87", "PReLU": "85.66", "SELU": "83.91"}  # fmt: skip


def _interval(mean, half, n=3, resolved=None):
    std = half / 4.302652729749464 * 3**0.5 if half else 0.0
    return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half, "std": std, "n": n,
            "level": 0.95, "resolved": resolved}  # fmt: skip


def test_compare_findings_name_a_winner_only_when_the_interval_excludes_zero():
    from relukit.report import findings

    acts = {
        "relu": {"mean_test_accuracy": 0.960, "runs": [{}] * 3, "saved_bytes_per_step": 1,
                 "saved_bytes_per_step_torch": 1},
        "gelu": {"mean_test_accuracy": 0.972, "runs": [{}] * 3, "saved_bytes_per_step": 1,
                 "saved_bytes_per_step_torch": 1, "difference_to_relu": _interval(0.012, 0.015)},
        "elu": {"mean_test_accuracy": 0.975, "runs": [{}] * 3, "saved_bytes_per_step": 1,
                "saved_bytes_per_step_torch": 1, "difference_to_relu": _interval(0.015, 0.005, resolved="higher")},
    }  # fmt: skip
    lines = findings.findings("compare", {"activations": acts})
    text = " | ".join(lines)
    assert "highest" not in text  # no "highest mean" winner from overlapping spreads
    assert any(line.startswith("test accuracy higher than ReLU") and "elu +1.5 points [+1.0, +2.0]" in line
               for line in lines)  # fmt: skip
    assert any("not resolved from ReLU with 3 paired seeds" in line and "gelu" in line for line in lines)
    assert not any("higher" in line and "gelu" in line for line in lines)
    assert any("about 0.1 would exclude 0 by chance" in line for line in lines)  # 2 comparisons at 95%

    acts["elu"]["difference_to_relu"] = _interval(0.015, 0.02)
    lines = findings.findings("compare", {"activations": acts})
    assert not any("higher than ReLU" in line or "lower than ReLU" in line for line in lines)


def _vanishing_result(relu_accuracy: float) -> dict:
    def activation(init, accuracy, runs, dead, dormant, verdicts):
        return {
            "init": init,
            "best_lr": 0.01,
            "validation_accuracy": accuracy,
            "test_accuracy": accuracy,
            "test_accuracy_runs": runs,
            "dead_fraction": dead,
            "dormant_fraction": dormant,
            "at_init": {"first_to_last_ratio": 1.0, "verdict": "ok"},
            "first_to_last_ratio_runs": [0.5, 0.7],
            "verdict_runs": verdicts,
            "grid": [
                {"lr": 0.003, "test_accuracy": accuracy - 0.3, "runs": [{"test_accuracy": a - 0.3} for a in runs]},
                {"lr": 0.01, "test_accuracy": accuracy,
                 "runs": [{"test_accuracy": a, "dead_per_layer": [0.0, 0.02, 0.1, 0.2]} for a in runs]},
                {"lr": 0.03, "test_accuracy": accuracy - 0.1, "runs": [{"test_accuracy": a - 0.1} for a in runs]},
            ],
        }  # fmt: skip

    return {
        "config": {"hidden_layers": 20, "width": 64},
        "activations": {
            "tanh": activation("xavier", 0.95, [0.94, 0.96], None, 0.0, ["ok", "ok"]),
            "relu": activation("he", relu_accuracy, [relu_accuracy - 0.2, relu_accuracy + 0.2], 0.07, 0.25,
                               ["ok", "ok"]),
        },
    }  # fmt: skip


def test_vanishing_section_explains_relu_trailing_tanh_with_evidence():
    from relukit.report import findings

    text = " | ".join(findings.findings("vanishing", _vanishing_result(0.60)))
    assert "still trails tanh by 35.0 points at depth 20" in text
    assert "the gradient is not the cause" in text and "'ok' on every seed" in text
    assert "7.0% of ReLU's hidden units are dead" in text
    assert "ReLU is the more fragile to train" in text and "up to 40.0 points apart at one rate" in text
    assert "relu 25.0% / 60.0%" in text  # dormant units next to accuracy, for every member
    assert "1.0% of the units in hidden layers 1-2 on average, 15.0% in layers 3-4" in text
    assert "He et al. 2015" in text and "(Fig. 3)" in text and "20/64" in text
    assert "grid's" not in text  # the chosen rate (0.01) is inside the grid
    text = " | ".join(findings.findings("vanishing", _vanishing_result(0.97)))
    assert "does not trail tanh" in text and "still trails" not in text


def test_readme_study_table_is_written_from_results(tiny_report):
    from relukit.report import readme

    results = _load(tiny_report)
    table = readme.study_table(results).splitlines()
    assert len(table) == 2 + len(STUDY_KEYS) and all(line.count(" | ") == 2 for line in table[2:])
    compare = next(line for line in table if line.startswith("| `compare`"))
    assert "differences to ReLU resolved at 95%" in compare and "highest" not in compare
    page = (Path(__file__).parents[1] / "README.md").read_text()
    updated = readme.update(page, results)
    assert updated.count(readme.BEGIN) == 1 and "\n".join(table) in updated
    assert updated.split(readme.BEGIN)[0] == page.split(readme.BEGIN)[0]  # nothing else changes
    with pytest.raises(ValueError, match="update: the README lacks the"):
        readme.update("no markers", results)
