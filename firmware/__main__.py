"""``python -m firmware`` is the ``bodycam`` command."""
import sys

from firmware.cli import main

sys.exit(main())
