"""The ``drframe`` command: sandbox, export, apply, audit, demo.

Exit codes: 0 all good; 1 a row failed or was invalid; 2 usage (bad arguments, unreadable file, unknown columns,
no target); 3 API or network failure (bad key, forbidden, unreachable host); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import APIError, ConnectionFailed, DRError, Unauthorized

if TYPE_CHECKING:
    from . import bulk
    from ._client import Client

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE, EXIT_API, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = """exit codes:
  0    all good
  1    a row failed or was invalid
  2    usage: bad arguments, unreadable input, unknown columns, no target named
  3    API or network failure: bad key, forbidden, unreachable host
  130  interrupted (Ctrl-C); run the same command again to continue"""


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import serve

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
    from . import bulk
    from ._connect import connect
    from .report import change_audit, quality_audit

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
        plan = bulk.plan(updates, client)
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
    from ._samples import write_samples

    shipped = Path(__file__).resolve().parents[1] / "data" / "customer-updates.xlsx"
    return shipped if shipped.exists() else write_samples(out)[0]


def _apply(args: argparse.Namespace) -> int:
    """Validate, plan and apply a spreadsheet of customer changes; write per-row results."""
    from . import bulk

    source = Path(args.file)
    results_path = Path(args.results) if args.results else source.with_name(source.stem + ".results.csv")
    mapping = bulk.ColumnMapping.load(args.map) if args.map else None
    with _connect(args) as client:
        plan = bulk.plan(source, client, sheet=args.sheet, encoding=args.encoding, columns=mapping)
        _print_plan(plan)
        if args.dry_run:
            from ._export import write_table

            write_table(results_path, plan.frame(), sheet="plan")
            print(f"dry run: nothing sent; the plan is in {results_path}")
            _write_errors_file(plan, args.errors)
            return EXIT_FAILED_ROWS if plan.counts.get("invalid") else EXIT_OK
        if plan.pending and client.live and not args.yes and not _confirmed(plan, client):
            return EXIT_USAGE
        journal = Path(args.journal) if args.journal else source.with_name(
            f"{source.name}.{plan.sheet.sha256[:12]}.journal")
        result = plan.apply(workers=args.workers, rate=args.rate, journal=journal, progress=not args.no_progress,
                            keep_journal=args.keep_journal)
    result.to_file(results_path)
    written = [str(results_path)]
    if _write_errors_file(result, args.errors):
        written.append(str(args.errors))
    if args.report:
        from .report import change_audit

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


def _sync(args: argparse.Namespace) -> int:
    """Bring a local Parquet mirror up to date (see :mod:`drframe._sync`)."""
    from datetime import timedelta

    from ._sync import sync

    with _connect(args) as client:
        result = sync(client, args.directory, full=args.full, overlap=timedelta(minutes=args.overlap),
                      progress=not args.no_progress)
    print(f"{result}; mirror in {args.directory}")
    return EXIT_OK


def _map(args: argparse.Namespace) -> int:
    """Write a proposed column mapping (``reviewed: false``) and say what needs a person's eyes."""
    from . import bulk

    source = Path(args.file)
    out = Path(args.out) if args.out else source.with_name(source.stem + ".mapping.yml")
    if out.exists() and not args.force:
        raise _UsageError(f"{out} exists; pass --force to overwrite it (it may hold your review)")
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
    from .bulk import Status

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
    from .bulk import ACTIONS

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
    from ._listing import paced
    from .report import quality_audit, quality_issues, snapshot_audit

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
    from ._listing import paced

    with _connect(args) as client:
        customers = paced(client, args.rate).customers
        if args.format == "parquet":
            from ._parquet import row_counts

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


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="drframe", description=__doc__.splitlines()[0],
                                     epilog=EXIT_CODES_HELP, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"drframe {__version__}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="print only errors (no summary lines, no progress bars)")
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="log every API request (method, path, status, attempt; never a key) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=EXIT_CODES_HELP, formatter_class=_Formatter)

    from .sandbox._defaults import DEFAULTS

    sandbox = command("sandbox", "serve the local Customers API emulator over HTTP")
    sandbox.add_argument("--host", default=DEFAULTS.host, help="interface to listen on")
    sandbox.add_argument("--port", type=int, default=DEFAULTS.port, help="port to listen on (0: any free port)")
    sandbox.add_argument("--api-key", default=DEFAULTS.api_key, help="the secret key clients must send")
    sandbox.add_argument("--public-key", default=DEFAULTS.public_key,
                         help="a public key (may only create sources)")
    sandbox.add_argument("--db", default=DEFAULTS.db_file, help="SQLite file (persists) or :memory:")
    sandbox.add_argument("--seed-customers", type=int, default=0, help="seed N synthetic customers into an empty db")
    sandbox.add_argument("--rate-limit", type=float, default=None, metavar="RPS", help="429 above RPS per key")
    sandbox.add_argument("--fault-rate", type=float, default=0.0, metavar="F", help="inject faults in a fraction F")
    sandbox.add_argument("--latency-ms", type=float, default=0.0, metavar="MS", help="added latency per request")
    sandbox.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed for synthetic data and faults")
    sandbox.set_defaults(func=_sandbox)

    export = command("export", "export every customer into typed tables (xlsx, csv or parquet)")
    _add_connection_options(export)
    export.add_argument("--out", required=True, help="FILE.xlsx, or a directory (one file per table) for csv/parquet")
    export.add_argument("--format", choices=("xlsx", "csv", "parquet"), default=None,
                        help="default: xlsx for a .xlsx path, csv for a directory")
    export.add_argument("--mask-pii", action="store_true", help="mask emails and phone numbers")
    filters = export.add_argument_group("filters (the API's own list filters)")
    filters.add_argument("--ids", default=None, help="only these customer ids, comma-separated")
    filters.add_argument("--email", default=None, help="only the customers with this email address")
    filters.add_argument("--created-since", type=_utc_time, default=None, metavar="TIME",
                         help="only customers created at or after TIME (ISO 8601; UTC unless an offset is given)")
    filters.add_argument("--created-until", type=_utc_time, default=None, metavar="TIME",
                         help="only customers created before TIME")
    filters.add_argument("--updated-since", type=_utc_time, default=None, metavar="TIME",
                         help="only customers updated at or after TIME")
    _add_read_options(export)
    export.set_defaults(func=_export, check=_check_export_out)

    apply = command("apply", "validate, plan and apply customer changes from a .csv, .xlsx or .ods file")
    apply.add_argument("file", help="input .csv, .xlsx or .ods (columns of the customers table, plus 'action')")
    _add_connection_options(apply)
    apply.add_argument("--dry-run", action="store_true", help="validate and plan only; send nothing")
    apply.add_argument("--yes", "-y", action="store_true",
                       help="apply with a live key without asking for confirmation")
    apply.add_argument("--rate", type=_positive(float), default=25.0, metavar="RPS", help="requests per second")
    apply.add_argument("--workers", type=_positive(int), default=8, help="concurrent requests")
    apply.add_argument("--journal", default=None,
                       help="resume journal (default: FILE.<sha>.journal next to the input)")
    apply.add_argument("--keep-journal", action="store_true",
                       help="keep the journal after a run in which every row finished (default: remove it)")
    apply.add_argument("--results", type=_suffixed(".csv", ".xlsx"), default=None,
                       help="per-row results .csv/.xlsx (default: FILE.results.csv)")
    apply.add_argument("--report", type=_suffixed(".xlsx"), default=None, metavar="PATH.xlsx",
                       help="also write the change audit")
    apply.add_argument("--errors", type=_suffixed(".csv", ".xlsx"), default=None, metavar="PATH",
                       help="write the invalid and failed rows (original cells plus an 'error' column) to fix and "
                            "apply again")
    apply.add_argument("--sheet", default=None, help="sheet to read (default: 'customers', else the first)")
    apply.add_argument("--encoding", default=None,
                       help="text encoding of a CSV that is not UTF-8/UTF-16 with BOM (e.g. cp1252)")
    apply.add_argument("--map", default=None, metavar="MAPPING.yml",
                       help="map the file's headers (and values) to drframe columns; 'drframe map FILE' proposes one")
    apply.add_argument("--mask-pii", action="store_true", help="mask emails and phones in the report")
    apply.add_argument("--no-progress", action="store_true", help="no progress bar")
    apply.set_defaults(func=_apply)

    syncer = command("sync", "keep a local Parquet mirror of every customer fresh (incremental; --full reconciles)")
    syncer.add_argument("directory", help="the mirror's directory (created on the first run)")
    _add_connection_options(syncer)
    syncer.add_argument("--full", action="store_true",
                        help="list every customer and drop the ones the API no longer has (deletions are only "
                             "seen this way)")
    syncer.add_argument("--overlap", type=_positive(float), default=10.0, metavar="MINUTES",
                        help="re-read customers updated this long before the last sync's newest change")
    syncer.add_argument("--no-progress", action="store_true", help="no progress bar")
    syncer.set_defaults(func=_sync)

    mapper = command("map", "propose a column mapping for a file's headers and values, for review")
    mapper.add_argument("file", help="input .csv, .xlsx or .ods whose headers are not drframe's")
    mapper.add_argument("--out", type=_suffixed(".yml", ".yaml", ".json"), default=None, metavar="MAPPING.yml",
                        help="where to write the proposal (default: FILE.mapping.yml next to the input)")
    mapper.add_argument("--sheet", default=None, help="sheet to read (default: 'customers', else the first)")
    mapper.add_argument("--encoding", default=None, help="text encoding of a CSV that is not UTF-8/UTF-16 with BOM")
    mapper.add_argument("--force", action="store_true", help="overwrite an existing mapping file")
    mapper.set_defaults(func=_map)

    audit = command("audit", "write the data-quality audit of the customer base (.xlsx)")
    _add_connection_options(audit)
    audit.add_argument("--out", required=True, type=_suffixed(".xlsx"), metavar="FILE.xlsx",
                       help="the report to write")
    audit.add_argument("--mask-pii", action="store_true", help="mask emails and phone numbers")
    audit.add_argument("--compare", nargs=2, default=None, metavar=("BEFORE", "AFTER"),
                       help="instead of a quality audit, list what changed between two exports (parquet "
                            "directories or files, xlsx workbooks, or csv directories); needs no target")
    audit.add_argument("--runs", nargs="+", default=None, metavar="RESULTS",
                       help="with --compare: drframe results files, to tell their changes from changes made "
                            "outside drframe")
    _add_read_options(audit)
    audit.set_defaults(func=_audit)

    demo = command("demo", "the main job end to end on an embedded sandbox, into ./drframe-demo/")
    demo.add_argument("--out", default="drframe-demo", help="output directory")
    demo.add_argument("--seed-customers", type=int, default=300, help="customers seeded into the sandbox")
    demo.add_argument("--rate", type=_positive(float), default=50.0, metavar="RPS", help="requests per second")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    return parser


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _suffixed(*suffixes: str) -> Callable[[str], str]:
    """An argparse type for an output file that must end in one of ``suffixes`` (never written otherwise)."""
    def parse(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
        if Path(text).is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file")
        return text

    return parse


def _utc_time(text: str) -> str:
    """An argparse type for a point in time: ISO 8601, UTC when no offset is given, as the API's text."""
    from datetime import UTC, datetime

    from ._models import format_datetime

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2024-03-05 or "
                                         "2024-03-05T06:07:08Z)") from None
    return format_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The export's list filters, as :meth:`Customers.list_raw` takes them."""
    from ._ids import check_id

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


def _check_export_out(args: argparse.Namespace) -> str | None:
    """Resolve ``--format`` from ``--out``; the problem with the pair, or None when it is clear."""
    out = Path(args.out)
    suffix = out.suffix.lower()
    if args.format is None:
        args.format = "xlsx" if suffix == ".xlsx" else "csv"
    if args.format == "xlsx":
        if suffix != ".xlsx" or out.is_dir():
            return f"--out {args.out!r}: an xlsx export is one FILE.xlsx"
        return None
    if suffix and not out.is_dir():
        return (f"--out {args.out!r}: a {args.format} export writes one file per table into a directory; "
                "name a directory (e.g. customers/), or FILE.xlsx for one workbook")
    if out.exists() and not out.is_dir():
        return f"--out {args.out!r} is a file; a {args.format} export needs a directory"
    return None


def _add_read_options(parser: argparse.ArgumentParser) -> None:
    """How export and audit read: rate, workers, progress bar."""
    parser.add_argument("--rate", type=_positive(float), default=None, metavar="RPS",
                        help="requests per second (default: the API's limit for the key, 25 test / 250 live; "
                             "unlimited on the embedded sandbox)")
    parser.add_argument("--workers", type=_positive(int), default=None, metavar="N",
                        help="concurrent requests (default: a quarter of the rate + 2, at most 32; 8 unlimited)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (one of: a key for the real API, or --sandbox)")
    group.add_argument("--base-url", default=None,
                       help="API base URL (default: DR_BASE_URL, else https://api.digitalriver.com)")
    group.add_argument("--api-key", default=None, help="API key (default: DR_API_KEY); never printed")
    group.add_argument("--sandbox", action="store_true",
                       help="use an embedded, seeded sandbox instead of a real API (nothing real is changed)")
    group.add_argument("--seed-customers", type=int, default=None,
                       help="with --sandbox: customers to seed (default 200)")


def _announce(client: Client, args: argparse.Namespace) -> None:
    """The first line of every command's output: where requests go, and with which kind of key."""
    args.target = client.target
    print(f"drframe: target {client.target}")


@contextmanager
def _connect(args: argparse.Namespace) -> Iterator[Client]:
    """The client for the target the options name (see :func:`drframe.connect`), announced on stdout."""
    from ._connect import DEFAULT_SEED_CUSTOMERS, connect

    if args.seed_customers is not None and not args.sandbox:
        raise _UsageError("--seed-customers only applies with --sandbox")
    with connect(args.api_key, args.base_url, sandbox=args.sandbox,
                 seed_customers=args.seed_customers or DEFAULT_SEED_CUSTOMERS) as client:
        _announce(client, args)
        yield client


class _UsageError(DRError):
    pass


def _api_failure(exc: APIError | ConnectionFailed, target: str) -> str:
    if isinstance(exc, ConnectionFailed):
        return f"cannot reach {target}: {exc.cause or exc}"
    hint = " (check --api-key / DR_API_KEY)" if isinstance(exc, Unauthorized) or exc.status == 403 else ""
    return f"{target} answered {exc}{hint}"


@contextmanager
def _verbose_logging(enabled: bool) -> Iterator[None]:
    """With ``-v``, drframe's request log (method, path, status, attempt; never a key) goes to stderr."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("drframe")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("drframe: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check = getattr(args, "check", None)
    problem = check(args) if check else None
    if problem:
        parser.exit(EXIT_USAGE, f"drframe {args.command}: error: {problem}\n")
    if args.quiet and hasattr(args, "no_progress"):
        args.no_progress = True
    try:
        with _verbose_logging(args.verbose), \
                contextlib.redirect_stdout(io.StringIO()) if args.quiet else contextlib.nullcontext():
            return int(args.func(args))
    except (APIError, ConnectionFailed) as exc:
        print(f"drframe: error: {_api_failure(exc, getattr(args, 'target', 'the API'))}", file=sys.stderr)
        return EXIT_API
    except DRError as exc:
        print(f"drframe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("drframe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
