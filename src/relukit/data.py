"""Datasets for the studies: nothing is downloaded.

* ``digits()`` — scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), a fixed stratified
  train/test split, standardized with the training set's mean and standard deviation.
* ``two_moons(seed)``, ``two_spirals(seed)`` — 2-D binary problems generated from a seed.
* ``load_npz(path)`` — your own data: arrays ``x`` (samples first) and ``y`` (integer labels).

Each returns a :class:`Dataset` of float32 features and int64 labels (NumPy). scikit-learn is imported
only by ``digits()``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLIT_SEED = 0  # the digits split is fixed: every study and every --seed sees the same test set


@dataclass(frozen=True)
class Dataset:
    """Features and labels, split. ``image_shape`` is (C, H, W) when the samples are images."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...] | None = None

    @property
    def num_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    def flat(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of a split with each sample flattened to a vector."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return x.reshape(len(x), -1), y

    def images(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of a split shaped (N, C, H, W); raises for data that are not images."""
        if self.image_shape is None:
            raise ValueError(f"Dataset.images: {self.name!r} has no image shape (its samples are vectors)")
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return x.reshape(len(x), *self.image_shape), y

    def describe(self) -> dict:
        return {
            "name": self.name,
            "train": len(self.y_train),
            "test": len(self.y_test),
            "features": self.num_features,
            "classes": self.num_classes,
            "image_shape": list(self.image_shape) if self.image_shape else None,
        }


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): the same fraction of every class goes to the test set."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        count = int(round(len(members) * test_fraction))
        test.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One mean and one standard deviation over every training value (not per feature: per-pixel
    scaling blows rarely-lit border pixels up to tens of standard deviations)."""
    mean, std = float(x_train.mean()), float(x_train.std())
    std = std if std > 0 else 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def _split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, image_shape=None) -> Dataset:
    train, test = _stratified_split(y, test_fraction, SPLIT_SEED)
    x_train, x_test = _standardize(x[train].astype(np.float64), x[test].astype(np.float64))
    return Dataset(
        name, x_train, y[train].astype(np.int64), x_test, y[test].astype(np.int64), int(y.max()) + 1, image_shape
    )


def _check_fraction(fn: str, test_fraction: float) -> None:
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"{fn}: test_fraction must be in (0, 1), got {test_fraction!r}")


def digits(*, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled digits, split 75/25 per class with a fixed seed, standardized."""
    _check_fraction("digits", test_fraction)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _split("digits", bunch.data, bunch.target, test_fraction, image_shape=(1, 8, 8))


def _check_count(fn: str, samples: int) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 4:
        raise ValueError(f"{fn}: samples must be an int >= 4, got {samples!r}")


def two_moons(seed: int, *, samples: int = 1000, noise: float = 0.1, test_fraction: float = 0.5) -> Dataset:
    """Two interleaved half circles (as scikit-learn's make_moons), Gaussian noise of std ``noise``."""
    _check_count("two_moons", samples)
    _check_fraction("two_moons", test_fraction)
    rng = np.random.default_rng(seed)
    y = np.arange(samples) % 2
    angle = rng.uniform(0.0, math.pi, samples)
    x = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x[y == 1] = np.stack([1.0 - np.cos(angle[y == 1]), 0.5 - np.sin(angle[y == 1])], axis=1)
    x += rng.normal(0.0, noise, x.shape)
    return _split("two_moons", x, y, test_fraction)


def two_spirals(
    seed: int, *, samples: int = 1000, turns: float = 1.75, noise: float = 0.05, test_fraction: float = 0.5
) -> Dataset:
    """Two interleaved Archimedean spirals, r = t, angle = 2 pi turns t (t in [0.1, 1]), noise std ``noise``.

    No linear (or affine) classifier does better than chance-level plus a little on them.
    """
    _check_count("two_spirals", samples)
    _check_fraction("two_spirals", test_fraction)
    rng = np.random.default_rng(seed)
    y = np.arange(samples) % 2
    t = rng.uniform(0.1, 1.0, samples)
    angle = 2 * math.pi * turns * t + math.pi * y
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) + rng.normal(0.0, noise, (samples, 2))
    return _split("two_spirals", x, y, test_fraction)


def load_npz(path: str | os.PathLike, *, test_fraction: float = 0.25) -> Dataset:
    """A user's ``.npz`` with ``x`` (N, ...) real features and ``y`` (N,) integer labels 0..K-1.

    Samples shaped (H, W) or (C, H, W) are kept as images (for the CNN studies); others are vectors.
    The split is stratified with a fixed seed; features are standardized with the training set's statistics.
    """
    _check_fraction("load_npz", test_fraction)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"load_npz: path {str(path)!r} is not a file")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:  # numpy raises several types for a corrupt or non-npz file
        raise ValueError(f"load_npz: cannot read {str(path)!r} as .npz: {error}") from None
    with archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            raise ValueError(f"load_npz: {str(path)!r} lacks array(s) {missing}; found {sorted(archive.files)}")
        x, y = archive["x"], archive["y"]
    return _checked(str(path), x, y, test_fraction)


def _checked(source: str, x: np.ndarray, y: np.ndarray, test_fraction: float) -> Dataset:
    if x.dtype.kind not in "iuf":
        raise TypeError(f"load_npz: x must hold real numbers, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"load_npz: x must be shaped (samples, features...), got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"load_npz: y must be shaped ({len(x)},) to match x {x.shape}, got shape {y.shape}")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise ValueError(f"load_npz: x must be finite, got {bad} NaN/inf value(s)")
    if y.dtype.kind == "f" and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise ValueError("load_npz: y must hold integer class labels, got non-integer values")
    if y.dtype.kind not in "iuf":
        raise TypeError(f"load_npz: y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise ValueError(f"load_npz: y must be labels 0..K-1, got minimum {int(y.min())}")
    counts = np.bincount(y)
    if (counts[counts > 0] < 2).any() or (counts > 0).sum() < 2:
        raise ValueError(f"load_npz: y needs >= 2 classes with >= 2 samples each, got counts {counts.tolist()}")
    image_shape = {3: (1, *x.shape[1:]), 4: tuple(x.shape[1:])}.get(x.ndim)
    return _split(Path(source).stem, x.reshape(len(x), -1), y, test_fraction, image_shape)


def load(source: str | os.PathLike | None = None) -> Dataset:
    """``None`` or ``"digits"`` -> :func:`digits`; a path -> :func:`load_npz`."""
    if source is None or source == "digits":
        return digits()
    return load_npz(source)
