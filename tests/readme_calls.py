# ruff: noqa: B018  (the README shows attribute reads as statements)
"""Every Python call the README shows, as written there, for ``mypy --strict`` (tests/test_quality.py checks it).

Not run: it is the README's calls checked against the types a user's editor and type checker see.
"""

from __future__ import annotations

import drframe
from drframe.widgets import CustomerForm


def using_it() -> None:
    with drframe.connect(sandbox=True, rate_limit=20) as client:
        frames = client.customers.to_frames()
        frames.customers.dtypes
        frames.sources
        frames.to_excel("customers.xlsx")

        edited = frames.customers.copy()
        edited.loc[0, "locale"] = "fr_FR"
        for customer_id, payload in drframe.diff_frames(frames.customers, edited).items():
            client.customers.update(customer_id, payload)


def client_and_frames(client: drframe.Client, frames: drframe.Frames) -> None:
    drframe.Client(api_key=None, base_url=None, rate_limit=None, retry=drframe.RetryPolicy(), max_retries=None)
    client.with_options(rate_limit=10)
    page: drframe.Page = client.customers.list()
    page.data
    drframe.to_frames([{"id": "c1"}], redact=True)
    frames.to_payloads()
    frames.to_excel("customers.xlsx", mask_pii=False)
    frames.to_csv("customers/")
    frames.to_parquet("customers/")
    drframe.read_parquet("customers/")
    client.customers.to_parquet("customers/")
    result: drframe.SyncResult = drframe.sync(client, "mirror/", full=False)
    drframe.read_parquet("mirror/")
    print(result)


def bulk_apply(client: drframe.Client) -> None:
    plan = drframe.bulk.plan("updates.xlsx", client)
    plan.errors
    plan.changes
    result = plan.apply(rate=25, journal="updates.journal")
    result.results
    result.errors_file("fix-me.xlsx")
    plan.errors_file("fix-me.xlsx")
    drframe.report.change_audit(result, "audit.xlsx", mask_pii=False)


def reports_and_form(client: drframe.Client, frames: drframe.Frames) -> None:
    drframe.report.quality_audit(client, "quality.xlsx")
    drframe.report.quality_issues(frames)
    drframe.report.snapshot_audit("before/", "after/", "changes.xlsx", runs=["run.results.csv"])
    drframe.report.snapshot_changes("before/", "after/")
    CustomerForm(client, "cus_1")
    CustomerForm.from_row(client, frames.customers.iloc[0])
    drframe.widgets.NOT_IN_FORM
    drframe.testing.generate_customers(10, seed=0)
    with drframe.sandbox.Sandbox(seed_customers=50) as sandbox:
        sandbox.client()
