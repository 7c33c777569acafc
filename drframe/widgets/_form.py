"""The single-customer form: inline validation, a preview of what Save sends, the API's errors in place."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from .._core._models import CUSTOMER_TYPES, LOCALES
from .._core._schema import CUSTOMER_PATHS
from .._errors import APIError, ConnectionFailed, InvalidRequest
from .._tables._editing import edit_customer
from .._tables._frames import CUSTOMER_KEY, is_missing, to_frames
from ._common import _LABEL_LAYOUT, _WIDE, _api_error_text, _shown, _status_html
from ._search import _SEARCH_ERRORS, _match_label, _search_error_text, find_customers

if TYPE_CHECKING:
    from .._api._client import Client


SHIPPING_FIELDS = tuple(column for column in CUSTOMER_PATHS if column.startswith("shipping."))
#: Writable fields the form does not edit, and why (every other writable field has an input).
NOT_IN_FORM = {"defaultSourceId": "a source id is chosen among the customer's sources, not typed"}


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
        self.status.value = _status_html(message, ok=ok)

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


# -- finding customers ----------------------------------------------------------------------------------------

#: What a search can meet that the widget shows instead of raising.
