"""The public face: what ``__all__`` exports is what the README documents, and one list of writable fields."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import drframe
from drframe import Client, bulk
from drframe._core._models import CustomerCreate, CustomerUpdate
from drframe._core._schema import CUSTOMER_PATHS, REQUEST_ONLY_FIELDS, WRITABLE_CUSTOMER_FIELDS
from drframe._tables._frames import column_path
from drframe.bulk._constants import IGNORED_COLUMNS
from drframe.widgets import NOT_IN_FORM, CustomerForm

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: The documentation: the README (a landing page) and the manual in docs/.
DOCS = "\n".join([README, *(page.read_text(encoding="utf-8") for page in sorted((ROOT / "docs").rglob("*.md")))])
#: Fields a request may carry that are not columns of the customers table (they become their own tables).


def test_every_public_name_is_documented_and_every_documented_name_is_public() -> None:
    undocumented = [name for name in drframe.__all__ if name != "__version__" and not re.search(rf"\b{name}\b", DOCS)]
    assert not undocumented, f"public but not in the README or docs/: {undocumented}"
    for module, name in re.findall(r"\bdrframe\.(?:(bulk|report|widgets|sandbox|testing)\.)?([A-Za-z]\w*)", DOCS):
        owner = getattr(drframe, module) if module else drframe
        exported = getattr(owner, "__all__", None)
        assert exported is not None and name in exported, f"the docs use drframe.{module + '.' if module else ''}{name}"


def test_readme_and_notebooks_use_no_private_names() -> None:
    texts = {"README.md": README, "docs/": DOCS}
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        texts[notebook.name] = "\n".join("".join(cell["source"]) for cell in cells)
    for name, text in texts.items():
        assert not re.search(r"\bdrframe(\.\w+)*\._\w", text), f"{name} uses a private drframe module"


def test_public_names_live_in_drframe() -> None:
    for name in drframe.__all__:
        value = getattr(drframe, name)
        if isinstance(value, type) or callable(value):
            assert value.__module__ == "drframe", name
    assert repr(drframe.NotFound) == "<class 'drframe.NotFound'>"


def test_bulk_exports_its_vocabulary() -> None:
    assert [str(a) for a in bulk.ACTIONS] == ["upsert", "create", "update", "delete", "attach_source",
                                              "detach_source", "attach_tax_identifier"]
    assert [str(s) for s in bulk.STATUSES] == ["applied", "unchanged", "failed", "invalid", "skipped", "kept",
                                                "stale"]
    assert bulk.Status.APPLIED == "applied" and bulk.CLEAR == "<clear>"


def test_one_list_of_writable_fields_that_models_bulk_columns_and_form_agree_on(client: Client) -> None:
    assert set(CustomerUpdate.model_fields) - REQUEST_ONLY_FIELDS == WRITABLE_CUSTOMER_FIELDS
    assert REQUEST_ONLY_FIELDS.isdisjoint(column_path(column)[0] for column in CUSTOMER_PATHS)
    assert set(CustomerCreate.model_fields) - REQUEST_ONLY_FIELDS - {"id"} <= WRITABLE_CUSTOMER_FIELDS
    # Bulk: every column of the customers table is either written or a read-only column that is ignored.
    for column in CUSTOMER_PATHS:
        assert (column_path(column)[0] in WRITABLE_CUSTOMER_FIELDS) != (column in IGNORED_COLUMNS), column
    # The form: an input for every writable column except the few it names, and nothing read-only.
    client.customers.create(id="form-1", email="f@example.com")
    form = CustomerForm(client, "form-1")
    writable_columns = {c for c in CUSTOMER_PATHS if column_path(c)[0] in WRITABLE_CUSTOMER_FIELDS}
    assert set(form.inputs) == writable_columns - set(NOT_IN_FORM)
    assert set(NOT_IN_FORM) <= writable_columns


def test_every_public_function_class_and_method_has_a_docstring() -> None:
    from drframe import report, sandbox, testing, widgets
    from drframe._api._resources import Customers, Sources, TaxIdentifiers

    classes = [drframe.Client, Customers, Sources, TaxIdentifiers, drframe.Frames, drframe.Page, drframe.RetryPolicy,
               bulk.Plan, bulk.BulkResult, bulk.RowPlan, bulk.CellError, widgets.CustomerForm, sandbox.Sandbox]
    missing = []
    for cls in classes:
        for name, member in vars(cls).items():
            function = member.fget if isinstance(member, property) else member
            if not name.startswith("_") and callable(function) and not inspect.getdoc(function):
                missing.append(f"{cls.__name__}.{name}")
    for module in (drframe, bulk, report, widgets, sandbox, testing):
        for name in module.__all__:
            value = getattr(module, name)
            if (inspect.isfunction(value) or inspect.isclass(value)) and not value.__doc__:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, missing
