"""`python -m deepsynth` is the same as the `deepsynth` console script."""

import sys

from deepsynth.cli import main

sys.exit(main())
