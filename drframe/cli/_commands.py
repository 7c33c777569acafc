"""The commands: each takes the parsed arguments and returns an exit code (see :mod:`drframe.cli`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import EXIT_API, EXIT_FAILED_ROWS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from .. import bulk
    from .._api._client import Client


def run_sandbox(args: argparse.Namespace) -> int:
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


def run_demo(args: argparse.Namespace) -> int:
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
    from .._files._samples import write_samples

    shipped = Path(__file__).resolve().parents[2] / "data" / "customer-updates.xlsx"
    return shipped if shipped.exists() else write_samples(out)[0]


def run_apply(args: argparse.Namespace) -> int:
    """Validate, plan and apply a spreadsheet of customer changes; write per-row results."""
    from .. import bulk
    from ..bulk._before import before_images_path
    from ..bulk._lock import journal_lock

    source = Path(args.file)
    default = _default_output(args, "results")
    mapping = bulk.ColumnMapping.load(args.map) if args.map else None
    with _open_target(args) as client:
        if args.dry_run:
            plan = _plan(args, client, source, mapping)
            return EXIT_OK if plan is None else _report_dry_run(plan, args)
        from .._files._sheets import file_sha256

        sha256 = file_sha256(source)
        journal = Path(args.journal) if args.journal else source.with_name(f"{source.name}.{sha256[:12]}.journal")
        # Held from before the plan: a plan made while another run of this journal writes would be stale.
        with journal_lock(journal, timeout=args.lock_timeout) as dead:
            if dead is not None:
                print(f"drframe: took over the lock of {journal} from a run that ended without releasing it "
                      f"({dead})", file=sys.stderr)
            plan = _plan(args, client, source, mapping)
            if plan is None:
                return EXIT_OK
            if not plan.derived and plan.sheet.sha256 != sha256:
                raise UsageError(f"{source} changed while it was read; nothing was sent: run again")
            if not _within_limits(plan, args):
                return EXIT_FAILED_ROWS
            if plan.pending and client.live and not args.yes and not _confirmed(plan, client):
                return EXIT_USAGE
            # The results file is named before the run: the before-images beside it are written as rows are sent.
            results_path = _unused_path(Path(args.results) if args.results else default)
            args.results = str(results_path)
            plan.run_name = results_path.name
            result = plan.apply(workers=args.workers, rate=args.rate, journal=journal, progress=not args.no_progress,
                                keep_journal=args.keep_journal, max_failures=args.max_failures,
                                before_images=before_images_path(results_path))
    # The writes went out: from here on, every outcome is reported even when writing a file fails.
    kept = f"; journal {journal}" if journal.exists() else ""
    print(f"{_run_counts(result)} in {result.elapsed:.1f} s ({result.throughput:.1f} writes/s){kept}")
    if plan.before_images and result.counts.get("applied"):
        print(f"before-images: {plan.before_images} (what each row changed from: drframe revert {args.results})")
    written = _write_outputs(result, args, default)
    if result.interrupted:
        print("drframe: interrupted: rows not yet sent are 'skipped'; run the same command again to continue",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not written:
        return EXIT_USAGE
    return EXIT_OK if result.ok else EXIT_FAILED_ROWS


def _run_counts(result: bulk.BulkResult) -> str:
    """Rows per status; a resumed run tells what it did now from what an earlier run of the journal finished."""
    from collections import Counter

    earlier = Counter(str(row.status) for row in result.rows if row.resumed)
    now = ", ".join(f"{status} {n - earlier[status]}" for status, n in result.counts.items())
    if not earlier:
        return now
    before = ", ".join(f"{status} {n}" for status, n in earlier.items())
    return f"this run: {now}; finished by an earlier run: {before} (total {sum(earlier.values())})"


def _plan(args: argparse.Namespace, client: Client, source: Path,
          mapping: bulk.ColumnMapping | None) -> bulk.Plan | None:
    """The plan of ``source`` (a sheet, a saved ``.drplan``, or for ``revert`` a run's results), printed; None for a
    saved plan that was applied already. Its reads go at the rate asked for the run (the API's limit counts reads)."""
    from .. import bulk
    from .._api import paced

    reading = paced(client, args.rate)
    if args.command == "revert":
        plan = bulk.revert_plan(source, reading, force=args.force)
    elif source.suffix.lower() == ".drplan":
        plan = bulk.load_plan(source, reading, replan=args.replan)
        if plan.applied_by:
            print(f"{source.name} was already applied by {plan.applied_by}: nothing sent")
            return None
    else:
        plan = bulk.plan(source, reading, sheet=args.sheet, encoding=args.encoding, columns=mapping,
                         workers=args.workers, progress=not args.no_progress, action=args.action,
                         allow_dropped_zeros=args.allow_dropped_zeros)
    _print_plan(plan)
    return plan


def _report_dry_run(plan: bulk.Plan, args: argparse.Namespace) -> int:
    """A dry run's outputs: the plan (one row per input row), the rows to fix, and with ``--report`` the plan's
    audit (Changes and Errors), and the review sheet and saved plan for approval."""
    written = _write_outputs(plan, args, _default_output(args, "plan"))
    if args.review:
        print(f"review sheet: {plan.review(_unused_path(Path(args.review)))}")
    if args.save_plan:
        saved = plan.save(_unused_path(Path(args.save_plan)))
        print(f"plan for approval: {saved} (once approved: drframe apply {saved})")
    print("dry run: nothing sent")
    if not _within_limits(plan, args):
        return EXIT_FAILED_ROWS
    if not written:
        return EXIT_USAGE
    refused = plan.counts.get("invalid") or plan.counts.get("failed") or plan.counts.get("stale")
    return EXIT_FAILED_ROWS if refused else EXIT_OK


def _default_output(args: argparse.Namespace, kind: str) -> Path:
    """``FILE.results.csv`` (a run) or ``FILE.plan.csv`` (a dry run) next to the input; a revert of
    ``RESULTS.csv`` writes ``RESULTS.revert.csv`` and ``RESULTS.revert.plan.csv``."""
    source = Path(args.file)
    if args.command == "revert":
        stem = f"{source.stem}.revert"
        return source.with_name(stem + source.suffix if kind == "results" else f"{stem}.{kind}.csv")
    return source.with_name(f"{source.stem}.{kind}.csv")


def _unused_path(path: Path) -> Path:
    """``path`` when nothing is there, else the first free ``NAME.2.ext``, ``NAME.3.ext``... beside it: a run never
    replaces an earlier run's results, report or errors file."""
    number = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
        number += 1
    return candidate


def _write_outputs(outcome: bulk.Plan | bulk.BulkResult, args: argparse.Namespace, default: Path) -> bool:
    """Write the results (or plan), errors and report files a run asked for, each under an unused name, and say
    where. A file that cannot be written is named on stderr and the others are still written; False then."""
    from ..bulk import BulkResult, Status
    from ..bulk._results import write_outcome
    from ..report import change_audit

    def results(path: Path) -> Path:
        if isinstance(outcome, BulkResult):
            return outcome.to_file(path)
        return write_outcome(path, outcome.rows, planned=True, labels=outcome.sheet.labels, sheet="plan")

    jobs: list[tuple[str, str | Path, Callable[[Path], Path]]] = [
        ("results" if isinstance(outcome, BulkResult) else "plan", args.results or default, results)]
    if args.errors:
        if any(row.status in {Status.INVALID, Status.FAILED} for row in outcome.rows):
            jobs.append(("rows to fix", args.errors, outcome.errors_file))
        else:
            print("no rows to fix: no errors file written")
    if args.report:
        jobs.append(("report", args.report, lambda path: change_audit(outcome, path, mask_pii=args.mask_pii)))
    ok = True
    for what, asked, write in jobs:
        path = _unused_path(Path(asked))
        try:
            write(path)
        except Exception as exc:  # whatever went wrong, the other files and the summary still go out
            print(f"drframe: error: could not write the {what} file {path}: {exc}", file=sys.stderr)
            ok = False
            continue
        note = " (fix the cells, then apply that file)" if what == "rows to fix" else ""
        print(f"{what}: {path}{note}")
    return ok


def _within_limits(plan: bulk.Plan, args: argparse.Namespace) -> bool:
    """``--max-changes`` / ``--max-deletes``: False (after saying why; nothing is sent) when the plan is over."""
    from .._errors import LimitExceeded

    try:
        plan.check_limits(max_changes=args.max_changes, max_deletes=args.max_deletes)
    except LimitExceeded as exc:
        print(f"drframe: error: {exc}", file=sys.stderr)
        return False
    return True


def run_sync(args: argparse.Namespace) -> int:
    """Bring a local Parquet mirror up to date (see :mod:`drframe._sync`)."""
    from datetime import timedelta

    from .._sync import sync

    with _open_target(args) as client:
        result = sync(client, args.directory, full=args.full, overlap=timedelta(minutes=args.overlap),
                      progress=not args.no_progress)
    print(f"{result}; mirror in {args.directory}")
    return EXIT_OK


def run_map(args: argparse.Namespace) -> int:
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


def run_audit(args: argparse.Namespace) -> int:
    """Write the data-quality audit of every customer, or (``--compare``) what changed between two exports."""
    from .._api import paced
    from ..report import quality_audit, quality_issues, snapshot_audit

    if args.compare:
        before, after = args.compare
        path = snapshot_audit(before, after, args.out, runs=args.runs or (), mask_pii=args.mask_pii)
        print(f"compared {before} with {after}; wrote {path}")
        return EXIT_OK
    with _open_target(args) as client:
        frames = paced(client, args.rate).customers.to_frames(workers=args.workers, progress=not args.no_progress)
    path = quality_audit(frames, args.out, mask_pii=args.mask_pii)
    issues = quality_issues(frames)
    counts = issues["check"].value_counts()
    summary = ", ".join(f"{check} {n}" for check, n in counts.items()) or "no findings"
    print(f"{len(frames.customers)} customers: {summary}")
    print(f"wrote {path}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from .._memory import young_collections_only

    # No full garbage collection from the first page to the file written: the tables hold no cycles, and the
    # process ends right after (see drframe.cli.run).
    with young_collections_only():
        return _export(args)


def _export(args: argparse.Namespace) -> int:
    from .._api import paced

    with _open_target(args) as client:
        customers = paced(client, args.rate).customers
        if args.format == "parquet":
            # pandas and pyarrow are imported by to_parquet once its listing is under way, not before it starts
            written = customers.to_parquet(args.out, workers=args.workers, progress=not args.no_progress,
                                           **_filters(args))
            from .._files._parquet import row_counts

            counts = ", ".join(f"{path.stem}={n}" for path, n in row_counts(written).items())
            print(f"exported Frames({counts}) to {', '.join(str(w) for w in written)}")
            return EXIT_OK
        # the writer's imports (Arrow's compute kernels) while the pages come in, not after
        _import_meanwhile("drframe._files._xlsx_streamed" if args.format == "xlsx" else "drframe._files._csv_out")
        # rendered while the pages come in, written once the last one is in
        if args.format == "csv":
            summary, written = customers._to_csv(args.out, mask_pii=args.mask_pii, workers=args.workers,
                                                 progress=not args.no_progress, **_filters(args))
        else:  # xlsx
            summary, path = customers._to_excel(args.out, mask_pii=args.mask_pii, workers=args.workers,
                                                progress=not args.no_progress, **_filters(args))
            written = [path]
    print(f"exported {summary} to {', '.join(str(w) for w in written)}")
    return EXIT_OK


def _import_meanwhile(module: str) -> None:
    """Import ``module`` in a background thread (an import error shows later, where the module is used)."""
    import importlib
    import threading

    def run() -> None:
        with suppress(ImportError):
            importlib.import_module(module)

    threading.Thread(target=run, name=f"import {module}", daemon=True).start()


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The export's list filters, as :meth:`Customers.list_raw` takes them."""
    from .._core._ids import check_id

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
    if plan.emptied_note:
        print(f"  {plan.emptied_note}")
    if plan.upsert_note:
        print(f"  {plan.upsert_note}")
    errors = plan.errors
    shown = errors[["row", "column", "value", "message"]].head(limit)
    for row, column, value, message in shown.itertuples(index=False, name=None):
        quoted = column and repr(value) not in message  # a message that quotes the value says it once
        where = f"row {row}" + (f", column {column}" if column else "") + (f" ({value!r})" if quoted else "")
        print(f"  {where}: {message}", file=sys.stderr)
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit} more (see the results file)", file=sys.stderr)


def _announce(client: Client, args: argparse.Namespace) -> None:
    """The first line of every command's output: where requests go, and with which kind of key."""
    args.target = client.target
    print(f"drframe: target {client.target}")


@contextmanager
def _open_target(args: argparse.Namespace) -> Iterator[Client]:
    """The client for the target the options name (see :func:`drframe.connect`), announced on stdout."""
    from .._connect import DEFAULT_SEED_CUSTOMERS, connect

    if args.seed_customers is not None and not args.sandbox:
        raise UsageError("--seed-customers only applies with --sandbox")
    with connect(args.api_key, args.base_url, sandbox=args.sandbox,
                 seed_customers=args.seed_customers or DEFAULT_SEED_CUSTOMERS) as client:
        _announce(client, args)
        yield client
