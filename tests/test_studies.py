"""Each study in its tiny configuration, checked against independent references."""

from __future__ import annotations

import math

import pytest
import torch

from relukit.studies import _common, born_dead, compare, initialization, nonlinearity
from relukit.studies import statistics as stats


@pytest.fixture(scope="module")
def deterministic():
    from relukit.studies.runner import deterministic

    with deterministic("cpu"):
        yield


# ----------------------------------------------------------------------------------------------
# born-dead: the exact formula, the interval, and the Monte Carlo against both
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("width", "layers", "expected"), [(3, 10, 0.737), (5, 10, 0.272), (2, 1, 0.25), (8, 50, 0.178)]
)
def test_exact_dead_probability(width, layers, expected):
    assert born_dead.exact_dead_probability(width, layers) == pytest.approx(1 - (1 - 2**-width) ** layers, rel=1e-12)
    assert born_dead.exact_dead_probability(width, layers) == pytest.approx(expected, abs=5e-4)  # REFERENCES.md


def test_wilson_interval_known_values():
    # Textbook values (Wilson 1927; Newcombe 1998, Table I): 95% for 0/10 and 5/10.
    assert born_dead.wilson_interval(0, 10, 0.95) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert born_dead.wilson_interval(5, 10, 0.95) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    with pytest.raises(ValueError, match="wilson_interval: need 0 <= successes <= trials"):
        born_dead.wilson_interval(11, 10, 0.95)


def test_born_dead_measured_matches_the_exact_formula(deterministic):
    config = {**born_dead.CONFIGS["tiny"], "ci_level": 0.999}  # 12 cells at 99.9%: a family-wise ~99% check
    result = born_dead.run(config, seed=0)
    assert [set(c) for c in result["grid"]] == [
        {"width", "hidden_layers", "trials", "measured", "exact", "ci_low", "ci_high"}
    ] * len(result["grid"])
    for cell in result["grid"]:
        assert cell["ci_low"] <= cell["exact"] <= cell["ci_high"], cell
    # The check has power: a plausible wrong formula (one layer fewer) falls outside somewhere.
    wrong = [1 - (1 - 2 ** -c["width"]) ** (c["hidden_layers"] - 1) for c in result["grid"]]
    assert any(not c["ci_low"] <= w <= c["ci_high"] for c, w in zip(result["grid"], wrong))
    constant = {(c["variant"], c["width"]): c["constant_fraction"] for c in result["constant"]}
    leaky = [v for (name, _), v in constant.items() if name.startswith("leaky")]
    assert leaky and all(v == 0 for v in leaky)  # leaky ReLU is injective: never constant
    assert constant[("relu, N(0,1) weights, zero bias", 2)] > 0.5  # narrow and deep: mostly born dead


def test_dead_at_input_is_scale_free():
    """Zero-bias ReLU nets are positively homogeneous: the input's scale cannot matter."""
    x = torch.randn(7, dtype=torch.float64)
    counts = [
        born_dead.dead_at_input(x * scale, 3, 5, 500, torch.Generator().manual_seed(1)) for scale in (1e-3, 1.0, 1e3)
    ]
    assert counts[0] == counts[1] == counts[2]


# ----------------------------------------------------------------------------------------------
# nonlinearity, init, compare
# ----------------------------------------------------------------------------------------------
def test_nonlinearity_identity_net_is_one_affine_map(deterministic):
    result = nonlinearity.run(nonlinearity.CONFIGS["tiny"], seed=0)
    models = result["models"]
    assert models["identity"]["affine_residual"] < 1e-12  # float64 round-off: the net IS A x + b
    assert models["relu"]["affine_residual"] > 1e-3
    grid = result["boundary"]
    assert len(grid["probability"]["relu"]) == len(grid["x"]) * len(grid["y"])
    assert all(0 <= p <= 1 for p in grid["probability"]["identity"])


def test_init_signal_follows_he_et_al(deterministic):
    result = initialization.run(initialization.CONFIGS["tiny"], seed=0)
    xavier, he = result["schemes"]["xavier"], result["schemes"]["he"]
    assert xavier["predicted_ratio"] == pytest.approx(2.0**-29)
    assert he["predicted_ratio"] == 1.0
    # Measured over one random net: theory's 2^-29 up to finite-width noise, far from He's ~1.
    assert all(1e-11 < run["measured_ratio"] < 1e-7 for run in xavier["runs"])
    assert all(1e-2 < run["measured_ratio"] < 1e2 for run in he["runs"])
    assert result["chance_loss"] == pytest.approx(math.log(10))
    assert len(he["runs"][0]["step_loss"]) == math.ceil(1347 / 64) * initialization.CONFIGS["tiny"]["epochs"]


def test_compare_saved_bytes_match_hand_counts(deterministic):
    """Saved bytes per step, counted by hand for the CNN (batch 64: 16x8x8 and 32x4x4 activations)."""
    result = compare.run({**compare.CONFIGS["tiny"], "activations": ["relu", "leaky_relu", "mish"]}, seed=0)
    elements = 64 * 16 * 8 * 8 + 64 * 32 * 4 * 4  # both activation outputs
    runs = result["activations"]
    # relu: torch saves its output, which the next layer saves anyway; relukit adds its 1-bit codes.
    assert runs["relu"]["saved_bytes_per_step"] - runs["relu"]["saved_bytes_per_step_torch"] == elements // 8
    # leaky_relu: torch saves its fp32 input; relukit 1-bit codes instead.
    saved = runs["leaky_relu"]["saved_bytes_per_step_torch"] - runs["leaky_relu"]["saved_bytes_per_step"]
    assert saved == 4 * elements - elements // 8
    assert runs["mish"]["saved_bytes_per_step"] == runs["mish"]["saved_bytes_per_step_torch"]
    assert all(0.1 < r["mean_test_accuracy"] <= 1 and len(r["runs"]) == 2 for r in runs.values())
    # the same seeds for every activation; the interval and the paired difference to ReLU in the results
    assert [r["seed"] for r in runs["relu"]["runs"]] == [r["seed"] for r in runs["mish"]["runs"]]
    assert runs["mish"]["test_accuracy_interval"]["mean"] == pytest.approx(runs["mish"]["mean_test_accuracy"])
    expected = [m["test_accuracy"] - r["test_accuracy"] for m, r in zip(runs["mish"]["runs"], runs["relu"]["runs"])]
    assert runs["mish"]["difference_to_relu"]["mean"] == pytest.approx(sum(expected) / len(expected))
    assert "difference_to_relu" not in runs["relu"]


def test_derive_seed_is_stable_and_order_free():
    # pinned: the same study seed and names give the same run seed in every process and on every machine
    assert _common.derive_seed(0, "compare", "relu", 1) == 3625304920
    assert len({_common.derive_seed(s, "x", k) for s in range(3) for k in "abc"}) == 9


def test_initialize_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="initialize: scheme must be"):
        _common.initialize(torch.nn.Linear(2, 2), "lecun")


# ----------------------------------------------------------------------------------------------
# vanishing, dying: through relukit.diagnostics
# ----------------------------------------------------------------------------------------------
def test_vanishing_sigmoid_vanishes_relu_does_not(deterministic):
    from relukit.studies import vanishing

    config = vanishing.CONFIGS["tiny"]
    result = vanishing.run(config, seed=0)
    sigmoid, relu = result["activations"]["sigmoid"], result["activations"]["relu"]
    layers = config["hidden_layers"] + 1
    assert len(sigmoid["at_init"]["layer_norms"]) == result["layers"] == layers
    # sigmoid' <= 1/4 per layer (Glorot & Bengio 2010): the first layer's gradient is orders of magnitude smaller
    assert sigmoid["at_init"]["verdict"] == "vanishing" and sigmoid["at_init"]["first_to_last_ratio"] < 1e-3
    assert relu["at_init"]["verdict"] == "ok" and 0.1 < relu["at_init"]["first_to_last_ratio"] < 10
    norms = sigmoid["at_init"]["layer_norms"]
    assert norms[0] == pytest.approx(sigmoid["at_init"]["first_to_last_ratio"] * norms[-1], rel=1e-9)
    assert "kaf" in result["activations"]
    for r in result["activations"].values():
        # every rate of the grid ran on every seed; the rate is the one with the best validation accuracy
        assert [g["lr"] for g in r["grid"]] == config["lr_grid"]
        assert all(len(g["runs"]) == config["seeds"] for g in r["grid"])
        best = max(r["grid"], key=lambda g: g["validation_accuracy"])
        assert r["best_lr"] == best["lr"] and r["test_accuracy"] == best["test_accuracy"]
    assert relu["dead_fraction"] is not None and 0 <= relu["dead_fraction"] <= 1  # DeadUnitMonitor after training
    assert sigmoid["dead_fraction"] is None  # a smooth member cannot be dead, only dormant
    assert result["fit_samples"] + result["validation_samples"] == 1347


def test_vanishing_validation_split_is_stratified_and_disjoint():
    from relukit.studies import vanishing

    x = torch.arange(100, dtype=torch.float32)[:, None]
    y = torch.arange(100) % 4
    (x_fit, y_fit), (x_val, y_val) = vanishing.validation_split(x, y, 0.2)
    assert torch.bincount(y_val).tolist() == [5, 5, 5, 5]
    assert sorted(x_fit[:, 0].tolist() + x_val[:, 0].tolist()) == list(range(100))


def test_dying_counts_dead_units_and_revives_them(deterministic):
    from relukit.studies import dying

    config = dying.CONFIGS["tiny"]
    result = dying.run(config, seed=0)
    relu, mish = result["activations"]["relu"], result["activations"]["mish"]
    assert mish["dead_applicable"] is False and mish["dead_fraction_interval"] is None
    assert all(v is None for run in mish["runs"] for v in run["dead_fraction"])
    assert relu["dead_applicable"] is True and len(relu["runs"]) == config["seeds"]
    first = relu["runs"][0]
    assert 0.35 < first["activation_rate"][0] < 0.65  # 1/2 at init: zero biases, symmetric weights
    assert first["dead_fraction"][-1] > first["dead_fraction"][0]  # the large learning rate kills units
    revive = first["revive"]
    assert revive["revived_units"] > 0 and revive["dead_fraction_after"] < revive["dead_fraction_before"]
    finals = [run["dead_fraction"][-1] for run in relu["runs"]]
    assert relu["dead_fraction_interval"]["mean"] == pytest.approx(sum(finals) / len(finals))
    accuracy = [run["test_accuracy"] for run in mish["runs"]]
    baseline = [run["test_accuracy"] for run in relu["runs"]]
    assert mish["difference_to_relu"]["mean"] == pytest.approx(sum(accuracy) / 2 - sum(baseline) / 2)
    assert "difference_to_relu" not in relu
    epochs = config["epochs"]
    assert len(first["dead_fraction"]) == epochs + 1 and len(result["control"]["relu"]["runs"][0]["dead_fraction"]) == (
        epochs + 1
    )


# ----------------------------------------------------------------------------------------------
# statistics: t quantiles against published tables and SciPy, intervals, the claim rule
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("df", "level", "expected"),
    # printed Student t tables: the two-sided quantile t((1 + level) / 2, df)
    [(1, 0.95, 12.706), (2, 0.95, 4.303), (4, 0.95, 2.776), (9, 0.95, 2.262), (29, 0.95, 2.045),
     (1, 0.99, 63.657), (5, 0.90, 2.015), (1000, 0.95, 1.962)],
)  # fmt: skip
def test_t_quantile_known_values(df, level, expected):
    assert stats.t_quantile(level, df) == pytest.approx(expected, abs=1e-3)


def test_t_quantile_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 41), 77, 250]:
        for level in (0.5, 0.9, 0.95, 0.99, 0.999):
            assert stats.t_quantile(level, df) == pytest.approx(scipy_stats.t.ppf((1 + level) / 2, df), rel=1e-9)


def test_t_quantile_rejects_bad_input():
    with pytest.raises(ValueError, match="t_quantile: df must be an int >= 1, got 0"):
        stats.t_quantile(0.95, 0)
    with pytest.raises(ValueError, match="t_quantile: level must be in"):
        stats.t_quantile(1.0, 3)


def test_t_interval_by_hand():
    interval = stats.t_interval([0.90, 0.95, 1.00])
    half = 4.302652729749464 * 0.05 / math.sqrt(3)  # t(0.975, 2) s / sqrt(n)
    assert interval["mean"] == pytest.approx(0.95) and interval["std"] == pytest.approx(0.05)
    assert (interval["low"], interval["high"]) == pytest.approx((0.95 - half, 0.95 + half))
    single = stats.t_interval([0.5])
    assert single["low"] is None and single["n"] == 1
    with pytest.raises(ValueError, match="t_interval: values must be"):
        stats.t_interval([])


def test_paired_difference_names_a_winner_only_when_the_interval_excludes_zero():
    base = [0.90, 0.92, 0.94, 0.91]
    better = [b + d for b, d in zip(base, [0.010, 0.012, 0.011, 0.013])]  # consistent +1.15 points
    noisy = [b + d for b, d in zip(base, [0.020, -0.015, 0.010, -0.012])]  # mean > 0, interval holds 0
    assert stats.paired_difference(better, base)["resolved"] == "higher"
    assert stats.paired_difference(base, better)["resolved"] == "lower"
    difference = stats.paired_difference(noisy, base)
    assert difference["mean"] > 0 and difference["low"] < 0 < difference["high"] and difference["resolved"] is None
    # pairing removes the spread between seeds: the difference is known far better than either mean
    assert stats.paired_difference(better, base)["half_width"] < stats.t_interval(better)["half_width"]
    same = [b + 0.01 for b in base]  # identical differences: a zero-width interval is no evidence of spread
    assert stats.paired_difference(same, base)["resolved"] is None
    assert stats.paired_difference([0.9], [0.8])["resolved"] is None  # one seed: no interval, no claim
    with pytest.raises(ValueError, match="paired_difference: values and baseline must pair up, got 2 and 1"):
        stats.paired_difference([0.9, 0.8], [0.8])


def test_compare_runs_are_paired_across_activations():
    """Run i of every activation starts from the same convolution and linear weights."""
    dataset = __import__("relukit").data.digits()
    weights = {}
    for name in ("relu", "gelu", "prelu", "kaf"):
        torch.manual_seed(_common.derive_seed(0, compare.KEY, 0))
        model = compare.build(dataset, name, 16)
        weights[name] = [p.detach().clone() for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                         for p in m.parameters()]  # fmt: skip
    for name in ("gelu", "prelu", "kaf"):
        assert all(torch.equal(a, b) for a, b in zip(weights["relu"], weights[name])), name


def test_every_scale_configures_the_same_knobs():
    from relukit import studies

    for name in studies.STUDIES:
        configs = studies.load(name).CONFIGS
        assert set(configs) == set(studies.SCALES), name
        assert set(configs["tiny"]) == set(configs["quick"]) == set(configs["full"]), name


def test_deterministic_context_pins_and_restores_settings(monkeypatch):
    from relukit.studies.runner import deterministic

    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    with deterministic("cpu"):
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        torch.rand(3)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is untouched
