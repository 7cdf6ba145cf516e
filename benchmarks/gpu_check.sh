#!/usr/bin/env bash
# Device check for a lent GPU machine: the GAN CLI end to end on CUDA (bf16, channels_last,
# torch.compile), then training throughput at 256 px with the paper's recipe. Copies the JSON
# results to $OUT. Needs the pydantic wheels in .whl/ (see DEVELOPERS.md, "GPU checks").
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD/src || exit 1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, pydantic; print('torch', torch.__version__, 'pydantic', pydantic.__version__)"
L="python3 -m lesiongan"
step() { echo "== $*"; local t0=$SECONDS; "$@"; echo "== rc=$? in $((SECONDS - t0)) s"; }
step timeout 120 $L data synth /tmp/s --n 160 --size 64 --workers 8
step timeout 60 $L data prepare /tmp/s --out /tmp/d --size 32 --workers 8
step timeout 150 $L gan train /tmp/d --out /tmp/g --config configs/gan-tiny.yaml
step timeout 60 $L gan sample /tmp/g --out /tmp/syn --per-class melanoma=64,nevus=64
step timeout 150 $L gan train /tmp/d --out /tmp/gc --config configs/gan-tiny.yaml --set runtime.compile=true
tail -n 2 /tmp/g/stats.jsonl /tmp/gc/stats.jsonl
cp /tmp/syn/preview.png "$OUT/tiny_cuda_preview.png" 2>/dev/null
B="python3 benchmarks/bench_gan_train.py --config configs/gan-paper-256.yaml --resolution 256"
step timeout 240 $B --steps 30 --warmup 5 --compile --name gan_train_cuda_paper256
step timeout 90 $B --steps 20 --set runtime.precision=fp32 --set runtime.channels_last=false --name gan_train_cuda_paper256_fp32
step timeout 120 $B --steps 20 --set "schedule.batch_size={256: 64}" --name gan_train_cuda_paper256_b64
cp benchmarks/results/gan_train_cuda*.json "$OUT/"
