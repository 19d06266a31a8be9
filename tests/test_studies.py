"""Each study in its tiny configuration, checked against independent references."""

from __future__ import annotations

import math

import pytest
import torch

from relukit.studies import _common, born_dead, compare, initialization, nonlinearity


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

    result = vanishing.run(vanishing.CONFIGS["tiny"], seed=0)
    sigmoid, relu = result["activations"]["sigmoid"], result["activations"]["relu"]
    layers = vanishing.CONFIGS["tiny"]["hidden_layers"] + 1
    assert len(sigmoid["at_init"]["layer_norms"]) == result["layers"] == layers
    # sigmoid' <= 1/4 per layer (Glorot & Bengio 2010): the first layer's gradient is orders of magnitude smaller
    assert sigmoid["at_init"]["verdict"] == "vanishing" and sigmoid["at_init"]["first_to_last_ratio"] < 1e-3
    assert relu["at_init"]["verdict"] == "ok" and 0.1 < relu["at_init"]["first_to_last_ratio"] < 10
    norms = sigmoid["at_init"]["layer_norms"]
    assert norms[0] == pytest.approx(sigmoid["at_init"]["first_to_last_ratio"] * norms[-1], rel=1e-9)
    assert "kaf" in result["activations"]


def test_dying_counts_dead_units_and_revives_them(deterministic):
    from relukit.studies import dying

    result = dying.run(dying.CONFIGS["tiny"], seed=0)
    relu, mish = result["activations"]["relu"], result["activations"]["mish"]
    assert mish["dead_applicable"] is False and all(v is None for v in mish["dead_fraction"])
    assert relu["dead_applicable"] is True
    assert 0.35 < relu["activation_rate"][0] < 0.65  # about half the units fire at init (Glorot et al. 2011)
    assert relu["dead_fraction"][-1] > relu["dead_fraction"][0]  # the large learning rate kills units
    revive = relu["revive"]
    assert revive["revived_units"] > 0
    assert revive["dead_fraction_after"] < revive["dead_fraction_before"]
    epochs = dying.CONFIGS["tiny"]["epochs"]
    assert len(relu["dead_fraction"]) == epochs + 1 and len(result["control"]["relu"]["dead_fraction"]) == epochs + 1


def test_every_scale_configures_the_same_knobs():
    from relukit import studies

    for name in studies.STUDIES:
        configs = studies.load(name).CONFIGS
        assert set(configs) == set(studies.SCALES), name
        assert set(configs["tiny"]) == set(configs["quick"]) == set(configs["full"]), name


def test_deterministic_context_pins_and_restores_settings(monkeypatch):
    from relukit._ops import fused
    from relukit.studies.runner import deterministic

    monkeypatch.setenv("RELUKIT_FUSED", "1")
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    with deterministic("cpu"):
        assert not fused.enabled() and torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        torch.rand(3)
    assert fused.enabled() and torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is untouched
