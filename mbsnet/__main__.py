"""`python -m mbsnet`: the command line (mbsnet.cli)."""
import sys

from mbsnet.cli import main

sys.exit(main())
