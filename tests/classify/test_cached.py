"""The cached-feature path: a head on frozen features, every strategy, the run contract."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from clf_helpers import make_synthetic_dir

from lesiongan.backbones import features as bf
from lesiongan.classify import features as cf
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.data import load_images, normalize
from lesiongan.classify.features import fold_standardizer, precompute_features
from lesiongan.classify.models import load_classifier
from lesiongan.classify.run import run_classify
from lesiongan.config import load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.errors import ConfigError, LesionganError

CACHED = {
    "mode": "cached",
    "model": "efficientnet_lite0",
    "pretrained": "imagenet",
    "image_size": 32,
    "epochs": 3,
    "batch_size": 8,
    "bootstrap": 20,
    "feature_views": 2,
}
MINORITY = {"melanoma": 10, "seborrheic_keratosis": 10, "nevus": 4}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("feature-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LESIONGAN_CACHE", str(root))
        yield root / "features"


@pytest.fixture(scope="module")
def synthetic(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dir(tmp_path_factory.mktemp("cached") / "syn", tiny_dataset, MINORITY)


@pytest.fixture(scope="module")
def precomputed(tiny_dataset: Path, synthetic: Path, cache: Path) -> dict:
    return precompute_features(tiny_dataset, ClassifyConfig(**CACHED), synthetic, workers=1)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_cached_run_writes_the_contract_and_a_loadable_model(
    tiny_dataset: Path, precomputed: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert precomputed["dataset"] == len(load_dataset(tiny_dataset).rows)
    # precomputed: the run reads the cache and never runs the backbone on images
    monkeypatch.setattr(bf, "extract", lambda *a, **k: pytest.fail("features recomputed"))
    # nor builds the backbone for them (only model.pt, which folds the head into it, needs it)
    monkeypatch.setattr(cf, "build_backbone", lambda *a, **k: pytest.fail("backbone built"))
    cfg = ClassifyConfig(**CACHED, tta_views=1)
    out = run_classify(tiny_dataset, tmp_path / "run", cfg, workers=1).run_dir
    m = json.loads((out / "metrics.json").read_text())
    assert m["path"] == "cached" and m["feature_spec"] == precomputed["feature_spec"]
    assert "32px:2v" in m["feature_spec"] and "melanoma_auc_ci_low" in m
    run = json.loads((out / "run.json").read_text())
    assert run["path"] == "cached" and run["feature_spec"] == m["feature_spec"]
    assert json.loads((out / "status.json").read_text())["state"] == "done"
    preds = _rows(out / "predictions.csv")
    assert {p["split"] for p in preds} == {"train", "val", "test"}
    # model.pt: the backbone with the head folded in reproduces the run's test predictions
    model, meta = load_classifier(out)
    assert meta["path"] == "cached" and meta["model"] == "efficientnet_lite0"
    ds = load_dataset(tiny_dataset)
    rows = {r.image_id: r for r in ds.rows}
    test = [p for p in preds if p["split"] == "test"]
    x = load_images([ds.image_path(rows[p["image_id"]]) for p in test], 32, workers=1)
    with torch.no_grad():
        probs = torch.softmax(model(normalize(x.float() / 255, meta["mean"], meta["std"])), 1)
    shown = np.array([[float(p[f"prob_{c}"]) for c in m["classes"]] for p in test])
    np.testing.assert_allclose(probs.numpy(), shown, atol=1e-4)


@pytest.mark.parametrize(
    "strategy",
    [
        "none",
        "oversample",
        "class-weight",
        "synthetic-balance",
        "synthetic-ratio+class-weight",
        "synthetic-pretrain",
        "synthetic-only",
        "cased",
        "synthetic-balance+soft-label",
        "synthetic-add+class-weight",
    ],
)
def test_every_strategy_runs_on_the_cached_path(
    strategy: str, tiny_dataset: Path, synthetic: Path, precomputed: dict, tmp_path: Path
) -> None:
    cfg = ClassifyConfig(**CACHED, strategy=strategy, tta_views=2, predict_train=True)
    res = run_classify(tiny_dataset, tmp_path / "run", cfg, synthetic, workers=1)
    m = res.metrics
    assert res.done and m["path"] == "cached" and m["strategy"] == strategy
    uses_syn = strategy not in ("none", "oversample", "class-weight")
    assert (m["synthetic_images_per_epoch"] > 0) == uses_syn
    history = [json.loads(h) for h in (res.run_dir / "history.jsonl").read_text().splitlines()]
    assert ("curriculum_p" in history[0]) == (strategy == "cased")
    if uses_syn:
        sources = {p["source"] for p in _rows(res.run_dir / "predictions.csv")}
        assert "synthetic" in sources


def test_cached_runs_repeat_exactly(tiny_dataset: Path, precomputed: dict, tmp_path: Path) -> None:
    cfg = ClassifyConfig(**CACHED, strategy="oversample")
    a = run_classify(tiny_dataset, tmp_path / "a", cfg, workers=1).run_dir
    b = run_classify(tiny_dataset, tmp_path / "b", cfg, workers=1).run_dir
    assert (a / "predictions.csv").read_bytes() == (b / "predictions.csv").read_bytes()


def test_a_cache_entry_of_another_dataset_is_refused(
    tiny_dataset: Path, synthetic: Path, precomputed: dict, cache: Path, tmp_path: Path
) -> None:
    """Entries are keyed by content; one that does not hold what its key says (copied in from
    another dataset) is a one-line error, not silently wrong features."""
    ds = load_dataset(tiny_dataset)
    spec = bf.FeatureSpec("efficientnet_lite0", 32, 2)
    paths = [ds.image_path(r) for r in ds.rows]
    syn_paths = [synthetic / r["path"] for r in _rows(synthetic / "manifest.csv")]
    fp, syn_fp = bf.files_fingerprint(paths), bf.files_fingerprint(syn_paths)
    assert fp != syn_fp

    def entry(root: Path, fingerprint: str) -> Path:
        return root / f"{hashlib.sha256(f'{fingerprint}:{spec.id}'.encode()).hexdigest()[:40]}.npy"

    assert entry(cache, fp).is_file() and entry(cache, syn_fp).is_file()  # precomputed
    other = tmp_path / "cache"
    shutil.copytree(cache, other)
    mine, donor = entry(other, fp), entry(other, syn_fp)
    shutil.copy(donor, mine)  # the synthetic set's features under the dataset's key
    shutil.copy(donor.with_suffix(".json"), mine.with_suffix(".json"))
    with pytest.raises(LesionganError, match="cached features of other images") as e:
        bf.file_features(paths, spec, other)
    assert "\n" not in str(e.value) and mine.name in str(e.value)


def test_fold_standardizer_is_exact() -> None:
    torch.manual_seed(0)
    head = torch.nn.Linear(5, 3)
    mean, std = np.random.default_rng(0).normal(size=5), np.array([0.5, 1, 2, 3, 4.0])
    folded = torch.nn.Linear(5, 3)
    folded.load_state_dict(fold_standardizer(head, mean, std))
    f = torch.randn(4, 5, dtype=torch.float64)
    z = ((f - torch.from_numpy(mean)) / torch.from_numpy(std)).float()
    torch.testing.assert_close(folded(f.float()), head(z), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"mode": "cached"}, "mode cached needs a pretrained backbone"),
        ({"mode": "cached", "model": "efficientnet_lite0"}, "set pretrained imagenet"),
        ({"model": "efficientnet_lite0", "image_size": 16}, "takes 32 to 1024 px"),
        ({"model": "efficientnet_lite0", "head_warmup_epochs": 20}, "head_warmup_epochs"),
        ({"augment.crop": [0.5, 1.5]}, "crop must be"),
        ({"sampler.add_ratio": 0}, "sampler.add_ratio"),
    ],
)
def test_bad_options_are_one_line(sets: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        load_config(ClassifyConfig, None, sets)
    assert "\n" not in str(e.value)


def test_a_dataset_too_small_for_the_network_names_it(tiny_dataset: Path, tmp_path: Path) -> None:
    cfg = ClassifyConfig(model="efficientnet_lite0", epochs=1)  # the dataset is 16 px
    with pytest.raises(ConfigError, match=r"images of 16 px: efficientnet_lite0 takes 32") as e:
        run_classify(tiny_dataset, tmp_path / "run", cfg, workers=1)
    assert str(tiny_dataset) in str(e.value) and not (tmp_path / "run").exists()
