"""The fit cache (``l3sim.cache``) and the predictors that use it: a hit gives exactly a fresh fit's numbers
without fitting, a corrupt or tampered entry is reported and rebuilt, the key follows every training input,
and the cache can be turned off or pointed elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

from l3sim.cache import CACHE_ENV, CacheWarning, cache_dir, content_key
from l3sim.serving import simulate
from l3sim.serving.predictors.forest import LEFT, fit_forest
from l3sim.serving.predictors.pim import fit_linear
from l3sim.spec.run import build_run_spec


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _data(seed: int = 0, rows: int = 60, width: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 40, size=(rows, width)).astype(float)
    return X, X @ rng.uniform(0, 1, width) + rng.normal(0, 0.1, rows)


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.npz"))


def _forbid_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any scikit-learn fit fail: what runs after this must come from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("fitted although the cache holds this fit")

    monkeypatch.setattr(RandomForestRegressor, "fit", refuse)
    monkeypatch.setattr(LinearRegression, "fit", refuse)


def _forest_answers(X: np.ndarray, y: np.ndarray, trees: int = 5, seed: int = 0) -> np.ndarray:
    return fit_forest(X, y, trees, seed).predict(np.vstack([X, X + 0.5]))


def test_cache_dir_env_xdg_home_and_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.setenv(CACHE_ENV, "OFF")
    assert cache_dir() is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "l3sim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "l3sim"


def test_forest_hit_is_the_fresh_fit_without_fitting(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data()
    fresh = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y).predict(np.vstack([X, X + 0.5]))
    first = _forest_answers(X, y)
    assert len(_entries(cache / "forest")) == 1
    _forbid_fits(monkeypatch)
    np.testing.assert_array_equal(_forest_answers(X, y), first)
    np.testing.assert_array_equal(first, fresh)


def test_linear_hit_is_the_fresh_fit(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data(width=3)
    model = LinearRegression().fit(X, y)
    first = fit_linear(X, y)
    _forbid_fits(monkeypatch)
    hit = fit_linear(X, y)
    assert hit["coef"].tolist() == first["coef"].tolist() == model.coef_.tolist()
    assert hit["intercept"].tolist() == first["intercept"].tolist() == [model.intercept_]


def test_key_follows_every_training_input(cache: Path) -> None:
    X, y = _data()
    base = content_key("random-forest", 5, 0, X, y)
    changed_X, changed_y = X.copy(), y.copy()
    changed_X[7, 2] += 1
    changed_y[3] = np.nextafter(changed_y[3], np.inf)  # one ulp
    variants = [
        content_key("random-forest", 5, 0, changed_X, y),
        content_key("random-forest", 5, 0, X, changed_y),
        content_key("random-forest", 6, 0, X, y),
        content_key("random-forest", 5, 1, X, y),
        content_key("random-forest", 5, 0, X.reshape(X.shape[1], -1), y),  # same bytes, another shape
        content_key("random-forest", 5, 0, X.astype(np.float32), y),
        content_key("linear-regression", 5, 0, X, y),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert content_key("random-forest", 5, 0, X.copy(), y.copy()) == base
    # through the predictors: a changed row is a new entry, not the old answer
    _forest_answers(X, y)
    _forest_answers(changed_X, y)
    assert len(_entries(cache / "forest")) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "backward-child", "not-an-array-file"])
def test_corrupt_entry_is_reported_and_rebuilt(cache: Path, damage: str) -> None:
    X, y = _data()
    fresh = _forest_answers(X, y)
    (entry,) = _entries(cache / "forest")
    if damage == "garbage":
        entry.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-200])
    elif damage == "backward-child":  # a well-formed file whose first split points back at the root: a loop
        with np.load(entry) as data:
            arrays = {name: data[name] for name in data.files}
        arrays["nodes"][0, LEFT] = 0
        np.savez(entry, **arrays)
    else:
        entry.write_text("roots = [0]\n")
    with pytest.warns(CacheWarning, match="unusable"):
        again = _forest_answers(X, y)
    np.testing.assert_array_equal(again, fresh)
    # rewritten: the next call loads it without a warning
    with np.load(entry, allow_pickle=False) as data:
        assert sorted(data.files) == ["nodes", "roots", "value"]
    np.testing.assert_array_equal(_forest_answers(X, y), fresh)


def test_off_writes_nothing_and_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    X, y = _data()
    fresh = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y).predict(np.vstack([X, X + 0.5]))
    np.testing.assert_array_equal(_forest_answers(X, y), fresh)
    assert list(tmp_path.rglob("*")) == []


def test_unwritable_folder_warns_once_and_the_fits_still_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    X, y = _data()
    other_X = X + 1
    with pytest.warns(CacheWarning, match="cannot write") as caught:
        answers = _forest_answers(X, y)
        other = _forest_answers(other_X, y)  # a second fit, another entry: no second warning
    assert len([w for w in caught if issubclass(w.category, CacheWarning)]) == 1
    for data, got in ((X, answers), (other_X, other)):
        fresh = RandomForestRegressor(n_estimators=5, random_state=0).fit(data, y).predict(np.vstack([data, data + 0.5]))
        np.testing.assert_array_equal(got, fresh)


def test_l3_run_from_the_cache_equals_a_run_that_trains(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole L3 run (its first fits and its online refits) with predictors loaded from the cache gives the
    same metrics, field by field, as one that trains them, and as one with the cache off."""
    spec = build_run_spec(platform="dgx-a100", model="opt-66b", workload="dolphin", system="l3", requests=40)
    monkeypatch.setenv(CACHE_ENV, "off")
    trained = simulate(spec).to_json()
    monkeypatch.setenv(CACHE_ENV, str(cache))
    filling = simulate(spec).to_json()
    assert _entries(cache / "forest") and _entries(cache / "linear")
    _forbid_fits(monkeypatch)
    assert simulate(spec).to_json() == filling == trained
