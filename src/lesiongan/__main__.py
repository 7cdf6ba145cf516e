"""``python -m lesiongan`` (used by ``torchrun -m lesiongan gan train ...``)."""

import sys

from lesiongan.cli import main

sys.exit(main())
