"""Selection at sampling time: d-score, classifier and realism; the leakage guard on the
selection classifier; the k-NN realism score pinned by hand."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from gan_helpers import tiny_config
from PIL import Image

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.run import run_classify
from lesiongan.classify.scorer import ClassifierScorer, load_classifier_scorer
from lesiongan.errors import LesionganError
from lesiongan.gan.run import run_training
from lesiongan.gan.sample import SampleConfig, run_sample
from lesiongan.gan.selection import compute_realism


@pytest.fixture(scope="module")
def gan_run(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("select") / "run"
    cfg = tiny_config(**{"schedule.stabilize_kimg": 0.2, "schedule.fade_kimg": 0.2})
    run_training(tiny_dataset, out, cfg)
    return out


@pytest.fixture(scope="module")
def real_classifier(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("select-clf") / "clf"
    cfg = ClassifyConfig(strategy="oversample", epochs=3, image_size=16, batch_size=8, bootstrap=20)
    run_classify(tiny_dataset, out, cfg)
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _share_recognised(out: Path, scorer: ClassifierScorer) -> float:
    rows = _rows(out)
    px = np.stack([np.asarray(Image.open(out / r["path"]).convert("RGB")) for r in rows])
    probs = scorer.probabilities(torch.from_numpy(px).permute(0, 3, 1, 2))
    hits = [scorer.classes[int(p.argmax())] == r["label"] for p, r in zip(probs, rows)]
    return float(np.mean(hits))


def test_realism_score_pinned_by_hand() -> None:
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    # k=1 radii: 1, 1, 1, ~12.7; pruning keeps radii <= median (1.0): the first three
    inside = np.array([[0.1, 0.0]])  # 0.1 from (0, 0): R = 1 / 0.1
    far = np.array([[3.0, 0.0]])  # nearest kept real (1, 0) at 2: R = 1 / 2
    r = compute_realism(real, np.concatenate([inside, far]), k=1)
    assert r == pytest.approx([10.0, 0.5])
    unpruned = compute_realism(real, np.array([[10.0, 12.0]]), k=1, prune=False)
    assert unpruned[0] == pytest.approx(np.hypot(10, 9) / 2)  # the outlier's big ball counts
    with pytest.raises(ValueError, match="more than k"):
        compute_realism(real[:1], inside, k=1)


def test_d_score_selection_keeps_the_top_share_of_the_same_candidates(
    gan_run: Path, tmp_path: Path
) -> None:
    every = run_sample(gan_run, tmp_path / "all", SampleConfig(per_class={"nevus": 12})).path
    cfg = SampleConfig(per_class={"nevus": 6}, select="d-score", keep=0.5)
    kept = run_sample(gan_run, tmp_path / "sel", cfg).path
    candidates = sorted(_rows(every), key=lambda r: -float(r["d_score"]))
    assert [r["seed"] for r in _rows(kept)] == sorted((r["seed"] for r in candidates[:6]), key=int)
    for r in _rows(kept):
        assert float(r["select_score"]) == pytest.approx(float(r["d_score"]), rel=1e-5)
        assert (kept / r["path"]).is_file()
    assert len(list((kept / "images" / "nevus").iterdir())) == 6  # the rest are deleted
    info = json.loads((kept / "synthetic.json").read_text())["selection"]
    assert info["method"] == "d-score" and info["keep"] == 0.5
    assert info["candidates"] == {"nevus": 12}


class HashScorer(ClassifierScorer):
    """A selection classifier whose answers are known by construction, on any machine.

    It recognises each image as one class picked by a hash of its pixels (probability 0.8, the
    others 0.1): a third of distinct images of any class, whatever the GAN draws and whatever
    the CPU's float kernels make of a learned model (a 3-epoch 16 px classifier recognised one
    class only on an AMD EPYC, so selection could not change the share there). It keeps the
    real run's loading, hash and features, so only the probabilities are made up."""

    def probabilities(self, pixels: torch.Tensor) -> np.ndarray:
        out = np.full((len(pixels), len(self.classes)), 0.2 / (len(self.classes) - 1))
        for i, image in enumerate(pixels):
            digest = hashlib.sha256(image.contiguous().numpy().tobytes()).digest()
            out[i, digest[0] % len(self.classes)] = 0.8
        return out


def test_classifier_selection_raises_the_recognised_share(
    gan_run: Path, real_classifier: Path, tmp_path: Path
) -> None:
    counts = {"melanoma": 20, "seborrheic_keratosis": 20, "nevus": 20}
    plain = run_sample(gan_run, tmp_path / "plain", SampleConfig(per_class=counts)).path
    cfg = SampleConfig(
        per_class=counts, select="classifier", keep=0.25, classifier=str(real_classifier)
    )
    chosen = run_sample(gan_run, tmp_path / "chosen", cfg, scorer_loader=HashScorer).path
    scorer = HashScorer(real_classifier, torch.device("cpu"))
    before, after = _share_recognised(plain, scorer), _share_recognised(chosen, scorer)
    # premise: the scorer recognises some but not all of the unselected images (each of the 60
    # distinct images with probability 1/3); a degenerate scorer would make the test vacuous
    assert len({(plain / r["path"]).read_bytes() for r in _rows(plain)}) == 60
    assert 0.0 < before < 1.0, before
    # 80 candidates per class, the recognised ones (score 0.8) are kept first: about 26 of 80
    # are recognised, so nearly all 20 kept ones are
    assert after > before, (before, after)
    for r in _rows(chosen):
        assert float(r["select_score"]) in (pytest.approx(0.8), pytest.approx(0.1))
    info = json.loads((chosen / "synthetic.json").read_text())["selection"]
    assert info["classifier"] == str(real_classifier.resolve())
    assert len(info["classifier_sha256"]) == 64
    # the realism variant runs in the same classifier's features
    cfg = SampleConfig(
        per_class={"nevus": 4}, select="realism", keep=0.5, classifier=str(real_classifier)
    )
    real = run_sample(gan_run, tmp_path / "realism", cfg, scorer_loader=load_classifier_scorer).path
    scores = [float(r["select_score"]) for r in _rows(real)]
    assert len(scores) == 4 and all(np.isfinite(scores))


def test_selection_classifier_must_have_seen_only_the_gans_train_split(
    gan_run: Path, real_classifier: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign"
    shutil.copytree(real_classifier, foreign)
    splits = (foreign / "splits.csv").read_text().splitlines()
    first = splits[1].split(",")
    first[-1] = "f" * 64  # a training image the GAN never saw
    (foreign / "splits.csv").write_text("\n".join([splits[0], ",".join(first), *splits[2:]]))
    cfg = SampleConfig(
        per_class={"nevus": 2}, select="classifier", keep=0.5, classifier=str(foreign)
    )
    with pytest.raises(LesionganError, match="did not train on"):
        run_sample(gan_run, tmp_path / "x", cfg, scorer_loader=load_classifier_scorer)
    assert not (tmp_path / "x").exists()
    info = json.loads((foreign / "run.json").read_text())
    info["synthetic_used"] = True
    (foreign / "run.json").write_text(json.dumps(info))
    with pytest.raises(LesionganError, match="real images only"):
        run_sample(gan_run, tmp_path / "y", cfg, scorer_loader=load_classifier_scorer)


def test_selection_options_are_checked_and_the_cli_says_so(
    cli, gan_run: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="needs classifier"):
        SampleConfig(per_class={"nevus": 2}, select="classifier", keep=0.5)
    with pytest.raises(ValueError, match="set keep < 1"):
        SampleConfig(per_class={"nevus": 2}, select="d-score")
    with pytest.raises(ValueError, match="needs a selection method"):
        SampleConfig(per_class={"nevus": 2}, keep=0.5)
    base = ("gan", "sample", gan_run, "--out", tmp_path / "s", "--per-class", "nevus=2")
    code, _, err = cli(*base, "--select", "classifier", "--keep", "0.5")
    assert code == 1 and "needs classifier" in err and "Traceback" not in err
    code, out, err = cli(*base, "--select", "d-score", "--keep", "0.5")
    assert code == 0, err
    code, out, err = cli(*base, "--select", "d-score", "--keep", "0.5")
    assert code == 0 and "already sampled" in out
    code, _, err = cli(*base, "--per-class", "melanoma=0")
    assert code == 1 and "from 1 to 1,000,000" in err


def test_cli_selects_by_classifier_as_the_api_does(
    cli, gan_run: Path, real_classifier: Path, tmp_path: Path
) -> None:
    """``gan sample --select classifier --classifier RUN``: the CLI injects the classifier
    scorer (the GAN layer never imports the classifier) and writes what the API writes."""
    code, _, err = cli(
        "gan", "sample", gan_run, "--out", tmp_path / "cli", "--per-class", "nevus=3",
        "--select", "classifier", "--keep", "0.5", "--classifier", real_classifier,
    )  # fmt: skip
    assert code == 0, err
    cfg = SampleConfig(
        per_class={"nevus": 3}, select="classifier", keep=0.5, classifier=str(real_classifier)
    )
    api = run_sample(gan_run, tmp_path / "api", cfg, scorer_loader=load_classifier_scorer).path
    assert (tmp_path / "cli" / "manifest.csv").read_text() == (api / "manifest.csv").read_text()
    assert [r["select_score"] for r in _rows(api)] != [""] * 3
    with pytest.raises(ValueError, match="scorer_loader"):  # a caller that forgot the seam
        run_sample(gan_run, tmp_path / "none", cfg)
