"""What the CLI's parts share: exit codes and the usage error."""

from __future__ import annotations

from .._errors import DRError

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE, EXIT_API, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = """exit codes:
  0    all good
  1    a row failed or was invalid
  2    usage: bad arguments, unreadable input, unknown columns, no target named
  3    API or network failure: bad key, forbidden, unreachable host
  130  interrupted (Ctrl-C); run the same command again to continue"""


class UsageError(DRError):
    """Arguments that do not fit together; exit 2."""
