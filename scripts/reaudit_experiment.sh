#!/usr/bin/env bash
# Redo a finished experiment's audits in the current audit (ImageNet features, equal n, fine
# structures), reusing every GAN run, sample and classifier run: nothing is retrained.
#
#   scripts/reaudit_experiment.sh EXPERIMENT_DIR [RESULTS_DIR]
#
# EXPERIMENT_DIR: a finished `lesiongan experiment generators|imbalance|scarcity` directory (its
# runs must be there: gan/, runs/, synthetic/, curve/*/synthetic). The old audits are moved to
# EXPERIMENT_DIR/audit-before-STAMP/ (kept, not deleted), the experiment is re-run from its own
# config.yaml (every finished job is reused; only the audits run), and results.json, results.md
# and figures/ are rewritten. With RESULTS_DIR (e.g. docs/results/generators/isic2017-cpu), the
# results are copied there and the README block to paste is printed (README markers:
# <!-- generators:NAME --> or <!-- verdict:NAME -->).
set -euo pipefail
exp=${1:?usage: $0 EXPERIMENT_DIR [RESULTS_DIR]}
dest=${2:-}
py=${PYTHON:-.venv/bin/python}
kind=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['stage'].split()[1])" \
    "$exp/provenance.json")
aside="$exp/audit-before-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$aside"
if [ -d "$exp/audit" ]; then mv "$exp/audit" "$aside/audit"; fi
for d in "$exp"/curve/*/kimg-*/realism; do
    [ -d "$d" ] || continue
    rel=${d#"$exp"/}
    mkdir -p "$aside/$(dirname "$rel")"
    mv "$d" "$aside/$rel"
done
echo "old audits moved to $aside"
"$py" -m lesiongan experiment "$kind" "$exp/config.yaml" --out "$exp"
if [ -n "$dest" ]; then
    mkdir -p "$dest"
    for f in results.json results.md results.csv; do
        if [ -f "$exp/$f" ]; then cp "$exp/$f" "$dest/"; fi
    done
    if [ -d "$exp/figures" ]; then mkdir -p "$dest/figures" && cp "$exp"/figures/*.png "$dest/figures/"; fi
    echo "--- README block for $(basename "$dest") (lesiongan report $dest --markdown):"
    "$py" -m lesiongan report "$dest" --markdown
fi
