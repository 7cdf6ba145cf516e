"""The Python API guide's example (docs/python-api.md) runs as written, on a tiny dataset, GAN
run and sample."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from lesiongan.config import load_config
from lesiongan.data.manifest import load_dataset
from lesiongan.gan.config import GanConfig
from lesiongan.gan.run import run_training
from lesiongan.gan.sample import SampleConfig, run_sample
from lesiongan.recipes import RECIPES

PAGE = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
MARKER = "# lesiongan Python API example"


def readme_example() -> str:
    """The fenced python block of docs/python-api.md that carries the marker comment."""
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)
    found = [b for b in blocks if MARKER in b]
    assert len(found) == 1, f"{PAGE}: expected one python block with {MARKER!r}"
    return found[0]


def point_at(code: str, paths: dict[str, Path]) -> str:
    """Rewrite the example's ``NAME = ...`` lines to the given paths (each must be there once)."""
    for name, path in paths.items():
        code, n = re.subn(rf"^{name} = .*$", f"{name} = Path({str(path)!r})", code, flags=re.M)
        assert n == 1, f"{PAGE.name} example: no single line assigning {name}"
    return code


@pytest.mark.slow
def test_readme_python_api_example_runs(
    tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(
        GanConfig,
        RECIPES / "gan-tiny.yaml",
        {"schedule.stabilize_kimg": 0.2, "schedule.fade_kimg": 0.2},
    )
    run = tmp_path / "gan-run"
    run_training(tiny_dataset, run, cfg)
    per_class = {"melanoma": 3, "seborrheic_keratosis": 2}
    syn = run_sample(run, tmp_path / "syn", SampleConfig(per_class=per_class)).path
    code = point_at(readme_example(), {"DATASET": tiny_dataset, "GAN_RUN": run, "SYNTHETIC": syn})
    scope: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code, str(PAGE), "exec"), scope)
    images, scores, pixels = scope["images"], scope["scores"], scope["pixels"]
    assert images.shape == (4, 3, 16, 16) and images.dtype == torch.float32
    assert scores.shape == (4,) and torch.isfinite(scores).all()
    assert pixels.shape == (4, 16, 16, 3) and str(pixels.dtype) == "uint8"
    n_train = len(load_dataset(tiny_dataset).split_rows("train"))
    assert len(scope["data"]) == n_train + 5
    assert scope["batch"].shape == (16, 3, 16, 16) and scope["batch"].dtype == torch.uint8
    assert scope["batch_labels"].shape == (16,)
    assert "melanoma" in capsys.readouterr().out


def test_the_example_is_found_and_its_paths_rewritten(tmp_path: Path) -> None:
    code = readme_example()
    assert "from lesiongan.gan.inference import" in code
    paths = {"DATASET": tmp_path / "d", "GAN_RUN": tmp_path / "g", "SYNTHETIC": tmp_path / "s"}
    rewritten = point_at(code, paths)
    assert f"GAN_RUN = Path({str(tmp_path / 'g')!r})" in rewritten
    with pytest.raises(AssertionError, match="no single line assigning"):
        point_at("x = 1\n", {"DATASET": tmp_path})
