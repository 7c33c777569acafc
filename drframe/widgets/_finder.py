"""Find customers by email (the API's filter), id(s) or a pandas query; picking one opens its form."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from .._tables._frames import CUSTOMER_KEY, Frames, is_missing, to_frames
from ._common import _LABEL_LAYOUT, _WIDE, _shown, _status_html
from ._form import CustomerForm
from ._search import _MATCH_COLUMNS, _SEARCH_ERRORS, _SEARCH_MODES, _search_error_text, find_customers

if TYPE_CHECKING:
    from .._api._client import Client


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
        self.status.value = _status_html(message, ok=ok)
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
