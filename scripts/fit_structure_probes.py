"""Refit the fine-structure detectors and their validation from the hand labels (maintainers).

Reads the labelled real ISIC 2017 training images (``../shared/data/isic2017-256`` or the folder
given), fits one logistic probe per structure and audit resolution on the ImageNet features of
the audits, and writes ``src/lesiongan/evaluate/data/structure_probes.npz`` and
``structure_validation.json`` (stratified 5-fold cross-validated precision, recall and AUC).

    .venv/bin/python scripts/fit_structure_probes.py [IMAGE_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lesiongan.evaluate import structures as st

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "isic2017-256" / "ISIC-2017_Training_Data"


def main() -> None:
    images = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    labels = st.load_labels()
    data = ROOT / "src" / "lesiongan" / "evaluate" / "data"
    st.fit_probes(images, labels, data / st.PROBES_FILE)
    validation = st.validate_probes(images, labels)
    (data / st.VALIDATION_FILE).write_text(json.dumps(validation, indent=2) + "\n")
    print(json.dumps(validation, indent=2))


if __name__ == "__main__":
    main()
