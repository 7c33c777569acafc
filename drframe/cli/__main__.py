"""``python -m drframe.cli``."""

from . import run

run()
