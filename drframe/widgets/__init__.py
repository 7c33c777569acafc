"""Notebook widgets (a workflow layer: uses bulk, the tables and the API through their packages; nothing imports
it). Forms: edit one customer with inline validation, a diff preview and the API's errors in place.

>>> form = drframe.widgets.CustomerForm(client, "5774321008")
>>> form                                  # renders in Jupyter / Voila
>>> drframe.widgets.CustomerForm.from_row(client, frames.customers.iloc[3])
>>> drframe.widgets.CustomerFinder(client, frames)      # email, id(s) or a query on frames.customers -> the form
>>> grid = drframe.widgets.CustomerGrid(frames, columns=["email", "locale"]); grid.plan()
"""

from .._errors import QueryError
from ._finder import CustomerFinder
from ._form import NOT_IN_FORM, SHIPPING_FIELDS, CustomerForm
from ._grid import GRID_COLUMNS, PROBLEMS_COLUMN, CustomerGrid
from ._search import find_customers

__all__ = ["GRID_COLUMNS", "NOT_IN_FORM", "PROBLEMS_COLUMN", "SHIPPING_FIELDS", "CustomerFinder", "CustomerForm",
           "CustomerGrid", "QueryError", "find_customers"]

