"""``python -m drframe.cli``."""

import sys

from . import main

sys.exit(main())
