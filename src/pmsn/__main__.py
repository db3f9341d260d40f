"""``python -m pmsn``: the same command line as the ``pmsn`` script."""

import sys

from pmsn.cli import main

sys.exit(main())
