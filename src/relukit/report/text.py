"""The words of the report: each study's question, method and published reference, the bibliography, and
one-line findings computed from the results. Values marked [unverified] were recalled from secondary
sources and not checked against the paper."""

from __future__ import annotations

import math

CITATIONS = {
    "he2015": "K. He, X. Zhang, S. Ren, J. Sun. Delving Deep into Rectifiers: Surpassing Human-Level Performance "
    "on ImageNet Classification. ICCV 2015. arXiv:1502.01852",
    "lu2020": "L. Lu, Y. Shin, Y. Su, G. E. Karniadakis. Dying ReLU and Initialization: Theory and Numerical "
    "Examples. Commun. Comput. Phys. 28(5), 2020. arXiv:1903.06733",
    "glorot2010": "X. Glorot, Y. Bengio. Understanding the difficulty of training deep feedforward neural "
    "networks. AISTATS 2010",
    "glorot2011": "X. Glorot, A. Bordes, Y. Bengio. Deep Sparse Rectifier Neural Networks. AISTATS 2011",
    "maas2013": "A. L. Maas, A. Y. Hannun, A. Y. Ng. Rectifier Nonlinearities Improve Neural Network Acoustic "
    "Models. ICML 2013 Workshop on Deep Learning for Audio, Speech and Language Processing",
    "xu2015": "B. Xu, N. Wang, T. Chen, M. Li. Empirical Evaluation of Rectified Activations in Convolutional "
    "Network. arXiv:1505.00853, 2015",
    "misra2019": "D. Misra. Mish: A Self Regularized Non-Monotonic Activation Function. BMVC 2020. arXiv:1908.08681",
    "scardapane2017": "S. Scardapane, S. Van Vaerenbergh, S. Totaro, A. Uncini. Kafnets: kernel-based "
    "non-parametric activation functions for neural networks. arXiv:1707.04035, 2017",
    "sokar2023": "G. Sokar, R. Agarwal, P. S. Castro, U. Evci. The Dormant Neuron Phenomenon in Deep Reinforcement "
    "Learning. ICML 2023",
    "wilson1927": "E. B. Wilson. Probable inference, the law of succession, and statistical inference. JASA 22, 1927",
}
LINKS = {
    "he2015": "https://arxiv.org/abs/1502.01852",
    "lu2020": "https://arxiv.org/abs/1903.06733",
    "xu2015": "https://arxiv.org/abs/1505.00853",
    "misra2019": "https://arxiv.org/abs/1908.08681",
    "scardapane2017": "https://arxiv.org/abs/1707.04035",
}

# Published numbers the studies echo (from the papers linked above), with their caveats.
XU2015 = {
    "caption": "Xu et al. 2015, Network in Network on CIFAR, test error (CIFAR-10 / CIFAR-100) [unverified except "
    "RReLU]",
    "columns": ["activation", "CIFAR-10", "CIFAR-100"],
    "rows": [
        ["ReLU", "0.1245", "0.4290"],
        ["Leaky ReLU (0.01)", "0.1266", "0.4205"],
        ["Leaky ReLU (1/5.5)", "0.1120", "0.4042"],
        ["PReLU", "0.1179", "0.4163"],
        ["RReLU", "0.1119", "0.4025"],
    ],
}
MISH2019 = {
    "caption": "Misra 2019 (Mish repository README), SqueezeNet on CIFAR-10, test accuracy, 23 runs",
    "columns": ["activation", "accuracy (%)"],
    "rows": [["Mish", "87.48"], ["Swish (SiLU)", "87.32"], ["GELU", "87.37"], ["ReLU", "86.66"], ["ELU", "86.41"],
             ["Leaky ReLU (0.3)", "86.85"], ["PReLU", "85.66"], ["SELU", "83.91"]],
}  # fmt: skip

STUDIES = {
    "nonlinearity": {
        "title": "Why a nonlinearity at all",
        "caption": (
            "Predicted probability of class 1 (color) and the 0.5 decision boundary (black) of each net; dots are "
            "test points."
        ),
        "question": "Does stacking layers help if nothing between them is nonlinear?",
        "method": (
            "The same {hidden_layers}-hidden-layer MLP (width {width}), trained the same way (Adam, {epochs} epochs) "
            "on two interleaved spirals, once with identity activations and once with ReLU. A composition of affine "
            "maps is affine, so the identity net is a linear classifier however deep; we check this numerically in "
            "float64 by reading off the affine map A x + b at 0 and the unit vectors and measuring the net's largest "
            "deviation from it on the test set."
        ),
        "reference": (
            "No paper needed: W3(W2(W1 x + b1) + b2) + b3 = (W3 W2 W1) x + b'. The ReLU net is piecewise linear with "
            "many pieces and can bend its decision boundary around the spirals."
        ),
        "cites": [],
    },
    "vanishing": {
        "title": "Vanishing gradients",
        "caption": (
            "Gradient L2 norm of each Linear layer's parameters for the mean loss over the training set (log "
            "scale), at initialization and after training."
        ),
        "question": "How does the gradient's size change from the last layer to the first in a 20-layer MLP?",
        "method": (
            "A {hidden_layers}-hidden-layer MLP (width {width}) on digits per activation; sigmoid and tanh with "
            "Xavier init, the ReLU family with He init. GradientFlowMonitor records the gradient L2 norm per Linear "
            "layer for the mean loss over the whole training set, at initialization and after {epochs} epochs of SGD "
            "(lr {lr}, momentum {momentum}); its verdict is 'vanishing' when first-layer norm / last-layer norm < "
            "1e-3."
        ),
        "reference": (
            "Glorot & Bengio 2010 showed sigmoid nets saturating and back-propagated gradients shrinking towards the "
            "input layers; He et al. 2015 derived the init that keeps ReLU nets' gradient norms constant across depth "
            "(Var[w] = 2 / fan_in). KAF (Scardapane et al. 2017) is included when relukit provides it."
        ),
        "cites": ["glorot2010", "he2015", "scardapane2017"],
    },
    "born_dead": {
        "title": "Born dead: deep narrow ReLU nets at initialization",
        "caption": (
            "Left: fraction of random nets dead at the fixed input (dots, with the 95% Wilson interval) and the "
            "exact 1 - (1 - 2^-N)^H (lines). Right: fraction of nets whose last hidden layer is constant on every "
            "input."
        ),
        "question": ("How likely is a randomly initialized ReLU net to be dead (output all zeros) before training?"),
        "method": (
            "Monte Carlo over {trials} random nets per cell with zero biases and N(0, 1) weights, width N and H "
            "hidden layers, at one fixed input (a digits image): the fraction whose last hidden layer is all zero, "
            "with a Wilson score interval, next to the exact probability. Then the fraction of nets whose last hidden "
            "layer is constant over every input of the data set ({constant_trials} nets per cell, H = "
            "{constant_hidden_layers}), for several initializations."
        ),
        "reference": (
            "Lu, Shin, Su & Karniadakis 2020: a deep ReLU net with symmetric initialization is born dead with "
            "probability tending to 1 with depth. With zero biases each layer of width N is all zero with probability "
            "2^-N given a non-zero input, so P(dead by layer H) = 1 - (1 - 2^-N)^H exactly (e.g. N = 3, H = 10: "
            "0.737; N = 5, H = 10: 0.272)."
        ),
        "cites": ["lu2020", "wilson1927"],
    },
    "init": {
        "title": "Xavier vs He initialization in a 30-layer ReLU net",
        "caption": (
            "Left: minibatch training loss (faint) and its mean over an epoch (bold), per seed. Right: the "
            "forward signal E[a^2] per hidden layer at initialization, relative to layer 1, measured (solid) and "
            "predicted (dashed)."
        ),
        "question": "Does a 30-layer plain ReLU MLP train from Xavier initialization, and from He's?",
        "method": (
            "A {hidden_layers}-hidden-layer ReLU MLP (width {width}, zero biases) on digits, {epochs} epochs of SGD "
            "(lr {lr}, momentum {momentum}), the same data order for both inits, {seeds} seed(s) each. We also "
            "measure the forward signal E[a^2] per layer at initialization against the theory: each square ReLU layer "
            "scales it by fan_in Var[w] / 2 (1/2 for Xavier, 1 for He)."
        ),
        "reference": (
            "He et al. 2015 (Fig. 3): a 30-layer plain ReLU net initialized with Xavier's rule stalls, while their "
            "initialization converges. We report what we measure."
        ),
        "cites": ["he2015", "glorot2010"],
    },
    "dying": {
        "title": "Dying ReLU under a large learning rate, and reviving it",
        "caption": (
            "Left: dead units (dormant for smooth members) over the whole training set after each epoch; dotted: "
            "ReLU at the control learning rate. Right: dead units after training, right after revive, and after "
            "fine-tuning with and without revive."
        ),
        "question": "How many units die when the learning rate is too large, and does reviving them help?",
        "method": (
            "A {hidden_layers}-hidden-layer MLP (width {width}, He init) on digits trained for {epochs} epochs with "
            "Adam at lr {lr} (the usual is 1e-3), for ReLU, LeakyReLU, PReLU, Mish (and KAF). After every epoch "
            "relukit.diagnostics.scan (a DeadUnitMonitor over the whole training set) counts the dead units (never > "
            "0; for leaky members stuck in the negative region) and dormant ones (ReDo score <= 0.1; the measure for "
            "smooth members). Then revive(model, report) re-initializes the dead units; the revived model and an "
            "untouched copy are fine-tuned the same way ({finetune_epochs} epochs at lr {finetune_lr}). A control "
            "trains ReLU at lr {control_lr} from the start."
        ),
        "reference": (
            "Glorot, Bordes & Bengio 2011: about half of the rectifier units are zero on a given input at "
            "initialization (activation rate ~0.5). Lu et al. 2020 analyse dying ReLU; Maas et al. 2013 (Leaky ReLU) "
            "and He et al. 2015 (PReLU) keep a gradient for negative inputs; Sokar et al. 2023 define dormant units "
            "and reset them (ReDo)."
        ),
        "cites": ["glorot2011", "lu2020", "maas2013", "he2015", "sokar2023"],
    },
    "compare": {
        "title": "The family side by side",
        "caption": (
            "Left: test accuracy, mean and standard deviation over seeds. Right: bytes autograd saves for "
            "backward in one training step, with torch's activation modules and with relukit's."
        ),
        "question": "On one small CNN and dataset, how do the members compare in accuracy, time and memory?",
        "method": (
            "A two-convolution CNN on 8x8 digits ({channels} and {channels2} channels), {epochs} epochs of Adam (lr "
            "{lr}), the same data order per seed, {seeds} seeds per activation; test accuracy (mean ± std over "
            "seeds), median seconds per epoch (wall clock, this machine), and bytes saved for backward in one "
            "training step (SavedTensorMeter) with relukit's modules and with torch's own."
        ),
        "reference": (
            "This echoes the comparisons of Xu et al. 2015 (ReLU, Leaky ReLU, PReLU, RReLU; Network in Network on "
            "CIFAR) and of the Mish paper (Misra 2019; SqueezeNet on CIFAR-10). Digits is a far easier problem than "
            "CIFAR: we do not claim to reproduce their numbers, only show the same kind of table."
        ),
        "cites": ["xu2015", "misra2019", "scardapane2017"],
        "tables": [XU2015, MISH2019],
    },
}


def method(key: str, config: dict) -> str:
    """The study's method, with the numbers of the configuration it ran with."""
    channels = config.get("channels", 0)
    return STUDIES[key]["method"].format(**config, channels2=2 * channels)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def findings(key: str, result: dict) -> list[str]:
    """Plain sentences stating what was measured (numbers only; interpretation is the reader's)."""
    return _FINDINGS[key](result)


def _nonlinearity(result: dict) -> list[str]:
    return [
        f"{name}: test accuracy {_pct(m['test_accuracy'])}; largest deviation from an affine map "
        f"{m['affine_residual']:.1e} (relative)"
        for name, m in result["models"].items()
    ]


def _loss(losses: list) -> str:
    return "n/a" if not losses or losses[-1] is None else f"{losses[-1]:.3g}"


def _vanishing(result: dict) -> list[str]:
    return [
        f"{name} ({r['init']} init): first/last gradient norm {r['at_init']['first_to_last_ratio']:.2g} at init "
        f"({r['at_init']['verdict']}), {r['after_training']['first_to_last_ratio']:.2g} after training "
        f"({r['after_training']['verdict']}); final training loss {_loss(r['epoch_loss'])}, test accuracy "
        f"{_pct(r['test_accuracy'])}"
        if r["at_init"]["first_to_last_ratio"] is not None and r["after_training"]["first_to_last_ratio"] is not None
        else f"{name}: non-finite gradients ({r['after_training']['verdict']})"
        for name, r in result["activations"].items()
    ]


def _born_dead(result: dict) -> list[str]:
    level = round(100 * result["config"]["ci_level"])
    cells = len(result["grid"])
    worst = max(result["grid"], key=lambda c: abs(c["measured"] - c["exact"]))
    return [
        f"{result['inside_interval']} of {cells} exact probabilities lie inside the {level}% interval of the measured "
        f"fraction ({result['expected_inside']:.2f} expected by chance alone).",
        f"Largest gap: N = {worst['width']}, H = {worst['hidden_layers']}: measured {worst['measured']:.4f}, exact "
        f"{worst['exact']:.4f}, over {worst['trials']} nets.",
    ]


def _init(result: dict) -> list[str]:
    lines = []
    for scheme, r in result["schemes"].items():
        measured = ", ".join(f"{run['measured_ratio']:.2g}" for run in r["runs"])
        lines.append(
            f"{scheme}: signal ratio E[a_L^2]/E[a_1^2] at init {measured} (theory {r['predicted_ratio']:.2g}); "
            f"{r['stalled_runs']}/{len(r['runs'])} runs stalled at chance loss; mean test accuracy "
            f"{_pct(r['mean_test_accuracy'])}"
        )
    return lines


def _dying(result: dict) -> list[str]:
    lines = []
    for name, r in result["activations"].items():
        measure = "dead" if r["dead_applicable"] else "dormant"
        values = r["dead_fraction"] if r["dead_applicable"] else r["dormant_fraction"]
        line = f"{name}: {measure} {_pct(values[0])} at init -> {_pct(values[-1])} after training, test accuracy "
        line += _pct(r["test_accuracy"])
        if r.get("revive"):
            v = r["revive"]
            line += (
                f"; revive: {v['revived_units']} units, dead {_pct(v['dead_fraction_before'])} -> "
                f"{_pct(v['dead_fraction_after'])}; fine-tuned {_pct(v['accuracy_finetuned'])} with revive vs "
                f"{_pct(v['accuracy_finetuned_without_revive'])} without"
            )
        lines.append(line)
    control = result["control"]["relu"]
    lines.append(
        f"control (relu, lr {result['config']['control_lr']}): dead {_pct(control['dead_fraction'][-1])} after "
        f"training, test accuracy {_pct(control['test_accuracy'])}"
    )
    return lines


def _compare(result: dict) -> list[str]:
    ranked = sorted(result["activations"].items(), key=lambda item: -item[1]["mean_test_accuracy"])
    best, worst = ranked[0], ranked[-1]
    lines = [
        f"highest mean test accuracy: {best[0]} {_pct(best[1]['mean_test_accuracy'])}; lowest: {worst[0]} "
        f"{_pct(worst[1]['mean_test_accuracy'])} ({len(best[1]['runs'])} seeds each)"
    ]
    for name, r in result["activations"].items():
        ours, theirs = r["saved_bytes_per_step"], r["saved_bytes_per_step_torch"]
        if theirs and not math.isclose(ours, theirs):
            lines.append(f"{name}: relukit saves {ours / theirs:.2f}x the bytes torch's module saves per step")
    return lines


_FINDINGS = {
    "nonlinearity": _nonlinearity,
    "vanishing": _vanishing,
    "born_dead": _born_dead,
    "init": _init,
    "dying": _dying,
    "compare": _compare,
}
