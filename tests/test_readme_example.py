"""The README's first Python example is the safe path (issue 17, item 14): it runs as written, against the embedded
sandbox, and its plan names a DataFrame's rows by index label and customer id."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from drframe import Client, bulk

README = Path(__file__).resolve().parents[1] / "README.md"


def _first_example() -> str:
    section = README.read_text(encoding="utf-8").split("\n## Using it\n", 1)[1]
    found = re.match(r"\s*```python\n(.*?)\n```", section, re.DOTALL)
    assert found, "the 'Using it' section starts with a Python example"
    return found.group(1)


def test_the_readme_example_plans_reviews_and_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _first_example()
    assert "bulk.plan(edited, client)" in code and "plan.apply()" in code and ".update(" not in code
    monkeypatch.chdir(tmp_path)
    names: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), names)  # the README's own code, as a reader runs it

    plan, result = names["plan"], names["result"]
    assert isinstance(plan, bulk.Plan) and isinstance(result, bulk.BulkResult)
    edited = names["edited"]
    assert isinstance(edited, pd.DataFrame)
    first, second = (str(edited.loc[label, "customer_id"]) for label in (0, 1))
    assert result.changes[["index", "id", "field", "after"]].values.tolist() == [[0, first, "locale", "fr_FR"]]
    errors = plan.errors
    assert errors[["index", "id", "column", "value"]].values.tolist() == [[1, second, "email", "ana.weber@example"]]
    assert "row" not in errors.columns
    assert result.counts["applied"] == 1 and result.counts["invalid"] == 1 and not result.counts["failed"]
    results = pd.read_csv(tmp_path / "edits.results.csv", dtype=str, keep_default_na=False)
    assert results.set_index("index").loc[["0", "1"], "status"].tolist() == ["applied", "invalid"]
    assert (tmp_path / "customers.xlsx").exists()


def test_frame_rows_are_named_by_their_index_labels(client: Client) -> None:
    for number in range(3):
        client.customers.create(id=f"c-{number}", email=f"c{number}@example.com")
    frame = client.customers.to_frames().customers.set_index(pd.Index(["north", "south", "west"], name="region"))
    frame.loc["south", "email"] = "not an email"
    frame.loc["west", "customer_id"] = frame.loc["north", "customer_id"]  # one customer changed by two rows
    plan = bulk.plan(frame, client)
    errors = plan.errors
    assert set(errors["index"]) == {"north", "south", "west"}
    assert errors.loc[errors["index"] == "south", ["id", "column"]].values.tolist() == [["c-1", "email"]]
    duplicate = errors.loc[errors["index"] == "north", "message"].iloc[0]
    assert "the rows labelled 'north', 'west'" in duplicate and "rows 2" not in duplicate
    assert plan.frame()["index"].tolist() == ["north", "south", "west"]
