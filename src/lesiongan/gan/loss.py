"""GAN losses, separate from the training loop (as in StyleGAN2-ADA's ``loss.py``).

- ``wgan-gp``: the paper's WGAN-GP (Gulrajani et al. 2017) with lambda 10, target 1, and the
  drift term epsilon_drift * E[D(x)^2] that keeps D's output near zero (Karras et al. 2018, A.1).
- ``logistic-r1``: the non-saturating logistic loss with the R1 penalty on reals
  (Mescheder et al. 2018), gamma / 2 * E[|grad D(x)|^2].

Both see D's inputs through the differentiable augmentation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lesiongan.gan.config import LossConfig

PHASES = ("Gmain", "Dmain")


class GanLoss:
    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        augment: nn.Module,
        cfg: LossConfig,
        D_reg: nn.Module | None = None,
    ) -> None:
        self.G, self.D, self.augment, self.cfg = G, D, augment, cfg
        # The penalty needs double backward, which torch.compile does not support: use eager D.
        self.D_reg = D_reg if D_reg is not None else D

    def accumulate_gradients(
        self,
        phase: str,
        real_img: torch.Tensor,
        real_c: torch.Tensor | None,
        gen_z: torch.Tensor,
        gen_c: torch.Tensor | None,
        stage: int,
        alpha: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Backpropagate one phase's loss; returns detached statistics."""
        if phase == "Gmain":
            fake = self.G(gen_z, gen_c, stage, alpha)
            score = self.D(self.augment(fake), gen_c, stage, alpha)
            loss = (
                -score.float().mean()
                if self.cfg.kind == "wgan-gp"
                else F.softplus(-score.float()).mean()
            )
            loss.backward()
            return {"loss_G": loss.detach()}
        if phase != "Dmain":
            raise ValueError(f"unknown phase {phase!r} (known: {', '.join(PHASES)})")
        with torch.no_grad():
            fake = self.G(gen_z, gen_c, stage, alpha)
        real_aug = self.augment(real_img)
        fake_aug = self.augment(fake)
        fake_score = self.D(fake_aug, gen_c, stage, alpha).float()
        if self.cfg.kind == "wgan-gp":
            real_score = self.D(real_aug, real_c, stage, alpha).float()
            loss = (
                fake_score.mean() - real_score.mean() + self.cfg.drift * real_score.square().mean()
            )
            reg = self._gradient_penalty(real_aug, fake_aug, real_c, stage, alpha)
        else:
            # One forward pass on the reals serves both the loss and the R1 penalty.
            real_score, reg = self._real_scores_and_r1(real_aug, real_c, stage, alpha)
            loss = F.softplus(fake_score).mean() + F.softplus(-real_score).mean()
        (loss + reg).backward()
        return {
            "loss_D": loss.detach(),
            "reg": reg.detach(),
            "D_real": real_score.detach().mean(),
            "D_fake": fake_score.detach().mean(),
            "real_scores": real_score.detach(),
        }

    def _gradient_penalty(self, real, fake, labels, stage, alpha) -> torch.Tensor:
        if self.cfg.gp_lambda == 0:
            return real.new_zeros((), dtype=torch.float32)
        u = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        mixed = torch.lerp(real.detach().float(), fake.detach().float(), u.float()).requires_grad_(
            True
        )
        score = self.D_reg(mixed, labels, stage, alpha)
        (grad,) = torch.autograd.grad(score.float().sum(), mixed, create_graph=True)
        norm = grad.float().flatten(1).norm(dim=1)
        t = self.cfg.gp_target
        return self.cfg.gp_lambda * ((norm - t) ** 2 / t**2).mean()

    def _real_scores_and_r1(self, real, labels, stage, alpha) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.r1_gamma == 0:
            return self.D(real, labels, stage, alpha).float(), real.new_zeros(
                (), dtype=torch.float32
            )
        x = real.detach().requires_grad_(True)
        score = self.D_reg(x, labels, stage, alpha).float()
        (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
        r1 = self.cfg.r1_gamma / 2 * grad.float().square().flatten(1).sum(dim=1).mean()
        return score, r1
