#!/usr/bin/env bash
# Device run for the generator head-to-head (docs/results/generators): PGGAN and StyleGAN2 on the
# real ISIC 2017 training split at 64 px, each for the same wall-clock budget on one GPU, one
# after the other. Each run directory comes back as a tarball (latest checkpoint only, optimizer
# state dropped) to be sampled and audited on the CPU machine with the 2-core runs.
# Needs: .whl (pydantic wheels; DEVELOPERS.md, "GPU checks") and .gpu/isic64 (a copy of
# `lesiongan data prepare ../shared/data/isic2017-256 --out isic64 --size 64 --split poster`).
# Usage (on the device): bash benchmarks/gpu_generators.sh [MINUTES] [DEVICE]
#   PARALLEL=1: both families at once on the one GPU (same minutes each); SUFFIX=-5min names.
set -u
MIN=${1:-2.5}
DEV=${2:-auto}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if [ -d .whl ] && ! python3 -c "import pydantic" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"
W=${WORK:-/tmp/gen}; mkdir -p "$W"
SUFFIX=${SUFFIX:-}   # appended to the run and tarball names, e.g. -5min
train() {  # NAME RECIPE: one family for MIN minutes; the run comes back as OUT/NAME.tar
  local name=$1$SUFFIX recipe=$2 t0=$SECONDS
  timeout $(python3 -c "print(int($MIN * 60 + 240))") python3 -m lesiongan gan train .gpu/isic64 --out "$W/$name" \
    --config "configs/$recipe.yaml" --set "schedule.max_minutes=$MIN" --set "runtime.device=$DEV" 2>&1 \
    | tr '\r' '\n' | grep -v "^\s*$" | awk 'NR % 20 == 1' | tail -n 15 > "$W/$name.log"
  echo "== $name: rc=${PIPESTATUS[0]} in $((SECONDS - t0)) s" >> "$W/$name.log"
  cat "$W/$name/status.json" >> "$W/$name.log"
  python3 - "$W/$name" <<'PY' >> "$W/$name.log"
import sys
from pathlib import Path
from lesiongan.gan.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
run = Path(sys.argv[1])
ckpts = list_checkpoints(run)
for p in ckpts[:-1]:
    p.unlink()
state = load_checkpoint(ckpts[-1], "cpu")
state["opt_G"] = state["opt_D"] = None  # sampling and the discriminator score need no optimizer
save_checkpoint(ckpts[-1], state)
grids = sorted((run / "grids").glob("*.png"))
for p in grids[:-1]:
    p.unlink()
print("kept", ckpts[-1].name, ckpts[-1].stat().st_size // 1024, "KiB")
PY
  tar -C "$W" --exclude=tensorboard -cf "$OUT/$name.tar" "$name"
  cat "$W/$name.log"
}
if [ "${PARALLEL:-0}" = 1 ]; then  # both at once on the one GPU, each the same minutes
  train pggan gan-isic2017-gpu & train stylegan2 sg2-isic2017-gpu & wait
else
  train pggan gan-isic2017-gpu
  train stylegan2 sg2-isic2017-gpu
fi
ls -la "$OUT"
