"""Fine-tuning a pretrained network: head warm-up, backbone rate, frozen batch norm, TTA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lesiongan.backbones.features import dihedral
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.models import build_model, head_module
from lesiongan.classify.samplers import build_pool, build_sampler
from lesiongan.classify.trainer import ClassifierTrainer, TrainingData, _lr_factor

SIZE = 32


def _trainer(**options) -> ClassifierTrainer:
    cfg = ClassifyConfig(
        model="efficientnet_lite0", image_size=SIZE, batch_size=8, bootstrap=10, **options
    )
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 3, SIZE, SIZE), generator=g, dtype=torch.uint8)
    labels = np.arange(24) % 3
    sampler = build_sampler(build_pool(labels, 3), "none", cfg.sampler_params(), 0)
    torch.manual_seed(0)
    model = build_model(cfg.model, 3)
    data = TrainingData(images, images[:9], labels[:9], ["a", "b", "c"], (0.5,) * 3, (0.5,) * 3)
    return ClassifierTrainer(
        cfg, model, sampler, data, torch.device("cpu"), head_module(model, cfg.model)
    )


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_head_warm_up_trains_the_head_alone_then_the_backbone() -> None:
    t = _trainer(epochs=2, head_warmup_epochs=1, backbone_lr_mult=0.1)
    before = _snapshot(t.model)
    t.train_one_epoch()
    mid = _snapshot(t.model)
    assert _changed(before, mid, "classifier.")
    assert not _changed(before, mid, "stem.") and not _changed(before, mid, "blocks.")
    # the rates after the last step: the backbone's one-epoch warm-up has just begun
    assert 0 < t.history[0]["lr_backbone"] < 0.1 * t.history[0]["lr"]
    t.train_one_epoch()
    assert _changed(mid, _snapshot(t.model), "blocks.")
    assert t.history[1]["lr_backbone"] > 0


def test_backbone_rate_is_the_heads_times_the_multiplier() -> None:
    t = _trainer(epochs=3, backbone_lr_mult=0.25)
    for _ in range(3):
        t.train_one_epoch()
    for h in t.history:
        assert h["lr_backbone"] == pytest.approx(0.25 * h["lr"], abs=1e-12)
    assert len(t.opt.param_groups) == 2
    assert len(_trainer(epochs=2).opt.param_groups) == 1  # defaults: one group, as before


def test_frozen_batch_norm_keeps_the_running_statistics() -> None:
    t = _trainer(epochs=1, freeze_bn=True)
    before = _snapshot(t.model)
    t.train_one_epoch()
    after = _snapshot(t.model)
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert _changed(before, after, "blocks.")  # the weights did train
    t2 = _trainer(epochs=1)
    b2 = _snapshot(t2.model)
    t2.train_one_epoch()
    assert not all(torch.equal(b2[k], _snapshot(t2.model)[k]) for k in stats)


def test_test_time_augmentation_averages_the_dihedral_views() -> None:
    t = _trainer(epochs=1, tta_views=8)
    images = t.data.val_images
    probs = t.predict(images)
    t.model.eval()
    x = (images.float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        views = [torch.softmax(t.model(dihedral(x, v)), 1) for v in range(8)]
    np.testing.assert_allclose(probs, torch.stack(views).mean(0).double().numpy(), atol=1e-6)
    t.cfg.tta_views = 1
    np.testing.assert_allclose(t.predict(images), views[0].double().numpy(), atol=1e-6)


def test_lr_factor_starts_late_when_asked() -> None:
    assert _lr_factor(4, warmup=2, total=10, start=5) == 0.0
    assert _lr_factor(5, warmup=2, total=10, start=5) == pytest.approx(0.5)
    assert _lr_factor(6, 2, 10, 5) == pytest.approx(1.0)
    assert _lr_factor(10, 2, 10, 5) == pytest.approx(0.0)
    assert [_lr_factor(s, 2, 10) for s in range(10)] == [_lr_factor(s, 2, 10, 0) for s in range(10)]
