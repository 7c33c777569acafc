"""Notebook forms: edit one customer with inline validation, a diff preview and the API's errors in place.

>>> form = drframe.widgets.CustomerForm(client, "5774321008")
>>> form                                  # renders in Jupyter / Voila
>>> drframe.widgets.CustomerForm.from_row(client, frames.customers.iloc[3])
>>> drframe.widgets.CustomerFinder(client, frames)      # email, id(s) or a query on frames.customers -> the form
>>> grid = drframe.widgets.CustomerGrid(frames, columns=["email", "locale"]); grid.plan()
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from ._core._models import CUSTOMER_TYPES, LOCALES
from ._core._schema import CUSTOMER_PATHS, WRITABLE_CUSTOMER_FIELDS
from ._errors import APIError, ConnectionFailed, InvalidRequest, NotFound, QueryError, RateLimited, Unauthorized
from ._tables._editing import edit_customer
from ._tables._frames import CUSTOMER_KEY, Frames, column_path, is_missing, to_frames
from .bulk._constants import CLEAR, Status

if TYPE_CHECKING:
    import pandas as pd

    from ._api._client import Client
    from .bulk import BulkResult, CellError, Plan

__all__ = ["GRID_COLUMNS", "NOT_IN_FORM", "SHIPPING_FIELDS", "CustomerFinder", "CustomerForm", "CustomerGrid",
           "QueryError", "find_customers"]

SHIPPING_FIELDS = tuple(column for column in CUSTOMER_PATHS if column.startswith("shipping."))
#: Writable fields the form does not edit, and why (every other writable field has an input).
NOT_IN_FORM = {"defaultSourceId": "a source id is chosen among the customer's sources, not typed"}
_LABEL_LAYOUT = {"description_width": "180px"}
_WIDE = w.Layout(width="520px")


def _api_error_text(exc: APIError) -> str:
    if isinstance(exc, Unauthorized):
        return ("The API refused the key (401): check DR_API_KEY, or the key given to drframe.connect "
                f"({exc.message})")
    if isinstance(exc, NotFound):
        lead = "This customer no longer exists (404)."
    elif isinstance(exc, RateLimited):
        wait = f" Try again in {exc.retry_after:.0f} s." if exc.retry_after else " Try again shortly."
        return f"The API is rate limiting requests (429).{wait}"
    elif exc.status == 409:
        lead = "The API refused the change because of a conflict (409)."
    else:
        lead = f"The API refused the change ({exc.status})."
    where = f" Field {exc.parameter}:" if exc.parameter else ""
    return f"{lead}{where} {exc.message}"


class CustomerForm:
    """An ipywidgets form for one customer: email, locale, type, enabled, shipping and metadata.

    Every edit re-validates with the same pydantic models the client and the bulk tool use; errors appear under
    the field, the diff preview shows exactly what Save will send, and API errors (404, 409, 429 ...) appear in
    the form instead of raising.
    """

    def __init__(self, client: Client, customer_id: str | None = None, *, email: str | None = None,
                 on_saved: Callable[[dict[str, Any]], None] | None = None) -> None:
        if (customer_id is None) == (email is None):
            raise TypeError("CustomerForm needs a customer_id or an email (one of them)")
        self.client = client
        self.customer_id = customer_id or ""
        self.on_saved = on_saved
        self.inputs: dict[str, w.ValueWidget] = {}
        self.errors: dict[str, w.HTML] = {}
        self.metadata_rows: list[tuple[w.Text, w.Text]] = []
        self.status = w.HTML()
        self.diff = w.HTML()
        self.save_button = w.Button(description="Save", button_style="primary", icon="check", disabled=True)
        self.reset_button = w.Button(description="Reset", icon="undo")
        self.add_metadata_button = w.Button(description="Add metadata", icon="plus")
        self.save_button.on_click(lambda _: self.save())
        self.reset_button.on_click(lambda _: self.reload())
        self.add_metadata_button.on_click(lambda _: self._add_metadata_row("", ""))
        self._metadata_box = w.VBox()
        self.widget = w.VBox(layout=w.Layout(width="760px"))
        self._current: dict[str, Any] = {}
        #: With ``email=``: the customers sharing it, to choose from when there are several.
        self.choice: w.Dropdown | None = None
        if email is None:
            self.reload()
        else:
            self._open_by_email(email)

    @classmethod
    def from_row(cls, client: Client, row: pd.Series[Any] | Mapping[str, Any], **kwargs: Any) -> CustomerForm:
        """A form for the customer in one row of the customers frame (``frames.customers.iloc[i]``, a Series)."""
        return cls(client, str(row[CUSTOMER_KEY]), **kwargs)

    # -- building -------------------------------------------------------------------------------------------

    def _open_by_email(self, email: str) -> None:
        """Open the one customer with this email; offer a choice when several share it; say so when none does."""
        title = w.HTML(f"<b>Customers with the email {html.escape(email)}</b>")
        try:
            matches = find_customers(self.client, email, by="email")
        except _SEARCH_ERRORS as exc:
            self.widget.children = [title, self.status]
            self._show_status(_search_error_text(exc), ok=False)
            return
        ids = [str(i) for i in matches[CUSTOMER_KEY]]
        if len(ids) == 1:
            self.open(ids[0])
            return
        if not ids:
            self.widget.children = [title, self.status]
            self._show_status(f"No customer has the email {email}.", ok=False)
            return
        self.choice = w.Dropdown(options=[(_match_label(row), str(row[CUSTOMER_KEY]))
                                          for row in matches.to_dict("records")],
                                 description="Customer", style=_LABEL_LAYOUT, layout=_WIDE)
        open_button = w.Button(description="Open", icon="folder-open")
        open_button.on_click(lambda _: self.open(str(self.choice.value if self.choice else "")))
        self.widget.children = [title, w.HTML(f"{len(ids)} customers share this email: pick one."),
                                w.HBox([self.choice, open_button]), self.status]

    def open(self, customer_id: str) -> None:
        """Show this customer in the form (fetching it)."""
        self.customer_id = customer_id
        self.reload()

    def reload(self) -> None:
        """Fetch the customer again and reset every field to its current value."""
        if not self.customer_id:
            return
        try:
            raw = self.client.customers.get(self.customer_id).to_api()
        except _SEARCH_ERRORS as exc:
            self._current = {}
            self.inputs = {}
            self.widget.children = [w.HTML(f"<b>Customer {html.escape(self.customer_id)}</b>"), self.status]
            self._show_status(_search_error_text(exc), ok=False)
            return
        self._current = _first_row(raw)
        self._build()
        self._show_status("")
        self.refresh()

    def _value(self, column: str) -> Any:
        value = self._current.get(column)
        return None if is_missing(value) else value

    def _text(self, column: str, description: str) -> w.Text:
        text = w.Text(value=str(self._value(column) or ""), description=description, style=_LABEL_LAYOUT,
                      layout=_WIDE, continuous_update=True)
        return text

    def _choice(self, column: str, description: str, choices: Sequence[str]) -> w.Dropdown:
        """A dropdown of the API's values; a current value the API no longer accepts stays selectable."""
        current = self._value(column)
        options: list[tuple[str, str | None]] = [("(not set)", None), *((c, c) for c in choices)]
        if current is not None and current not in choices:
            options.append((f"{current} (not supported)", current))
        return w.Dropdown(options=options, value=current, description=description, style=_LABEL_LAYOUT)

    def _yes_no(self, column: str, description: str) -> w.Dropdown:
        return w.Dropdown(options=[("(not set)", None), ("yes", True), ("no", False)], value=self._value(column),
                          description=description, style=_LABEL_LAYOUT)

    def _build(self) -> None:
        self.inputs = {"email": self._text("email", "Email")}
        self.inputs["locale"] = self._choice("locale", "Locale", LOCALES)
        self.inputs["type"] = self._choice("type", "Type", CUSTOMER_TYPES)
        self.inputs["enabled"] = self._yes_no("enabled", "Enabled")
        self.inputs["requestToBeForgotten"] = self._yes_no("requestToBeForgotten", "Forget (GDPR)")
        for column in SHIPPING_FIELDS:
            label = column.removeprefix("shipping.").removeprefix("address.").removeprefix("additionalAddressInfo.")
            self.inputs[column] = self._text(column, f"Shipping {label}")
        self.errors = {column: w.HTML() for column in self.inputs}
        self.errors["metadata"] = w.HTML()
        for widget in self.inputs.values():
            widget.observe(lambda _: self.refresh(), names="value")
        self.metadata_rows = []
        self._metadata_box.children = []
        for key, value in sorted(self._metadata().items()):
            self._add_metadata_row(key, "" if value is None else str(value))
        title = w.HTML(f"<h3 style='margin:0'>Customer <code>{html.escape(self.customer_id)}</code></h3>")
        fields = []
        for column, widget in self.inputs.items():
            fields += [widget, self.errors[column]]
        self.widget.children = [
            title, *fields, w.HTML("<b>Metadata</b>"), self._metadata_box, self.add_metadata_button,
            self.errors["metadata"], w.HTML("<b>Changes</b>"), self.diff,
            w.HBox([self.save_button, self.reset_button]), self.status,
        ]

    def _metadata(self) -> dict[str, Any]:
        return {column.removeprefix("metadata."): self._value(column) for column in self._current
                if column.startswith("metadata.") and self._value(column) is not None}

    def _add_metadata_row(self, key: str, value: str) -> None:
        key_box = w.Text(value=key, placeholder="key", layout=w.Layout(width="200px"))
        value_box = w.Text(value=value, placeholder="value", layout=w.Layout(width="300px"))
        remove = w.Button(icon="trash", tooltip="remove this key", layout=w.Layout(width="40px"))
        pair = (key_box, value_box)
        self.metadata_rows.append(pair)
        row = w.HBox([key_box, value_box, remove])

        def on_remove(_: Any) -> None:
            self.metadata_rows.remove(pair)
            self._metadata_box.children = tuple(c for c in self._metadata_box.children if c is not row)
            self.refresh()

        remove.on_click(on_remove)
        key_box.observe(lambda _: self.refresh(), names="value")
        value_box.observe(lambda _: self.refresh(), names="value")
        self._metadata_box.children = (*self._metadata_box.children, row)
        self.refresh()

    # -- state ----------------------------------------------------------------------------------------------

    def edits(self) -> dict[str, Any]:
        """The form's values as edits of the customers row (column -> value; None clears)."""
        if not self.inputs:
            return {}
        edits: dict[str, Any] = {}
        for column, widget in self.inputs.items():
            value = widget.value
            if isinstance(value, str):
                value = value.strip() or None
            edits[column] = value
        wanted = {k.value.strip(): v.value for k, v in self.metadata_rows if k.value.strip()}
        for key in self._metadata():
            if key not in wanted:
                edits[f"metadata.{key}"] = None
        for key, value in wanted.items():
            edits[f"metadata.{key}"] = value
        return edits

    def pending(self) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
        """The update payload Save would send and its field changes; raises InvalidRequest."""
        return edit_customer(self._current, self.edits())

    def refresh(self) -> None:
        """Re-validate, update the per-field errors, the diff preview and the Save button."""
        if not self.inputs:
            return
        for box in self.errors.values():
            box.value = ""
        try:
            _, changes = self.pending()
        except InvalidRequest as exc:
            unplaced = []
            for parameter, _, message in exc.errors:
                box = self.errors.get(parameter) or (self.errors["metadata"] if parameter.startswith("metadata")
                                                     else None)
                if box is None:
                    unplaced.append(f"{parameter}: {message}")
                else:
                    box.value = f"<span style='color:#b00020'>&#9888; {html.escape(message)}</span>"
            self._show_status("; ".join(unplaced), ok=False)
            self.diff.value = "<i>fix the highlighted fields to see the changes</i>"
            self.save_button.disabled = True
            return
        keyless = [v.value.strip() for k, v in self.metadata_rows if not k.value.strip() and v.value.strip()]
        if keyless:  # never drop a value the user typed: say so and hold Save until it has a key or is removed
            self.errors["metadata"].value = (
                "<span style='color:#b00020'>&#9888; a metadata value needs a key: "
                f"{html.escape(', '.join(map(repr, keyless)))} would not be saved</span>")
            self.diff.value = "<i>give every metadata value a key (or remove the row) to see the changes</i>"
            self.save_button.disabled = True
            return
        self.diff.value = _diff_table(changes)
        self.save_button.disabled = not changes

    def save(self) -> dict[str, Any] | None:
        """Send the pending update; shows the outcome (or the API's error) in the form. Returns the customer."""
        try:
            payload, changes = self.pending()
        except InvalidRequest as exc:
            self._show_status(f"Not saved: {exc}", ok=False)
            return None
        if not changes:
            self._show_status("Nothing to save.")
            return None
        self.save_button.disabled = True
        try:
            saved = self.client.customers.update(self.customer_id, payload).to_api()
        except APIError as exc:
            self._show_status(_api_error_text(exc), ok=False)
            self.save_button.disabled = False
            return None
        except ConnectionFailed as exc:
            self._show_status(f"Could not reach the API: {exc}", ok=False)
            self.save_button.disabled = False
            return None
        self._current = _first_row(saved)
        self.refresh()
        self._show_status(f"Saved {len(changes)} change(s).")
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved

    def _show_status(self, message: str, *, ok: bool = True) -> None:
        color = "#1b5e20" if ok else "#b00020"
        self.status.value = f"<span style='color:{color}'>{html.escape(message)}</span>" if message else ""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"CustomerForm(customer_id={self.customer_id!r})"


def _first_row(raw: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in to_frames([raw]).customers.iloc[0].to_dict().items()}


def _diff_table(changes: list[tuple[str, Any, Any]]) -> str:
    if not changes:
        return "<i>no changes</i>"
    rows = "".join(
        f"<tr><td><code>{html.escape(column)}</code></td><td>{html.escape(_shown(before))}</td>"
        f"<td>{html.escape(_shown(after))}</td></tr>"
        for column, before, after in changes
    )
    return ("<table class='drframe-diff'><tr><th>field</th><th>before</th><th>after</th></tr>"
            f"{rows}</table>")


def _shown(value: Any) -> str:
    return "(empty)" if value is None else str(value)


# -- finding customers ----------------------------------------------------------------------------------------

#: What a search can meet that the widget shows instead of raising.
_SEARCH_ERRORS = (APIError, ConnectionFailed, InvalidRequest, QueryError)
#: The columns a match shows (those the frame has).
_MATCH_COLUMNS = ("customer_id", "email", "locale", "type", "enabled", "shipping.name", "shipping.address.country")
_SEARCH_MODES = ("auto", "email", "ids", "query")
_QUERY_SIGNS = re.compile(r"==|!=|<|>|\.str\.|`|\b(and|or|not|in)\b")


def _search_error_text(exc: Exception) -> str:
    if isinstance(exc, APIError):
        return _api_error_text(exc)
    if isinstance(exc, ConnectionFailed):
        return f"Could not reach the API: {exc}"
    return str(exc)


def _search_kind(text: str, frame: pd.DataFrame | None) -> str:
    """What ``auto`` searches by: a query when a frame is held and the text reads as one, an email when it has an
    ``@``, else ids."""
    if frame is not None and _QUERY_SIGNS.search(text):
        return "query"
    return "email" if "@" in text else "ids"


def find_customers(client: Client, text: str, *, by: str = "auto",
                   frame: pd.DataFrame | Frames | None = None) -> pd.DataFrame:
    """The customers frame rows matching ``text``: ``by="email"`` (the API's ``email`` filter: several customers
    may share one), ``"ids"`` (ids separated by commas or spaces; ids the API does not have are left out),
    ``"query"`` (``DataFrame.query`` on ``frame``, the customers frame the caller holds: no API call), or
    ``"auto"``. Raises APIError, ConnectionFailed, InvalidRequest (an id the API cannot address) or QueryError."""
    held = frame.customers if isinstance(frame, Frames) else frame
    text = text.strip()
    kind = _search_kind(text, held) if by == "auto" else by
    if kind not in _SEARCH_MODES[1:]:
        raise ValueError(f"by must be one of {', '.join(_SEARCH_MODES)}, not {by!r}")
    if not text:
        return to_frames([]).customers
    if kind == "query":
        if held is None:
            raise QueryError("A query needs a frame to run on: CustomerFinder(client, frames).")
        try:
            return held.query(text, engine="python")
        except Exception as exc:  # pandas raises many kinds (SyntaxError, UndefinedVariableError, TypeError...)
            raise QueryError(f"Not a query pandas can run on the frame: {exc}. Column names with dots go in "
                             "backticks: `shipping.address.country` == 'DE'") from exc
    if kind == "email":
        return to_frames(list(client.customers.iter_raw(email=text))).customers
    ids = list(dict.fromkeys(re.split(r"[\s,;]+", text)))
    found = client.customers.get_many_raw(ids)
    return to_frames([found[i] for i in ids if i in found]).customers


def _match_label(row: Mapping[Any, Any]) -> str:
    parts = [str(row[CUSTOMER_KEY])] + [str(row[c]) for c in ("shipping.name", "locale", "createdTime")
                                        if c in row and not is_missing(row[c])]
    return " · ".join(parts)


class CustomerFinder:
    """A search box: an email, an id or several, or a pandas query on a frame you hold. Matches show in a table;
    Open shows that customer's :class:`CustomerForm` below it. Errors (no match, 401, 429, no network, a bad
    query) show in the widget."""

    #: Matches shown at most (the rest are counted).
    LIMIT = 50

    def __init__(self, client: Client, frame: pd.DataFrame | Frames | None = None) -> None:
        self.client = client
        self.frame = frame
        self.text = w.Text(placeholder="an email, id(s), or a query such as locale == 'fr_FR'",
                           description="Find", style=_LABEL_LAYOUT, layout=_WIDE, continuous_update=False)
        modes = _SEARCH_MODES if frame is not None else _SEARCH_MODES[:3]
        self.by = w.Dropdown(options=modes, value="auto", description="by", layout=w.Layout(width="160px"))
        self.search_button = w.Button(description="Search", icon="search", button_style="primary")
        self.status = w.HTML()
        self.table = w.GridBox()
        self.form_box = w.VBox()
        self.matches = to_frames([]).customers
        self.open_buttons: list[w.Button] = []
        self.form: CustomerForm | None = None
        self.search_button.on_click(lambda _: self.search())
        self.text.observe(lambda _: self.search(), names="value")  # Enter in the box
        self.widget = w.VBox([w.HBox([self.text, self.by, self.search_button]), self.status, self.table,
                              self.form_box], layout=w.Layout(width="900px"))

    def search(self, text: str | None = None) -> pd.DataFrame:
        """Search (``text`` replaces the box's text) and show the matches; opens the form when one matches."""
        if text is not None and text != self.text.value:
            self.text.value = text  # observed: searches
            return self.matches
        self.form, self.form_box.children = None, []
        try:
            self.matches = find_customers(self.client, self.text.value, by=str(self.by.value), frame=self.frame)
        except _SEARCH_ERRORS as exc:
            self.matches = to_frames([]).customers
            self._show(_search_error_text(exc), ok=False)
            return self.matches
        count = len(self.matches)
        if not self.text.value.strip():
            self._show("")
        elif not count:
            self._show(f"No customer matches {self.text.value.strip()!r}.", ok=False)
        else:
            more = f" (showing the first {self.LIMIT}: refine the search)" if count > self.LIMIT else ""
            self._show(f"{count} match{'es' if count > 1 else ''}{more}.")
        if count == 1:
            self.open(str(self.matches.iloc[0][CUSTOMER_KEY]))
        return self.matches

    def open(self, customer_id: str) -> CustomerForm:
        """Show the form of one customer below the matches."""
        self.form = CustomerForm(self.client, customer_id)
        self.form_box.children = [self.form.widget]
        return self.form

    def _show(self, message: str, *, ok: bool = True) -> None:
        color = "#1b5e20" if ok else "#b00020"
        self.status.value = f"<span style='color:{color}'>{html.escape(message)}</span>" if message else ""
        self._table()

    def _table(self) -> None:
        shown = self.matches.head(self.LIMIT)
        columns = [c for c in _MATCH_COLUMNS if c in shown.columns]
        cells: list[w.Widget] = [w.HTML("")] + [w.HTML(f"<b>{html.escape(c)}</b>") for c in columns]
        self.open_buttons = []
        for row in shown.to_dict("records"):
            customer_id = str(row[CUSTOMER_KEY])
            button = w.Button(description="Open", tooltip=customer_id, layout=w.Layout(width="70px"))
            button.on_click(lambda _, c=customer_id: self.open(c))
            self.open_buttons.append(button)
            cells += [button, *(w.HTML(html.escape(_shown(None if is_missing(row[c]) else row[c])))
                                for c in columns)]
        self.table.children = cells if len(shown) else []
        self.table.layout = w.Layout(grid_template_columns=f"80px repeat({len(columns)}, auto)",
                                     grid_gap="2px 12px")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"CustomerFinder(matches={len(self.matches)})"


# -- editing many customers in a grid -----------------------------------------------------------------------------

#: The columns a grid shows unless told otherwise.
GRID_COLUMNS = ("email", "locale", "type", "enabled", "shipping.name", "shipping.address.country",
                "shipping.address.postalCode")
#: The grid's last column: each row's invalid cells with the bulk rule's message (read-only).
PROBLEMS_COLUMN = "problems"
_INVALID_FILL = "#f8d7da"


def _writable(column: str) -> bool:
    return column_path(column)[0] in WRITABLE_CUSTOMER_FIELDS


class CustomerGrid:
    """Many customers in an editable grid (``ipydatagrid``): edit cells as in a spreadsheet, then :meth:`plan`.

    Cells hold text as an exported sheet does (an emptied cell clears the field, as ``<clear>`` does in a
    sheet); only writable columns take edits. Each edit is checked at once by the bulk rules
    (:func:`drframe.bulk.plan`'s, against the row the grid holds: no call), an invalid cell turns red with the
    same message a sheet row gets, and a summary of pending rows, fields and invalid cells sits above the grid.
    Edits never call the API: ``grid.plan()`` is a :class:`drframe.bulk.Plan` of the edited cells only (fresh
    state fetched, the same diff, review, journal and results as a spreadsheet); the Plan and Apply buttons do
    the same in the page. The browser draws only the visible cells (a canvas), so 20,000 rows stay responsive.
    """

    def __init__(self, frames_or_client: Frames | pd.DataFrame | Client, columns: Sequence[str] | None = None, *,
                 client: Client | None = None, height: str = "420px") -> None:
        from ipydatagrid import DataGrid, TextRenderer, VegaExpr

        from ._api._client import Client
        from .bulk._rows import cell_text, check_columns

        if isinstance(frames_or_client, Client):
            client = client or frames_or_client
            customers = frames_or_client.customers.to_frames().customers
        else:
            customers = frames_or_client.customers if isinstance(frames_or_client, Frames) else frames_or_client
        self.client = client
        shown = [c for c in (columns or GRID_COLUMNS) if c != CUSTOMER_KEY]
        check_columns(shown, "CustomerGrid columns")  # an unknown name stops here, with the closest known one
        self.columns = shown
        self.writable = [c for c in shown if _writable(c)]
        self._customers = customers.reset_index(drop=True)
        text = pd.DataFrame({c: (self._customers[c].map(cell_text) if c in self._customers else "")
                             for c in shown}, dtype=object)
        self._original = text.copy()
        text.index = pd.Index(self._customers[CUSTOMER_KEY].astype(str), name=CUSTOMER_KEY)
        text[PROBLEMS_COLUMN] = ""
        self.edits: dict[int, dict[str, str]] = {}
        """Row position -> column -> the edited text (``<clear>`` for an emptied cell)."""
        self.problems: dict[int, list[CellError]] = {}
        self.changes: dict[int, list[tuple[str, Any, Any]]] = {}
        self._refreshed: dict[int, dict[str, Any]] = {}  # rows re-read after an apply
        self._busy = False
        fill = {c: TextRenderer(background_color=VegaExpr(
            f"indexof('; ' + cell.metadata.data['{PROBLEMS_COLUMN}'], '; {c}: ') >= 0 ? '{_INVALID_FILL}' : "
            f"'{'#ffffff' if c in self.writable else '#f3f3f3'}'")) for c in shown}
        fill[PROBLEMS_COLUMN] = TextRenderer(text_color="#b00020", background_color="#f3f3f3")
        self.grid = DataGrid(text, editable=True, renderers=fill, base_column_size=170, base_row_size=24,
                             base_column_header_size=28, base_row_header_size=190,
                             column_widths={PROBLEMS_COLUMN: 420}, layout=w.Layout(height=height))
        self.grid.on_cell_change(self._on_cell_change)
        self.summary = w.HTML()
        self.status = w.HTML()
        self.plan_button = w.Button(description="Plan changes", icon="list", disabled=True)
        self.apply_button = w.Button(description="Apply", icon="check", button_style="warning", disabled=True)
        self.review = w.HTML()
        self.current_plan: Plan | None = None
        self.result: BulkResult | None = None
        self.plan_button.on_click(lambda _: self._plan_clicked())
        self.apply_button.on_click(lambda _: self.apply())
        read_only = [c for c in shown if c not in self.writable]
        note = (f"<i>read-only: {html.escape(', '.join(read_only))}</i>" if read_only else "")
        self.widget = w.VBox([self.summary, self.grid, w.HTML(note), w.HBox([self.plan_button, self.apply_button]),
                              self.status, self.review])
        self._summarise()

    # -- editing ----------------------------------------------------------------------------------------------

    def edit(self, row: int, column: str, value: str) -> None:
        """Edit one cell as typing into it does (``row`` is the row's position in the grid)."""
        self.grid.set_cell_value_by_index(column, row, value)

    def _on_cell_change(self, change: Mapping[str, Any]) -> None:
        if self._busy:
            return
        row, column = int(change["row"]), str(change["column"])
        value = change["value"]
        text = "" if value is None or is_missing(value) else str(value).strip()
        if column not in self.writable:  # read-only (or the problems column): put back what it held
            held = str(self._original.at[row, column]) if column in self._original else self._problems_text(row)
            if text == held:  # the browser echoing a value set here
                return
            self._set(row, column, held)
            self._show(f"{column} is read-only: the edit was undone.", ok=False)
            return
        original = str(self._original.at[row, column])
        row_edits = self.edits.setdefault(row, {})
        if text == original:
            row_edits.pop(column, None)
        else:
            row_edits[column] = text or CLEAR
        if not row_edits:
            del self.edits[row]
        self._check(row)
        self._summarise()

    def _set(self, row: int, column: str, value: str) -> None:
        self._busy = True
        try:
            self.grid.set_cell_value_by_index(column, row, value)
        finally:
            self._busy = False

    def _current_row(self, row: int) -> dict[str, Any]:
        return self._refreshed.get(row) or {str(k): v for k, v in self._customers.iloc[row].to_dict().items()}

    def _check(self, row: int) -> None:
        """The row's edits through the bulk row rules: its invalid cells and field changes, marked in the grid."""
        from .bulk._plan import check_row

        before = self._problems_text(row)
        self.problems.pop(row, None)
        self.changes.pop(row, None)
        if row in self.edits:
            current = self._current_row(row)
            checked = check_row(row + 2, {CUSTOMER_KEY: str(current[CUSTOMER_KEY]), **self.edits[row]}, current)
            if checked.errors:
                self.problems[row] = checked.errors
            if checked.changes:
                self.changes[row] = checked.changes
        after = self._problems_text(row)
        if after != before:
            self._set(row, PROBLEMS_COLUMN, after)

    def _problems_text(self, row: int) -> str:
        return "; ".join(f"{e.column}: {e.message}" for e in self.problems.get(row, []))

    # -- the summary, the plan, applying ----------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        """Pending edits: rows, fields changed, invalid cells."""
        return {"rows": len(self.edits), "fields": sum(len(c) for c in self.changes.values()),
                "invalid cells": sum(len(p) for p in self.problems.values())}

    def _summarise(self) -> None:
        counts = self.pending()
        invalid = counts["invalid cells"]
        text = (f"<b>Pending:</b> {counts['rows']} row(s) edited, {counts['fields']} field change(s), "
                + (f"<span style='color:#b00020'><b>{invalid} invalid cell(s)</b></span>" if invalid
                   else "0 invalid cells")
                + " &middot; nothing is sent until you plan and apply")
        problems = "".join(
            f"<li><code>{html.escape(str(self._customers.at[r, CUSTOMER_KEY]))}</code> {html.escape(e.column)}"
            f" = {html.escape(repr(e.value))}: {html.escape(e.message)}</li>"
            for r, errors in sorted(self.problems.items())[:20] for e in errors)
        self.summary.value = f"<div class='drframe-grid-summary'>{text}</div>" + (
            f"<ul class='drframe-grid-problems' style='color:#b00020'>{problems}</ul>" if problems else "")
        self.plan_button.disabled = not self.edits

    def edits_frame(self) -> pd.DataFrame:
        """The edited rows as a bulk input: ``customer_id`` and every edited column; a cell not edited in its row
        is empty (left unchanged), an emptied one is ``<clear>``."""
        columns = [c for c in self.writable if any(c in e for e in self.edits.values())]
        records = [{CUSTOMER_KEY: str(self._customers.at[r, CUSTOMER_KEY]),
                    **{c: self.edits[r].get(c, "") for c in columns}} for r in sorted(self.edits)]
        return pd.DataFrame.from_records(records, columns=[CUSTOMER_KEY, *columns]).astype("string")

    def plan(self, client: Client | None = None) -> Plan:
        """The pending edits as a :class:`drframe.bulk.Plan` (``drframe.bulk.plan(grid.edits_frame(), client)``):
        current state fetched, the same diff, errors, review, journal and results as a spreadsheet."""
        from . import bulk

        self.current_plan = bulk.plan(self.edits_frame(), client or self.client)
        return self.current_plan

    def _plan_clicked(self) -> None:
        try:
            plan = self.plan()
        except _SEARCH_ERRORS as exc:
            self._show(_search_error_text(exc), ok=False)
            return
        self.review.value = plan._repr_html_()
        sending = len(plan.pending)
        self.apply_button.description = f"Apply {sending} row(s)"
        self.apply_button.disabled = not sending
        self._show(f"Planned: {sending} row(s) to send. Review the changes, then Apply.")

    def apply(self, **options: Any) -> BulkResult | None:
        """Apply the last plan (``plan.apply(**options)``: workers, rate, journal ...); shows the outcome, and the
        applied rows become the grid's new starting point."""
        plan = self.current_plan or self.plan()
        self.apply_button.disabled, self.apply_button.description = True, "Apply"
        options.setdefault("progress", False)
        try:
            result = plan.apply(**options)
        except _SEARCH_ERRORS as exc:
            self._show(_search_error_text(exc), ok=False)
            return None
        self.result, self.current_plan = result, None
        by_id = {str(self._customers.at[r, CUSTOMER_KEY]): r for r in self.edits}
        self._rebase([by_id[row.customer_id] for row in result.rows
                      if row.status in {Status.APPLIED, Status.UNCHANGED} and row.customer_id in by_id])
        counts = ", ".join(f"{k}: {v}" for k, v in result.counts.items() if v)
        self._show(f"Done: {counts}.", ok=result.ok)
        self.review.value = result._repr_html_()
        return result

    def _rebase(self, rows: list[int]) -> None:
        """Rows the API now holds as edited: read them again and make them the starting point."""
        if not rows:
            return
        from .bulk._rows import cell_text

        client = self.client or (self.current_plan.client if self.current_plan else None)
        ids = [str(self._customers.at[r, CUSTOMER_KEY]) for r in rows]
        fresh = to_frames(list(client.customers.get_many_raw(ids).values())).customers if client else None
        for r, customer_id in zip(rows, ids, strict=True):
            if fresh is not None:
                match = fresh[fresh[CUSTOMER_KEY] == customer_id]
                if len(match):
                    self._refreshed[r] = {str(k): v for k, v in match.iloc[0].to_dict().items()}
            for column in self.edits.pop(r, {}):
                value = self._refreshed.get(r, {}).get(column)
                self._original.at[r, column] = cell_text(value)
            self._check(r)
        self._summarise()

    def _show(self, message: str, *, ok: bool = True) -> None:
        color = "#1b5e20" if ok else "#b00020"
        self.status.value = f"<span style='color:{color}'>{html.escape(message)}</span>" if message else ""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        counts = self.pending()
        return (f"CustomerGrid({len(self._customers)} rows; pending: {counts['rows']} rows, {counts['fields']} "
                f"fields, {counts['invalid cells']} invalid cells)")
