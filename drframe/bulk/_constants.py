"""The bulk layer's vocabulary, in one place: row statuses, actions, and the columns with a special meaning."""

from __future__ import annotations

from enum import StrEnum

from .._core._text import CLEAR, UTC_SUFFIX
from .._tables._frames import CUSTOMER_KEY, EMPTY_VALUES_COLUMN


class Status(StrEnum):
    """How an input row ended. Every row ends in exactly one of these (``PENDING`` only appears in a plan)."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    INVALID = "invalid"
    SKIPPED = "skipped"
    PENDING = "pending"
    KEPT = "kept"
    STALE = "stale"

    @property
    def description(self) -> str:
        """What the status means, as reports explain it."""
        return _STATUS_DESCRIPTIONS[self]


_STATUS_DESCRIPTIONS = {
    Status.APPLIED: "Sent and confirmed by the API",
    Status.UNCHANGED: "Already in the requested state: nothing sent",
    Status.FAILED: "The API refused it or could not be reached",
    Status.INVALID: "Bad input: nothing sent",
    Status.SKIPPED: "Blank, interrupted, after a failed row for the same customer, or past --max-failures",
    Status.PENDING: "Planned, not yet sent",
    Status.KEPT: "Not reverted: changed since the run (the note names the field and both values)",
    Status.STALE: "Not sent: the record changed since the plan was saved",
}


#: The statuses a finished run reports, in report order.
OUTCOMES: tuple[Status, ...] = tuple(s for s in Status if s is not Status.PENDING)


class Action(StrEnum):
    """What a row asks for (the ``action`` column; ``upsert`` when empty)."""

    UPSERT = "upsert"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ATTACH_SOURCE = "attach_source"
    DETACH_SOURCE = "detach_source"
    ATTACH_TAX_IDENTIFIER = "attach_tax_identifier"


#: Actions whose row carries field values.
FIELD_ACTIONS = frozenset({Action.UPSERT, Action.CREATE, Action.UPDATE})

ACTION_COLUMN = "action"
#: A tax number to hold (a VAT number, say): its type (``de``, ``uk``...) and value. Not a Digital River id.
TAX_TYPE_COLUMN = "tax_identifier.type"
TAX_VALUE_COLUMN = "tax_identifier.value"
SOURCE_COLUMN = "source_id"
TAX_COLUMN = "tax_id"
#: The column naming each action's second object.
TARGET_COLUMNS = {Action.ATTACH_SOURCE: SOURCE_COLUMN, Action.DETACH_SOURCE: SOURCE_COLUMN,
                  Action.ATTACH_TAX_IDENTIFIER: TAX_COLUMN}
#: The column an errors file (``--errors``) explains each row in; ignored when the file is applied again.
ERROR_COLUMN = "error"
#: The row number in the file first applied, which an errors file carries through every round of fixes.
SOURCE_ROW_COLUMN = "source_row"
#: Read-only columns of an exported sheet (and an errors file's explanation): accepted in an input and ignored.
IGNORED_COLUMNS = frozenset({"createdTime", "updatedTime", "liveMode", EMPTY_VALUES_COLUMN, ERROR_COLUMN,
                             SOURCE_ROW_COLUMN})


def is_ignored_column(column: str) -> bool:
    """A read-only column, also as an xlsx export heads it (``createdTime (UTC)``)."""
    return column in IGNORED_COLUMNS or column.removesuffix(UTC_SUFFIX) in IGNORED_COLUMNS

__all__ = ["ACTION_COLUMN", "CLEAR", "CUSTOMER_KEY", "ERROR_COLUMN", "FIELD_ACTIONS", "IGNORED_COLUMNS", "OUTCOMES", "SOURCE_COLUMN",
           "SOURCE_ROW_COLUMN", "TARGET_COLUMNS", "TAX_COLUMN", "TAX_TYPE_COLUMN", "TAX_VALUE_COLUMN", "Action", "Status",
           "is_ignored_column"]
