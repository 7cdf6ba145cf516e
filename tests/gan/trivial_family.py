"""A generator family defined and registered in the tests: everything a new family needs.

No file of the package changes for it: this module subclasses
:class:`~lesiongan.gan.families.GeneratorFamily` and registers it. The generator is trivial (a
learned image per class, moved a little by a linear map of z) and there is no discriminator: its
loss pulls the images of a class towards the real images of that class (L2), so it trains,
checkpoints, resumes and samples through the same trainer, checkpoints, inference API and
``gan sample`` as the GANs, and writes synthetic directories without ``d_score``.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from lesiongan.gan.config import GanConfig, NetworkConfig
from lesiongan.gan.families import GeneratorFamily, register_family


class TrivialNetworkConfig(NetworkConfig):
    arch: Literal["trivial"] = "trivial"
    spread: float = Field(0.1, gt=0, description="how far z moves an image")


class TrivialGenerator(nn.Module):
    def __init__(self, cfg: TrivialNetworkConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        r = cfg.resolution
        self.mean = nn.Parameter(torch.zeros(num_classes, 3, r, r))
        self.move = nn.Linear(cfg.latent_dim, 3 * r * r)

    def forward(self, z, labels, stage=None, alpha=None) -> torch.Tensor:
        r = self.cfg.resolution
        return torch.tanh(self.mean[labels] + self.cfg.spread * self.move(z).view(-1, 3, r, r))


class TrivialLoss:
    """One G step per iteration: the L2 distance of G's images to reals of their class."""

    def __init__(self, G: nn.Module) -> None:
        self.G = G

    def steps(self, batch_idx: int) -> list[tuple[str, tuple[str, ...]]]:
        return [("G", ("Gmain",))]

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, stage, alpha):
        fake = self.G(gen_z, real_c, stage, alpha)
        loss = (fake.float() - real_img.float()).square().mean()
        loss.backward()
        return {"loss_G": loss.detach()}


class Trivial(GeneratorFamily):
    name = "trivial"
    network_config = TrivialNetworkConfig

    def build_networks(self, cfg: GanConfig, num_classes: int) -> tuple[nn.Module, None]:
        return TrivialGenerator(cfg.network, num_classes), None

    def build_loss(self, G, D, augment, cfg, G_reg, D_reg) -> TrivialLoss:
        return TrivialLoss(G)


register_family(Trivial())
