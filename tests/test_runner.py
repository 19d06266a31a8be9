"""run_studies: worker processes give a serial run's numbers; scheduling, errors and bad arguments."""

from __future__ import annotations

import types

import pytest
import torch
from tests.helpers import without_timing

from relukit import cli, studies
from relukit.studies import runner

CHEAP = ["born-dead", "nonlinearity"]  # the two cheapest studies, in their tiny configurations


def test_parallel_run_equals_serial_run():
    calls = {1: [], 2: []}

    def recorder(jobs):
        def progress(items, description=""):
            calls[jobs].append(description)
            return items

        return progress

    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    started, finished = [], []
    parallel = runner.run_studies(
        CHEAP, scale="tiny", jobs=2, progress=recorder(2), on_start=started.append,
        on_result=lambda key, result: finished.append(key),
    )  # fmt: skip
    serial = runner.run_studies(CHEAP, scale="tiny", jobs=1, progress=recorder(1))
    assert calls[2] == [] and calls[1]  # jobs=2 ran in workers (which cannot call this process's progress)
    assert without_timing(parallel) == without_timing(serial)
    # the keys in the order the studies were named, not the order they finished in
    assert list(parallel) == list(serial) == ["meta", "born_dead", "nonlinearity"]
    assert all(parallel[key]["timing"]["wall_seconds"] > 0 for key in ("born_dead", "nonlinearity"))
    assert sorted(started) == sorted(finished) == ["born_dead", "nonlinearity"]
    # the numbers are real: born-dead's exact values are the formula 1 - (1 - 2^-N)^H
    cell = parallel["born_dead"]["grid"][0]
    assert cell["exact"] == pytest.approx(1 - (1 - 2.0 ** -cell["width"]) ** cell["hidden_layers"], rel=1e-12)
    # this process's settings and random stream are untouched
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), rng)


def test_an_error_in_a_worker_names_its_study(monkeypatch, tmp_path):
    missing = tmp_path / "missing.npz"
    configuration = runner.configuration

    def broken(name, scale, data=None):  # init's worker is handed a data file that does not exist
        config = configuration(name, scale, data)
        return {**config, "data": str(missing)} if name == "init" else config

    monkeypatch.setattr(runner, "configuration", broken)
    with pytest.raises(Exception) as info:
        runner.run_studies(["nonlinearity", "init"], scale="tiny", jobs=2)
    assert "in study 'init'" in info.value.__notes__
    assert "missing.npz" in str(info.value)


def test_costliest_first(monkeypatch):
    modules = {"a": types.SimpleNamespace(COST=5), "b": types.SimpleNamespace(COST=50), "new": types.SimpleNamespace()}
    monkeypatch.setattr(runner.studies, "load", modules.__getitem__)
    assert runner.costliest_first(["a", "b", "new"]) == ["new", "b", "a"]  # unknown cost: started first


def test_every_study_declares_its_cost():
    assert all(getattr(studies.load(name), "COST", 0) > 0 for name in studies.STUDIES)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_bad_jobs_is_rejected(jobs):
    with pytest.raises(ValueError, match=f"run_studies: jobs must be an int >= 1, got {jobs!r}"):
        runner.run_studies(["nonlinearity"], scale="tiny", jobs=jobs)


def test_cli_rejects_bad_jobs(tmp_path, capsys):
    assert cli.main(["study", "--tiny", "--jobs", "0", "--out", str(tmp_path / "out")]) == 2
    assert "relukit study: run_studies: jobs must be an int >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):  # argparse: "argument --jobs: invalid int value: 'two'"
        cli.main(["study", "--jobs", "two"])
    assert "argument --jobs: invalid int value: 'two'" in capsys.readouterr().err
