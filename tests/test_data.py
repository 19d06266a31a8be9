"""relukit.data: the embedded datasets and the user's .npz, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from relukit import data


def test_digits_fixed_stratified_standardized_split():
    first, second = data.digits(), data.digits()
    assert (len(first.y_train), len(first.y_test)) == (1347, 450)  # 1,797 images, 25% per class held out
    assert first.image_shape == (1, 8, 8) and first.num_classes == 10 and first.num_features == 64
    np.testing.assert_array_equal(first.x_test, second.x_test)  # the split does not depend on anything
    counts_train, counts_test = np.bincount(first.y_train), np.bincount(first.y_test)
    np.testing.assert_allclose(counts_test / (counts_train + counts_test), 0.25, atol=0.01)
    assert abs(first.x_train.mean()) < 1e-5 and abs(first.x_train.std() - 1) < 1e-5
    assert first.x_train.dtype == np.float32 and first.y_train.dtype == np.int64
    images, labels = first.images("test")
    assert images.shape == (450, 1, 8, 8) and labels.shape == (450,)


@pytest.mark.parametrize("make", [data.two_moons, data.two_spirals])
def test_generated_sets_follow_the_seed(make):
    a, b, c = make(3, samples=200), make(3, samples=200), make(4, samples=200)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.shape == (100, 2) and set(np.unique(a.y_train)) == {0, 1}
    assert np.bincount(a.y_test).tolist() == [50, 50]


def test_two_spirals_defeat_linear_classifiers_not_nearest_neighbours():
    """What the nonlinearity study relies on: no line separates the classes; the local structure does."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    d = data.two_spirals(0, samples=1000)
    linear = LogisticRegression().fit(d.x_train, d.y_train).score(d.x_test, d.y_test)
    nearest = KNeighborsClassifier(1).fit(d.x_train, d.y_train).score(d.x_test, d.y_test)
    assert linear < 0.7 and nearest > 0.97


def _write(tmp_path, **arrays):
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    return path


def test_load_npz_vectors_and_images(tmp_path):
    rng = np.random.default_rng(0)
    vectors = data.load_npz(_write(tmp_path, x=rng.normal(size=(40, 5)), y=np.arange(40) % 4))
    assert vectors.image_shape is None and vectors.num_classes == 4 and vectors.num_features == 5
    assert len(vectors.y_train) + len(vectors.y_test) == 40
    images = data.load_npz(_write(tmp_path, x=rng.normal(size=(40, 6, 6)), y=np.arange(40) % 2))
    assert images.image_shape == (1, 6, 6) and images.images("train")[0].shape[1:] == (1, 6, 6)
    assert data.load(None).name == "digits"


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((10, 2))}, "lacks array(s) ['y']"),
        ({"x": np.zeros(10), "y": np.zeros(10)}, "x must be shaped (samples, features...)"),
        ({"x": np.zeros((10, 2)), "y": np.zeros(9)}, "y must be shaped (10,)"),
        ({"x": np.full((10, 2), np.nan), "y": np.arange(10) % 2}, "x must be finite, got 20 NaN/inf"),
        ({"x": np.zeros((10, 2)), "y": np.arange(10) * 0.5}, "integer class labels"),
        ({"x": np.zeros((10, 2)), "y": np.arange(10) - 1}, "labels 0..K-1, got minimum -1"),
        ({"x": np.zeros((10, 2)), "y": np.zeros(10)}, ">= 2 classes"),
    ],
)
def test_load_npz_errors_name_the_problem(tmp_path, arrays, message):
    with pytest.raises(ValueError) as error:
        data.load_npz(_write(tmp_path, **arrays))
    assert message in str(error.value) and str(error.value).startswith("load_npz:")


def test_load_npz_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        data.load_npz(tmp_path / "absent.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        data.load_npz(bad)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        data.load_npz(_write(tmp_path, x=np.array([["a", "b"]] * 4), y=np.arange(4) % 2))


def test_data_and_runner_import_no_heavy_dependencies():
    import subprocess
    import sys

    code = (
        "import sys, relukit, relukit.data, relukit.studies.runner, relukit.cli; "
        "print(sorted(m for m in ('matplotlib', 'sklearn', 'rich') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
