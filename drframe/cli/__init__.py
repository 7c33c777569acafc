"""The ``drframe`` command: sandbox, export, apply, revert, sync, map, audit, demo.

Exit codes: 0 all good; 1 a row failed or was invalid; 2 usage (bad arguments, unreadable file, unknown columns,
no target); 3 API or network failure (bad key, forbidden, unreachable host); 130 interrupted (Ctrl-C).

This module is the parser (every command's options, in the order ``--help`` shows them, and the checks of options
that would have no effect) and ``main``; the commands themselves are in ``_commands``. Just over 400 lines: one
parser for eight commands reads best top to bottom in one place, as the CLI reference renders it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from .._api import DEMO_RATE, RATE_HELP, WORKERS_HELP
from .._errors import APIError, ConnectionFailed, DRError, Unauthorized
from .._progress import progress_style
from ._commands import run_apply, run_audit, run_demo, run_export, run_map, run_sandbox, run_sync
from ._common import EXIT_API, EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

__all__ = ["EXIT_API", "EXIT_CODES_HELP", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default once: argparse's "(default: X)" only where the help names none itself and there
    is one to name (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help = action.help or ""
        if "default" in help or action.default in (None, False) or action.default is argparse.SUPPRESS:
            return help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

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

    from ..sandbox._defaults import DEFAULTS

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
    sandbox.set_defaults(func=run_sandbox)

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
    export.set_defaults(func=run_export, check=_check_export)

    apply = command("apply", "validate, plan and apply customer changes from a .csv, .xlsx or .ods file")
    apply.add_argument("file", help="input .csv, .xlsx or .ods (columns of the customers table, plus 'action')")
    _add_connection_options(apply)
    apply.add_argument("--dry-run", action="store_true",
                       help="validate and plan only; send nothing (writes the plan to FILE.plan.csv, or --results; "
                            "--errors and --report work as in a run)")
    apply.add_argument("--action", type=_action, default=None, metavar="ACTION",
                       help="the action of rows without one: create, update, upsert, delete, ... (default: upsert, "
                            "which updates a customer that exists; 'create' imports only new customers). Refused "
                            "when the file's 'action' column names another")
    apply.add_argument("--yes", "-y", action="store_true",
                       help="apply with a live key without asking for confirmation")
    _add_pace_options(apply)
    apply.add_argument("--journal", default=None,
                       help="resume journal (default: FILE.<sha>.journal next to the input)")
    apply.add_argument("--keep-journal", action="store_true",
                       help="keep the journal after a run in which every row finished (default: remove it)")
    apply.add_argument("--lock-timeout", type=_non_negative(float), default=0.0, metavar="SECONDS",
                       help="wait up to SECONDS for another run of the same journal to end (0: exit 2 at once)")
    apply.add_argument("--results", type=_suffixed(".csv", ".xlsx"), default=None,
                       help="per-row results .csv/.xlsx (default: FILE.results.csv). An existing results, "
                            "errors or report file is never replaced: the run writes NAME.2.csv, NAME.3.csv... "
                            "beside it and prints the name")
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
    apply.add_argument("--allow-dropped-zeros", action="store_true",
                       help="send changes that only drop leading zeros ('02108' -> '2108'), which are refused "
                            "otherwise as Excel's doing")
    apply.add_argument("--mask-pii", action="store_true", help="mask emails and phones in the --report workbook")
    _add_progress_options(apply)
    approval = apply.add_argument_group("review and approval")
    approval.add_argument("--save-plan", type=_suffixed(".drplan"), default=None, metavar="PLAN.drplan",
                          help="with --dry-run: write the plan (exact payloads, input hash, host, a fingerprint of "
                               "each record) for approval; 'drframe apply PLAN.drplan' then sends exactly that")
    approval.add_argument("--review", type=_suffixed(".xlsx"), default=None, metavar="REVIEW.xlsx",
                          help="with --dry-run: also write the plan as a review sheet (rows, changes, errors)")
    approval.add_argument("--replan", action="store_true",
                          help="applying a .drplan: plan again the rows whose record changed since (default: "
                               "'stale', not sent)")
    _add_guard_options(apply)
    apply.set_defaults(func=run_apply, check=_check_apply)

    revert = command("revert", "take back a run: a plan from its results file and the before-images beside it")
    revert.add_argument("file", metavar="RESULTS", help="the run's results .csv/.xlsx (its before-images: "
                                                        "RESULTS.before.jsonl beside it)")
    _add_connection_options(revert)
    revert.add_argument("--dry-run", action="store_true", help="plan only; send nothing")
    revert.add_argument("--yes", "-y", action="store_true", help="revert with a live key without asking")
    revert.add_argument("--force", action="store_true",
                        help="also revert rows changed since the run (default: 'kept', naming field and values)")
    _add_pace_options(revert)
    revert.add_argument("--lock-timeout", type=_non_negative(float), default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for another run of the same journal to end (0: exit 2 at once)")
    revert.add_argument("--journal", default=None, help="resume journal (default: RESULTS.<sha>.journal)")
    revert.add_argument("--keep-journal", action="store_true", help="keep the journal after a complete run")
    revert.add_argument("--results", type=_suffixed(".csv", ".xlsx"), default=None,
                        help="the revert's per-row results (default: RESULTS with .revert before its suffix)")
    revert.add_argument("--report", type=_suffixed(".xlsx"), default=None, metavar="PATH.xlsx",
                        help="also write the change audit")
    revert.add_argument("--mask-pii", action="store_true", help="mask emails and phones in the report")
    _add_progress_options(revert)
    _add_guard_options(revert)
    revert.set_defaults(func=run_apply, check=_check_apply, sheet=None, encoding=None, map=None, errors=None,
                        save_plan=None, review=None, replan=False, action=None, allow_dropped_zeros=False)

    syncer = command("sync", "keep a local Parquet mirror of every customer fresh (incremental; --full reconciles)")
    syncer.add_argument("directory", help="the mirror's directory (created on the first run)")
    _add_connection_options(syncer)
    syncer.add_argument("--full", action="store_true",
                        help="list every customer and drop the ones the API no longer has (deletions are only "
                             "seen this way)")
    syncer.add_argument("--overlap", type=_positive(float), default=None, metavar="MINUTES",
                        help="re-read customers updated this long before the last sync's newest change "
                             "(default: 10; not with --full, which reads everything)")
    _add_progress_options(syncer)
    syncer.set_defaults(func=run_sync, check=_check_sync)

    mapper = command("map", "propose a column mapping for a file's headers and values, for review")
    mapper.add_argument("file", help="input .csv, .xlsx or .ods whose headers are not drframe's")
    mapper.add_argument("--out", type=_suffixed(".yml", ".yaml", ".json"), default=None, metavar="MAPPING.yml",
                        help="where to write the proposal (default: FILE.mapping.yml next to the input)")
    mapper.add_argument("--sheet", default=None, help="sheet to read (default: 'customers', else the first)")
    mapper.add_argument("--encoding", default=None, help="text encoding of a CSV that is not UTF-8/UTF-16 with BOM")
    mapper.add_argument("--force", action="store_true", help="overwrite an existing mapping file")
    mapper.set_defaults(func=run_map)

    audit = command("audit", "write the data-quality audit of the customer base (.xlsx)")
    _add_connection_options(audit)
    audit.add_argument("--out", required=True, type=_suffixed(".xlsx"), metavar="FILE.xlsx",
                       help="the report to write")
    audit.add_argument("--mask-pii", action="store_true", help="mask emails and phone numbers")
    audit.add_argument("--compare", nargs=2, default=None, metavar=("BEFORE", "AFTER"),
                       help="instead of a quality audit, list what changed between two exports (parquet "
                            "directories or files, xlsx workbooks, or csv directories); needs no target")
    audit.add_argument("--runs", nargs="+", default=None, metavar="RESULTS",
                       help="with --compare: drframe results files, folders holding them, or globs "
                            "('runs/*.results*.csv'), to tell drframe's changes from changes made outside drframe")
    _add_read_options(audit)
    audit.set_defaults(func=run_audit, check=_check_audit)

    demo = command("demo", "the main job end to end on an embedded sandbox, into ./drframe-demo/")
    demo.add_argument("--out", default="drframe-demo", help="output directory")
    demo.add_argument("--seed-customers", type=int, default=300, help="customers seeded into the sandbox")
    demo.add_argument("--rate", type=_positive(float), default=DEMO_RATE, metavar="RPS", help="requests per second")
    _add_progress_options(demo)
    demo.set_defaults(func=run_demo)
    return parser


def _number(kind: type[float] | type[int], *, allow_zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number above 0 (or at least 0 with ``allow_zero``); ``nan`` and ``inf`` are
    refused like any other text that is not a usable number."""
    bound = "0 or more" if allow_zero else "positive"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be a finite number, {bound}, got {text}")
        return value

    return parse


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    return _number(kind, allow_zero=False)


def _non_negative(kind: type[float] | type[int]) -> Callable[[str], float]:
    return _number(kind, allow_zero=True)


def _suffixed(*suffixes: str) -> Callable[[str], str]:
    """An argparse type for an output file that must end in one of ``suffixes`` (never written otherwise)."""
    def parse(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
        if Path(text).is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file")
        return text

    return parse


def _action(text: str) -> str:
    """An argparse type for a bulk action (imported only when given: the bulk layer loads pandas)."""
    from ..bulk import ACTIONS
    from ..bulk._rows import parse_action

    action = parse_action(text)
    if action is None:
        raise argparse.ArgumentTypeError(f"unknown action {text!r}; use one of {', '.join(ACTIONS)}")
    return str(action)


def _utc_time(text: str) -> str:
    """An argparse type for a point in time: ISO 8601, UTC when no offset is given, as the API's text."""
    from datetime import UTC, datetime

    from .._core._models import format_datetime

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2024-03-05 or "
                                         "2024-03-05T06:07:08Z)") from None
    return format_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))


def _given(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The options among ``names`` (argparse dests) that the command line gave, as typed."""
    return ["--" + name.replace("_", "-") for name in names if getattr(args, name, None) not in (None, False)]


def _no_effect(options: list[str], mode: str, why: str) -> str | None:
    """The refusal of options that would do nothing in ``mode`` (a silent no-op misleads), or None."""
    if not options:
        return None
    verb = "has" if len(options) == 1 else "have"
    return f"{', '.join(options)} {verb} no effect {mode} ({why}); leave {'it' if len(options) == 1 else 'them'} out"


def _check_apply(args: argparse.Namespace) -> str | None:
    """Options a dry run, or a run without a report, would ignore; approval files need a dry run."""
    if (args.save_plan or args.review) and not args.dry_run:
        return "--save-plan and --review write a plan for approval: add --dry-run (nothing is sent)"
    if args.dry_run:
        problem = _no_effect(_given(args, ("yes", "journal", "keep_journal")), "with --dry-run",
                             "nothing is sent, so nothing is confirmed or journaled")
        if problem:
            return problem
    if args.mask_pii and not args.report:
        return "--mask-pii masks the --report workbook only; add --report PATH.xlsx or leave it out"
    return None


def _check_sync(args: argparse.Namespace) -> str | None:
    problem = _no_effect(_given(args, ("overlap",)) if args.full else [], "with --full",
                         "a full sync reads every customer")
    if args.overlap is None:
        args.overlap = 10.0
    return problem


def _check_audit(args: argparse.Namespace) -> str | None:
    """``--compare`` reads two snapshots and talks to no API; ``--runs`` only explains a comparison."""
    if args.compare:
        return _no_effect(_given(args, ("sandbox", "base_url", "api_key", "seed_customers", "rate", "workers")),
                          "with --compare", "it compares two snapshots and talks to no API")
    return _no_effect(_given(args, ("runs",)), "without --compare", "it explains a comparison's changes")


def _check_export(args: argparse.Namespace) -> str | None:
    """Resolve ``--format`` from ``--out``; the problem with the pair, or None when it is clear."""
    problem = _check_export_out(args)
    if problem is None and args.format == "parquet" and args.mask_pii:
        return ("--mask-pii is not supported with --format parquet (the Parquet files would hold the emails "
                "and phones unmasked); export xlsx or csv to mask them")
    return problem


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
    _add_pace_options(parser)
    _add_progress_options(parser)


def _add_progress_options(parser: argparse.ArgumentParser) -> None:
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true",
                       help="progress bars even when stderr is not a terminal (default: bars on a terminal, "
                            "otherwise a plain line every few seconds)")
    shown.add_argument("--no-progress", action="store_true", help="no progress bars or lines")


def _add_pace_options(parser: argparse.ArgumentParser) -> None:
    """``--rate`` and ``--workers``, their defaults decided by :mod:`drframe._api._pacing` (None: decide there)."""
    parser.add_argument("--rate", type=_positive(float), default=None, metavar="RPS", help=RATE_HELP)
    parser.add_argument("--workers", type=_positive(int), default=None, metavar="N", help=WORKERS_HELP)


def _add_guard_options(parser: argparse.ArgumentParser) -> None:
    """Limits for unattended runs (apply, revert)."""
    group = parser.add_argument_group("guards for unattended runs")
    group.add_argument("--max-changes", type=_non_negative(int), default=None, metavar="N",
                       help="send nothing (exit 1) when the plan has more than N rows to send")
    group.add_argument("--max-deletes", type=_non_negative(int), default=None, metavar="N",
                       help="send nothing (exit 1) when the plan deletes more than N customers")
    group.add_argument("--max-failures", type=_percent, default=None, metavar="PCT",
                       help="stop sending once more than PCT%% of the finished rows failed (judged from 20 "
                            "finished rows on); the rest are 'skipped'")


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be from 0 to under 100, got {text}")
    return value


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (one of: a key for the real API, or --sandbox)")
    group.add_argument("--base-url", default=None,
                       help="API base URL (default: DR_BASE_URL, else https://api.digitalriver.com)")
    group.add_argument("--api-key", default=None, help="API key (default: DR_API_KEY); never printed")
    group.add_argument("--sandbox", action="store_true",
                       help="use an embedded, seeded sandbox instead of a real API (nothing real is changed)")
    group.add_argument("--seed-customers", type=int, default=None,
                       help="with --sandbox: customers to seed (default 200)")


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
        args.no_progress, args.progress = True, False
    try:
        with _verbose_logging(args.verbose), progress_style("bars" if getattr(args, "progress", False) else None), \
                contextlib.redirect_stdout(io.StringIO()) if args.quiet else contextlib.nullcontext():
            return int(args.func(args))
    except (APIError, ConnectionFailed) as exc:
        print(f"drframe: error: {_api_failure(exc, getattr(args, 'target', 'the API'))}", file=sys.stderr)
        return EXIT_API
    except DRError as exc:
        print(f"drframe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("drframe: interrupted; run the same command again to continue (an apply resumes from its journal and "
              "sends no row twice)", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> NoReturn:
    """The ``drframe`` command: :func:`main`, then the process ends without the interpreter's teardown, which
    takes 0.1-0.2 s once pandas and pyarrow are loaded (every file is written and closed by then; the output
    streams and logging are flushed first)."""
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
