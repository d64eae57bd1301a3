"""``python -m station``: the same as ``bodycam-station``."""
import sys

from station.cli import main

sys.exit(main())
