import sys

from mbsnet.cli import main

sys.exit(main())
