"""Layers and growing networks: shapes, channel rule, continuous fade-in."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lesiongan.gan.augment import AdaController, DiffAugment
from lesiongan.gan.layers import EqualizedConv2d, minibatch_stddev, pixel_norm
from lesiongan.gan.networks import Discriminator, Generator, PgganNetworkConfig, resolutions

CFG = PgganNetworkConfig(resolution=16, fmap_base=128, fmap_max=16, latent_dim=16, embed_dim=8)


def test_paper_channels_and_size() -> None:
    cfg = PgganNetworkConfig(resolution=256)
    assert [cfg.channels(r) for r in resolutions(cfg)] == [512, 512, 512, 512, 256, 128, 64]
    n_params = sum(p.numel() for p in Generator(cfg, 3).parameters())
    assert 22e6 < n_params < 24e6  # the paper's generator is about 23 M parameters


@pytest.mark.parametrize("res", [5, 4, 2048, 48])
def test_resolution_must_be_power_of_two_in_range(res: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        PgganNetworkConfig(resolution=res)


def test_pixel_norm_gives_unit_rms_per_pixel() -> None:
    x = torch.randn(2, 8, 4, 4) * 5
    rms = pixel_norm(x).square().mean(dim=1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-4, atol=1e-4)


def test_minibatch_stddev_appends_group_statistic() -> None:
    x = torch.zeros(8, 3, 2, 2)
    x[::2] = 1.0  # groups are samples i, i+2, i+4, i+6: values 1,1,1,1 or 0,0,0,0 -> std 0
    assert minibatch_stddev(x, 4)[:, -1].abs().max() < 1e-3
    x = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 3, 2, 2).contiguous()
    y = minibatch_stddev(x, 4)
    assert y.shape == (8, 4, 2, 2)
    expected = torch.tensor([0.0, 2.0, 4.0, 6.0]).std(unbiased=False)  # members of group 0
    torch.testing.assert_close(y[0, -1, 0, 0], expected, rtol=1e-3, atol=1e-3)


def test_equalized_learning_rate_scales_by_fan_in() -> None:
    conv = EqualizedConv2d(16, 4, 3)
    assert math.isclose(conv.scale, math.sqrt(2) / math.sqrt(16 * 9))
    assert 0.8 < conv.weight.std().item() < 1.2  # stored weights are N(0, 1)


def test_every_stage_has_the_right_shapes() -> None:
    G, D = Generator(CFG, 3), Discriminator(CFG, 3)
    z, c = torch.randn(4, 16), torch.tensor([0, 1, 2, 0])
    for stage, res in enumerate([4, 8, 16]):
        img = G(z, c, stage, 0.5)
        assert img.shape == (4, 3, res, res)
        assert D(img, c, stage, 0.5).shape == (4,)


def test_generator_fade_starts_at_previous_resolution() -> None:
    G = Generator(CFG, 3)
    z, c = torch.randn(4, 16), torch.tensor([0, 1, 2, 1])
    for stage in (1, 2):
        faded = G(z, c, stage, 0.0)
        previous = F.interpolate(G(z, c, stage - 1, 1.0), scale_factor=2, mode="nearest")
        torch.testing.assert_close(faded, previous)
        assert not torch.allclose(G(z, c, stage, 1.0), previous)
    # continuous in alpha
    a, b = G(z, c, 2, 0.5), G(z, c, 2, 0.5001)
    assert (a - b).abs().max() < 1e-2


def test_discriminator_fade_starts_at_previous_resolution() -> None:
    D = Discriminator(CFG, 3)
    img, c = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(D(img, c, 2, 0.0), D(F.avg_pool2d(img, 2), c, 1, 1.0))


def test_labels_change_the_output() -> None:
    G, D = Generator(CFG, 3), Discriminator(CFG, 3)
    z = torch.randn(1, 16).repeat(3, 1)
    imgs = G(z, torch.tensor([0, 1, 2]), 2, 1.0)
    assert (imgs[0] - imgs[1]).abs().max() > 1e-4
    same = imgs[:1].repeat(3, 1, 1, 1)
    scores = D(same, torch.tensor([0, 1, 2]), 2, 1.0)
    assert scores.unique().numel() == 3
    with pytest.raises(ValueError, match="needs labels"):
        G(z, None, 0, 1.0)


def test_unconditional_networks_ignore_labels() -> None:
    cfg = CFG.model_copy(update={"conditional": False})
    G = Generator(cfg, 3)
    z = torch.randn(2, 16)
    torch.testing.assert_close(G(z, None, 1, 1.0), G(z, torch.tensor([0, 2]), 1, 1.0))


def test_augment_identity_at_p0_and_differentiable() -> None:
    aug = DiffAugment("color,translation,cutout", p=0.0)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    assert aug(x) is x
    aug.set_p(1.0)
    y = aug(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown augmentation"):
        DiffAugment("color,zoom")


def test_ada_moves_p_toward_target() -> None:
    aug = DiffAugment("color", p=0.5)
    ada = AdaController(aug, target=0.6, ada_kimg=1, interval=2)
    for _ in range(2):
        ada.accumulate(torch.ones(10))  # D is sure reals are real: overfitting -> more augmentation
        ada.step(batch_size=10)
    assert aug.p.item() == pytest.approx(0.52)
    for _ in range(2):
        ada.accumulate(-torch.ones(10))
        ada.step(batch_size=10)
    assert aug.p.item() == pytest.approx(0.50)
