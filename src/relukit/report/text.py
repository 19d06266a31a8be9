"""The words of the report: each study's question, method and published reference, and the bibliography.

Every published number printed here was checked against its source, and its place there (table, figure,
section) is named next to it; a number that could not be checked is not printed. Exact values (formulas)
are computed, not quoted. The sentences that state what was measured are in ``findings.py``."""

from __future__ import annotations

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
    "hanin2018": "B. Hanin, D. Rolnick. How to Start Training: The Effect of Initialization and Architecture. "
    "NeurIPS 2018",
    "student1908": "Student (W. S. Gosset). The probable error of a mean. Biometrika 6(1), 1908",
    "novikov2023": "G. Novikov, D. Bershatsky, J. Gusak, A. Shonenkov, D. Dimitrov, I. Oseledets. Few-Bit Backward: "
    "Quantized Gradients of Activation Functions for Memory Footprint Reduction. ICML 2023. arXiv:2202.00441",
}
LINKS = {
    "he2015": "https://arxiv.org/abs/1502.01852",
    "lu2020": "https://arxiv.org/abs/1903.06733",
    "xu2015": "https://arxiv.org/abs/1505.00853",
    "scardapane2017": "https://arxiv.org/abs/1707.04035",
    "misra2019": "https://github.com/digantamisra98/Mish",
    "novikov2023": "https://arxiv.org/abs/2202.00441",
    "hanin2018": "https://papers.nips.cc/paper_files/paper/2018/hash/d81f9c1be2e08964bf9f24b15f0e4900-Abstract.html",
}

# Published numbers the studies echo, each checked against its source; "where" names the place.
MISH2019 = {
    "caption": "Mish repository README (Misra), section \"Significance Level\", table \"Sample Size = 23\": SqueezeNet "
    "on CIFAR-10, 50 epochs, Adam lr 0.001, batch 128, 23 runs; test accuracy (%) and the 95% interval of the "
    "difference to Mish as printed there",
    "where": "github.com/digantamisra98/Mish README.md at commit 0004347, Significance Level, Sample Size = 23",
    "columns": ["activation", "mean accuracy (%)", "std", "95% CI of the difference to Mish"],
    "rows": [["Mish", "87.48", "0.3967", "-"], ["Swish-1 (SiLU)", "87.32", "0.414", "-0.3975 to 0.0844"],
             ["GELU", "87.37", "0.472", "-0.3682 to 0.1499"], ["ReLU", "86.66", "0.584", "-1.1179 to -0.5247"],
             ["ELU", "86.41", "0.3371", "-1.2931 to -0.8556"], ["Leaky ReLU (0.3)", "86.85", "0.4569",
             "-0.8860 to -0.3774"], ["RReLU", "86.87", "0.4478", "-0.8623 to -0.3595"],
             ["PReLU", "85.66", "2.2406", "-2.7715 to -0.8590"], ["SELU", "83.91", "0.5995", "-3.8713 to -3.2670"]],
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
            "Gradient L2 norm of each Linear layer's parameters for the mean loss over the training split (log "
            "scale), at initialization and after training at each activation's chosen learning rate (first seed); "
            "right: dead units per hidden layer after training (ReLU family)."
        ),
        "question": (
            "How does the gradient's size change from the last layer to the first in a 20-layer MLP, and how does "
            "each activation train when it gets its own learning rate?"
        ),
        "method": (
            "A {hidden_layers}-hidden-layer MLP (width {width}, no normalization) on digits per activation; sigmoid "
            "and tanh with Xavier init, the ReLU family with He init. Every activation gets the same budget ({epochs} "
            "epochs of SGD, momentum {momentum}, batch {batch_size}) at every learning rate of the grid {lr_grid}, "
            "on the same {seeds} seed(s) (same initial weights and data order per seed); the rate is chosen by mean "
            "accuracy on a held-out {validation_fraction:.0%} of the training set, and the test set is touched only "
            "to report the chosen rate's accuracy. GradientFlowMonitor records the gradient L2 norm per Linear layer "
            "for the mean loss over the training split at initialization and after training (verdict 'vanishing' "
            "when first-layer norm / last-layer norm < 1e-3); a DeadUnitMonitor scan over the training split counts "
            "dead units (never > 0) and dormant ones (ReDo score <= 0.1)."
        ),
        "reference": (
            "Glorot & Bengio 2010 showed sigmoid nets saturating and back-propagated gradients shrinking towards the "
            "input layers; He et al. 2015 derived the init that keeps ReLU nets' gradient norms constant across depth"
            " (Var[w] = 2 / fan_in) and trained a 30-layer plain ReLU net with it, where Xavier's init stalls (their "
            "Fig. 3), a result about starting to train. Hanin & Rolnick 2018 (abstract) prove a second failure mode "
            "of fully connected ReLU nets even with Var[w] = 2 / fan_in: the variance of the activations' length can "
            "grow exponentially, and is kept in check by keeping the sum of reciprocal widths constant (here 20 "
            "hidden layers of width 64: sum 1/n = 0.31). KAF (Scardapane et al. 2017) is included when relukit "
            "provides it."
        ),
        "cites": ["glorot2010", "he2015", "hanin2018", "scardapane2017"],
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
            "Left: dead units (dormant for smooth members) over the whole training set after each epoch, mean over "
            "seeds (thin: each seed); dotted: ReLU at the control learning rate. Right: dead units after training, "
            "right after revive, and after fine-tuning with and without revive (mean over seeds, bars: 95% t interval)."
        ),
        "question": "How many units die when the learning rate is too large, and does reviving them help?",
        "method": (
            "A {hidden_layers}-hidden-layer MLP (width {width}, He init) on digits trained for {epochs} epochs with "
            "Adam at lr {lr} (the usual is 1e-3), for ReLU, LeakyReLU, PReLU, Mish (and KAF), on {seeds} seeds shared "
            "by all activations (run i: same initial weights, same data order). Numbers are means over seeds with a "
            "95% t interval; accuracy differences to ReLU and revive's effect are paired per seed. After every epoch "
            "relukit.diagnostics.scan (a DeadUnitMonitor over the whole training set) counts the dead units (never > "
            "0; for leaky members stuck in the negative region) and dormant ones (ReDo score <= 0.1; the measure for "
            "smooth members). Then revive(model, report) re-initializes the dead units; the revived model and an "
            "untouched copy are fine-tuned the same way ({finetune_epochs} epochs at lr {finetune_lr}). A control "
            "trains ReLU at lr {control_lr} from the start."
        ),
        "reference": (
            "With zero biases and weights symmetric about 0, each unit is active on a given input with probability "
            "1/2 at initialization (exact, by symmetry); Glorot, Bordes & Bengio 2011 discuss this sparsity of "
            "rectifier nets. Lu et al. 2020 analyse dying ReLU; Maas et al. 2013 (Leaky ReLU) "
            "and He et al. 2015 (PReLU) keep a gradient for negative inputs; Sokar et al. 2023 define dormant units "
            "and reset them (ReDo)."
        ),
        "cites": ["glorot2011", "lu2020", "maas2013", "he2015", "sokar2023"],
    },
    "compare": {
        "title": "The family side by side",
        "caption": (
            "Left: test accuracy, each seed (dots) and the mean with its 95% t interval. Right: bytes autograd saves "
            "for backward in one training step, with torch's activation modules and with relukit's."
        ),
        "question": "On one small CNN and dataset, how do the members compare in accuracy, time and memory?",
        "method": (
            "A two-convolution CNN on 8x8 digits ({channels} and {channels2} channels), {epochs} epochs of Adam (lr "
            "{lr}), {seeds} seeds shared by all activations (run i: same initial weights, same data order). Test "
            "accuracy: mean over seeds with its 95% t interval; the difference to ReLU is paired per seed, and a "
            "summary names an activation better or worse than ReLU only when the 95% interval of that difference "
            "excludes 0. The intervals describe the spread over training seeds on this one fixed test set, not over "
            "other test sets. Also: median seconds per epoch (wall clock, this machine) and bytes saved for backward "
            "in one training step (SavedTensorMeter) with relukit's modules and with torch's own."
        ),
        "reference": (
            "This echoes the comparisons of Xu et al. 2015 (ReLU, Leaky ReLU, PReLU, RReLU; their abstract: the "
            "experiments suggest a non-zero negative slope could consistently improve results, and RReLU reached "
            "75.68% test accuracy on CIFAR-100 without multiple test or ensemble) and of the Mish repository (Misra; "
            "table below: there the intervals of Swish's and GELU's difference to Mish hold 0, those of ReLU, Leaky "
            "ReLU, RReLU, ELU, PReLU and SELU do not). Digits is a far easier problem than CIFAR: we do not claim to "
            "reproduce their numbers, only show the same kind of table."
        ),
        "cites": ["xu2015", "misra2019", "scardapane2017", "student1908"],
        "tables": [MISH2019],
    },
    "fewbit": {
        "title": "Few-bit backward of the smooth members",
        "caption": (
            "Left: cosine similarity of the k-bit gradient to the exact gradient on the same batch from the same "
            "weights (mean over seeds of each run's mean over training, bars: 95% t interval). Right: test accuracy "
            "minus that of the exact backward, paired per seed (mean, bars: 95% t interval; 0 dashed)."
        ),
        "question": "Does storing the derivative of GELU, SiLU and Mish in 1-4 bits change what training reaches?",
        "method": (
            "A small {model} (the compare study's models, built from {channels} channels) on digits, trained {epochs} "
            "epochs with Adam (lr {lr}, batch {batch_size}) for each of {members} with the exact backward and with the "
            "few-bit backward at bits {bits} (relukit.fewbit_table: optimal piecewise-constant derivative under "
            "N(0, 1)), {seeds} seeds shared by all variants (run i: same initial weights, same data order). Test "
            "accuracy: mean over seeds with its 95% t interval; the difference to the exact backward is paired per "
            "seed and named only when its 95% interval excludes 0. Every {cosine_every} steps the batch is also run "
            "with the exact backward from the same weights and the cosine similarity of the two parameter "
            "gradients is recorded (then the k-bit gradient takes the step). Saved bytes: what autograd keeps for "
            "one fp32 activation call per element (SavedTensorMeter; k/8 with k-bit codes, 4 for the exact "
            "input), and for one training step of the whole model."
        ),
        "reference": (
            "Novikov et al. store a few-bit code of each input whose derivative levels and boundaries minimise the "
            'expected squared derivative error, and write in their abstract: "We confirm the memory reduction and '
            'the same convergence on several open benchmarks." Digits with a small model is a far easier problem '
            "than their benchmarks: this only checks the same kind of claim here."
        ),
        "cites": ["novikov2023", "student1908"],
    },
}


def method(key: str, config: dict) -> str:
    """The study's method, with the numbers of the configuration it ran with."""
    channels = config.get("channels", 0)
    listed = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in config.items()}
    return STUDIES[key]["method"].format(**listed, channels2=2 * channels)


def findings(key: str, result: dict) -> list[str]:
    """Plain sentences stating what was measured (see ``findings.py``)."""
    from relukit.report import findings as sentences

    return sentences.findings(key, result)
