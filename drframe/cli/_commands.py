"""The commands: each takes the parsed arguments and returns an exit code (see :mod:`drframe.cli`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import EXIT_API, EXIT_FAILED_ROWS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from .. import bulk
    from .._client import Client


def _sandbox(args: argparse.Namespace) -> int:
    from ..sandbox import serve

    try:
        serve(host=args.host, port=args.port, db=args.db, api_key=args.api_key, public_key=args.public_key,
              seed_customers=args.seed_customers, rate_limit=args.rate_limit, fault_rate=args.fault_rate,
              latency_ms=args.latency_ms, seed=args.seed)
    except OSError as exc:  # the address is taken or not this machine's
        print(f"drframe sandbox: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_API
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    """Seed the embedded sandbox, export, bulk-apply the sample updates, write results and both audit reports."""
    from .. import bulk
    from .._connect import connect
    from ..report import change_audit, quality_audit

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    updates = _sample_file(out)
    journal = out / "demo.journal"
    journal.unlink(missing_ok=True)  # the embedded sandbox starts empty every time, so must the journal
    with connect(sandbox=True, seed_customers=args.seed_customers) as client:
        _announce(client, args)
        before = client.customers.to_frames()
        before.to_excel(out / "customers-before.xlsx")
        print(f"exported {before!r}")
        plan = bulk.plan(updates, client, progress=not args.no_progress)
        _print_plan(plan)
        result = plan.apply(rate=args.rate, journal=journal, progress=not args.no_progress)
        result.to_file(out / "results.csv")
        change_audit(result, out / "change-audit.xlsx")
        after = client.customers.to_frames()
        after.to_excel(out / "customers-after.xlsx")
        quality_audit(after, out / "quality-audit.xlsx")
        rerun = bulk.plan(updates, client)
    counts = ", ".join(f"{status} {n}" for status, n in result.counts.items())
    print(f"applied {updates.name}: {counts} in {result.elapsed:.1f} s")
    print(f"a second plan of the same file finds {len(rerun.pending)} row(s) still to send")
    print(f"wrote {out}/: customers-before.xlsx, results.csv, change-audit.xlsx, customers-after.xlsx, "
          "quality-audit.xlsx")
    return EXIT_OK if not result.counts["failed"] and not rerun.pending else EXIT_FAILED_ROWS


def _sample_file(out: Path) -> Path:
    """data/customer-updates.xlsx from a source checkout, else the same sample written into ``out``."""
    from .._samples import write_samples

    shipped = Path(__file__).resolve().parents[2] / "data" / "customer-updates.xlsx"
    return shipped if shipped.exists() else write_samples(out)[0]


def _apply(args: argparse.Namespace) -> int:
    """Validate, plan and apply a spreadsheet of customer changes; write per-row results."""
    from .. import bulk
    from .._concurrency import paced
    from ..bulk._before import before_images_path

    source = Path(args.file)
    reverting = args.command == "revert"
    results_path = Path(args.results) if args.results else source.with_name(
        source.stem + (".revert" + source.suffix if reverting else ".results.csv"))
    mapping = bulk.ColumnMapping.load(args.map) if args.map else None
    with _connect(args) as client:
        # The plan's reads go at the rate asked for the run (the API's limit counts reads too).
        if reverting:
            plan = bulk.revert_plan(source, paced(client, args.rate), force=args.force)
        elif source.suffix == ".drplan":
            plan = bulk.load_plan(source, paced(client, args.rate), replan=args.replan)
            if plan.applied_by:
                print(f"{source.name} was already applied by {plan.applied_by}: nothing sent")
                return EXIT_OK
        else:
            plan = bulk.plan(source, paced(client, args.rate), sheet=args.sheet, encoding=args.encoding,
                             columns=mapping, progress=not args.no_progress)
        _print_plan(plan)
        if not _within_limits(plan, args):
            return EXIT_FAILED_ROWS
        if args.dry_run:
            from .._export import write_table

            write_table(results_path, plan.frame(), sheet="plan")
            print(f"dry run: nothing sent; the plan is in {results_path}")
            if args.review:
                print(f"review sheet: {plan.review(args.review)}")
            if args.save_plan:
                print(f"plan for approval: {plan.save(args.save_plan)} (then: drframe apply {args.save_plan})")
            _write_errors_file(plan, args.errors)
            return EXIT_FAILED_ROWS if plan.counts.get("invalid") or plan.counts.get("stale") else EXIT_OK
        if plan.pending and client.live and not args.yes and not _confirmed(plan, client):
            return EXIT_USAGE
        journal = Path(args.journal) if args.journal else source.with_name(
            f"{source.name}.{plan.sheet.sha256[:12]}.journal")
        plan.run_name = results_path.name
        result = plan.apply(workers=args.workers, rate=args.rate, journal=journal, progress=not args.no_progress,
                            keep_journal=args.keep_journal, max_failures=args.max_failures,
                            before_images=before_images_path(results_path))
    result.to_file(results_path)
    written = [str(results_path), f"{plan.before_images} (what each row changed from: to revert it)"]
    if _write_errors_file(result, args.errors):
        written.append(str(args.errors))
    if args.report:
        from ..report import change_audit

        written.append(str(change_audit(result, args.report, mask_pii=args.mask_pii)))
    counts = ", ".join(f"{status} {n}" for status, n in result.counts.items())
    kept = f"; journal {journal}" if journal.exists() else ""
    print(f"{counts} in {result.elapsed:.1f} s ({result.throughput:.1f} writes/s){kept}")
    print(f"wrote {', '.join(written)}")
    if result.interrupted:
        print("drframe: interrupted: rows not yet sent are 'skipped'; run the same command again to continue",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED_ROWS


def _within_limits(plan: bulk.Plan, args: argparse.Namespace) -> bool:
    """``--max-changes`` / ``--max-deletes``: False (after saying why; nothing is sent) when the plan is over."""
    from .._errors import LimitExceeded

    try:
        plan.check_limits(max_changes=args.max_changes, max_deletes=args.max_deletes)
    except LimitExceeded as exc:
        print(f"drframe: error: {exc}", file=sys.stderr)
        return False
    return True


def _sync(args: argparse.Namespace) -> int:
    """Bring a local Parquet mirror up to date (see :mod:`drframe._sync`)."""
    from datetime import timedelta

    from .._sync import sync

    with _connect(args) as client:
        result = sync(client, args.directory, full=args.full, overlap=timedelta(minutes=args.overlap),
                      progress=not args.no_progress)
    print(f"{result}; mirror in {args.directory}")
    return EXIT_OK


def _map(args: argparse.Namespace) -> int:
    """Write a proposed column mapping (``reviewed: false``) and say what needs a person's eyes."""
    from .. import bulk

    source = Path(args.file)
    out = Path(args.out) if args.out else source.with_name(source.stem + ".mapping.yml")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; pass --force to overwrite it (it may hold your review)")
    sheet = bulk.read_sheet(source, sheet=args.sheet, encoding=args.encoding)
    mapping, notes = bulk.propose_mapping(sheet)
    out.write_text(mapping.dump(), encoding="utf-8")
    mapped = ", ".join(f"{h!r} -> {c}" for h, c in mapping.columns.items() if c) or "nothing"
    print(f"read {source.name}: {sheet.format_note}; mapped {mapped}")
    for note in notes:
        print(f"  check: {note}")
    print(f"wrote {out}: review it, set 'reviewed: true', then: drframe apply {source} --map {out} --dry-run")
    return EXIT_OK


def _write_errors_file(outcome: bulk.Plan | bulk.BulkResult, path: str | None) -> bool:
    """With ``--errors``: the invalid and failed rows, ready to fix and apply again; an old file is removed when
    no row needs fixing, so it never shows stale errors."""
    from ..bulk import Status

    if path is None:
        return False
    if any(row.status in {Status.INVALID, Status.FAILED} for row in outcome.rows):
        outcome.errors_file(path)
        print(f"rows to fix: {path} (fix the cells, then apply that file)")
        return True
    Path(path).unlink(missing_ok=True)
    return False


def _confirmed(plan: bulk.Plan, client: Client) -> bool:
    """Ask before writing with a live key; without a terminal the answer is no (use --yes)."""
    from ..bulk import ACTIONS

    counts = ", ".join(f"{name} {n}" for name, n in sorted(plan.counts.items()) if name in ACTIONS)
    question = f"apply {counts} to {client.target}? This changes live customer data. [y/N] "
    if not sys.stdin or not sys.stdin.isatty():
        print(f"drframe: error: {client.target} is a live target and there is no terminal to confirm "
              f"({counts}); pass --yes to apply without asking", file=sys.stderr)
        return False
    try:
        answer = input(question)
    except EOFError:
        answer = ""
    if answer.strip().casefold() in {"y", "yes"}:
        return True
    print("drframe: nothing sent", file=sys.stderr)
    return False


def _audit(args: argparse.Namespace) -> int:
    """Write the data-quality audit of every customer, or (``--compare``) what changed between two exports."""
    from .._concurrency import paced
    from ..report import quality_audit, quality_issues, snapshot_audit

    if args.compare:
        before, after = args.compare
        path = snapshot_audit(before, after, args.out, runs=args.runs or (), mask_pii=args.mask_pii)
        print(f"compared {before} with {after}; wrote {path}")
        return EXIT_OK
    with _connect(args) as client:
        frames = paced(client, args.rate).customers.to_frames(workers=args.workers, progress=not args.no_progress)
    path = quality_audit(frames, args.out, mask_pii=args.mask_pii)
    issues = quality_issues(frames)
    counts = issues["check"].value_counts()
    summary = ", ".join(f"{check} {n}" for check, n in counts.items()) or "no findings"
    print(f"{len(frames.customers)} customers: {summary}")
    print(f"wrote {path}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from .._concurrency import paced

    with _connect(args) as client:
        customers = paced(client, args.rate).customers
        if args.format == "parquet":
            from .._parquet import row_counts

            written = customers.to_parquet(args.out, workers=args.workers, progress=not args.no_progress,
                                           **_filters(args))
            counts = ", ".join(f"{path.stem}={n}" for path, n in row_counts(written).items())
            print(f"exported Frames({counts}) to {', '.join(str(w) for w in written)}")
            return EXIT_OK
        frames = customers.to_frames(workers=args.workers, progress=not args.no_progress, **_filters(args))
    if args.format == "xlsx":
        written = [frames.to_excel(args.out, mask_pii=args.mask_pii)]
    else:
        written = frames.to_csv(args.out, mask_pii=args.mask_pii)
    print(f"exported {frames!r} to {', '.join(str(w) for w in written)}")
    return EXIT_OK


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The export's list filters, as :meth:`Customers.list_raw` takes them."""
    from .._ids import check_id

    filters: dict[str, Any] = {}
    if args.ids:
        filters["ids"] = [check_id(i.strip(), "--ids", customer=True) for i in args.ids.split(",") if i.strip()]
    if args.email:
        filters["email"] = args.email
    created = {op: value for op, value in (("gte", args.created_since), ("lt", args.created_until)) if value}
    if created:
        filters["created_time"] = created
    if args.updated_since:
        filters["updated_time"] = {"gte": args.updated_since}
    return filters


def _print_plan(plan: bulk.Plan, limit: int = 20) -> None:
    print(f"read {plan.sheet.path.name}: {plan.sheet.format_note}")
    if not plan.rows:
        print(f"plan for {plan.sheet.path.name}: no data rows (only a header); nothing to send")
        return
    counts = ", ".join(f"{name} {n}" for name, n in sorted(plan.counts.items()))
    print(f"plan for {plan.sheet.path.name}: {len(plan.rows)} rows: {counts}")
    errors = plan.errors
    for row, column, value, message in errors.head(limit).itertuples(index=False, name=None):
        where = f"row {row}" + (f", column {column} ({value!r})" if column else "")
        print(f"  {where}: {message}", file=sys.stderr)
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit} more (see the results file)", file=sys.stderr)


def _announce(client: Client, args: argparse.Namespace) -> None:
    """The first line of every command's output: where requests go, and with which kind of key."""
    args.target = client.target
    print(f"drframe: target {client.target}")


@contextmanager
def _connect(args: argparse.Namespace) -> Iterator[Client]:
    """The client for the target the options name (see :func:`drframe.connect`), announced on stdout."""
    from .._connect import DEFAULT_SEED_CUSTOMERS, connect

    if args.seed_customers is not None and not args.sandbox:
        raise UsageError("--seed-customers only applies with --sandbox")
    with connect(args.api_key, args.base_url, sandbox=args.sandbox,
                 seed_customers=args.seed_customers or DEFAULT_SEED_CUSTOMERS) as client:
        _announce(client, args)
        yield client
