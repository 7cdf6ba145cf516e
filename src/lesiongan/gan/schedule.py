"""The progressive schedule: phases in kimg (thousands of real images shown to D).

The generator family gives the resolutions trained (:meth:`GeneratorFamily.phase_resolutions`):
stabilize the first, then for every resolution after it a fade-in phase (alpha 0 -> 1) and a
stabilization phase; the last stabilization is ``schedule.final_kimg`` long (default
``stabilize_kimg``). Each phase has the batch size of its resolution (the paper lowers it at
256 px and above to fit memory).

A progressive family (``pggan``) trains from ``schedule.start_resolution`` to
``network.resolution``; the others (``stylegan2``) have one stabilization phase at the final
resolution, where ``start_resolution`` and ``fade_kimg`` do not apply.

:func:`transition_blend` is the factor of transitional conditioning (Shahbazi et al. 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lesiongan.gan.config import NetworkConfig, ScheduleConfig
from lesiongan.gan.families import get_family


@dataclass(frozen=True)
class Phase:
    index: int
    stage: int
    resolution: int
    kind: Literal["stabilize", "fade"]
    start_nimg: int
    length_nimg: int
    batch_size: int

    @property
    def end_nimg(self) -> int:
        return self.start_nimg + self.length_nimg


def stage_of(resolution: int) -> int:
    """The stage index of a resolution: 0 = 4 px, k = 4 * 2**k px."""
    return int(math.log2(resolution)) - 2


def build_phases(net: NetworkConfig, sched: ScheduleConfig) -> list[Phase]:
    phases: list[Phase] = []
    start = 0
    res_list = get_family(net.arch).phase_resolutions(net, sched)
    for res in res_list:
        kinds: list[Literal["stabilize", "fade"]] = (
            ["stabilize"] if res == res_list[0] else ["fade", "stabilize"]
        )
        for kind in kinds:
            kimg = sched.fade_kimg if kind == "fade" else sched.stabilize_kimg
            if kind == "stabilize" and res == res_list[-1] and sched.final_kimg is not None:
                kimg = sched.final_kimg
            n = max(1, round(kimg * 1000))
            phases.append(
                Phase(len(phases), stage_of(res), res, kind, start, n, sched.batch_for(res))
            )
            start += n
    return phases


def total_nimg(phases: list[Phase]) -> int:
    return phases[-1].end_nimg


def phase_at(phases: list[Phase], cur_nimg: int) -> tuple[Phase, float]:
    """The phase that ``cur_nimg`` falls in and its alpha (1.0 outside fade-in phases)."""
    for ph in phases:
        if cur_nimg < ph.end_nimg:
            if ph.kind == "fade":
                return ph, min(1.0, max(0.0, (cur_nimg - ph.start_nimg) / ph.length_nimg))
            return ph, 1.0
    return phases[-1], 1.0


def transition_blend(cur_kimg: float, start: float, end: float) -> float:
    """Weight of the class signal: 0 before ``start`` kimg, 1 from ``end`` on, linear between.

    Transitional conditioning (Shahbazi et al. 2022, "Collapse by Conditioning"): a GAN trained on
    little data first learns unconditionally and only then takes the classes in, which avoids
    the mode collapse of conditional training on small datasets. A pure function of the images
    seen, so a resumed run follows the same curve.
    """
    if cur_kimg < start:
        return 0.0
    if cur_kimg >= end:
        return 1.0
    return (cur_kimg - start) / (end - start)
