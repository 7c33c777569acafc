"""The ``drframe`` command: sandbox, export, apply, audit, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import DRError

if TYPE_CHECKING:
    from . import bulk
    from ._client import Client

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE = 0, 1, 2


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import serve

    serve(host=args.host, port=args.port, db=args.db, api_key=args.api_key, public_key=args.public_key,
          seed_customers=args.seed_customers, rate_limit=args.rate_limit, fault_rate=args.fault_rate,
          latency_ms=args.latency_ms, seed=args.seed)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    """Seed the embedded sandbox, export, bulk-apply the sample updates, write results and both audit reports."""
    from . import bulk
    from .report import change_audit, quality_audit
    from .sandbox import Sandbox

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    updates = _sample_file(out)
    journal = out / "demo.journal"
    journal.unlink(missing_ok=True)  # the embedded sandbox starts empty every time, so must the journal
    with Sandbox(seed_customers=args.seed_customers) as sandbox, sandbox.client() as client:
        before = client.customers.to_frames()
        before.to_excel(out / "customers-before.xlsx")
        print(f"embedded sandbox at {sandbox.base_url}: {before!r}")
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
    with _connect(args) as client:
        plan = bulk.plan(source, client, sheet=args.sheet)
        _print_plan(plan)
        results_path = Path(args.results) if args.results else source.with_name(source.stem + ".results.csv")
        if args.dry_run:
            from ._export import write_table

            write_table(results_path, plan.frame(), sheet="plan")
            print(f"dry run: nothing sent; the plan is in {results_path}")
            return EXIT_FAILED_ROWS if plan.counts.get("invalid") else EXIT_OK
        journal = Path(args.journal) if args.journal else source.with_name(
            f"{source.name}.{plan.sheet.sha256[:12]}.journal")
        result = plan.apply(workers=args.workers, rate=args.rate, journal=journal, progress=not args.no_progress)
    result.to_file(results_path)
    written = [str(results_path)]
    if args.report:
        from .report import change_audit

        written.append(str(change_audit(result, args.report, mask_pii=args.mask_pii)))
    counts = ", ".join(f"{status} {n}" for status, n in result.counts.items())
    print(f"{counts} in {result.elapsed:.1f} s ({result.throughput:.1f} writes/s); journal {journal}")
    print(f"wrote {', '.join(written)}")
    if result.interrupted:
        print("drframe: interrupted: rows not yet sent are 'skipped'; run the same command again to continue",
              file=sys.stderr)
        return 130
    return EXIT_OK if result.ok else EXIT_FAILED_ROWS


def _audit(args: argparse.Namespace) -> int:
    """Write the data-quality audit of every customer."""
    from .report import quality_audit, quality_issues

    with _connect(args) as client:
        frames = client.customers.to_frames()
    path = quality_audit(frames, args.out, mask_pii=args.mask_pii)
    issues = quality_issues(frames)
    counts = issues["check"].value_counts()
    summary = ", ".join(f"{check} {n}" for check, n in counts.items()) or "no findings"
    print(f"{len(frames.customers)} customers: {summary}")
    print(f"wrote {path}")
    return EXIT_OK


def _print_plan(plan: bulk.Plan, limit: int = 20) -> None:
    counts = ", ".join(f"{name} {n}" for name, n in sorted(plan.counts.items()))
    print(f"plan for {plan.sheet.path.name}: {len(plan.rows)} rows: {counts}")
    errors = plan.errors
    for row, column, value, message in errors.head(limit).itertuples(index=False, name=None):
        where = f"row {row}" + (f", column {column} ({value!r})" if column else "")
        print(f"  {where}: {message}", file=sys.stderr)
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit} more (see the results file)", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drframe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="serve the local Customers API emulator")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--api-key", default="sk_test_sandbox", help="the secret key clients must send")
    sandbox.add_argument("--public-key", default="pk_test_sandbox", help="a public key (may only create sources)")
    sandbox.add_argument("--db", default="drframe-sandbox.db", help="SQLite file (persists) or :memory:")
    sandbox.add_argument("--seed-customers", type=int, default=0, help="seed N synthetic customers into an empty db")
    sandbox.add_argument("--rate-limit", type=float, default=None, metavar="RPS", help="429 above RPS per key")
    sandbox.add_argument("--fault-rate", type=float, default=0.0, metavar="F", help="inject faults in a fraction F")
    sandbox.add_argument("--latency-ms", type=float, default=0.0, metavar="MS", help="added latency per request")
    sandbox.add_argument("--seed", type=int, default=0, help="seed for synthetic data and faults")
    sandbox.set_defaults(func=_sandbox)

    export = sub.add_parser("export", help="export every customer into typed tables (xlsx, csv or parquet)")
    _add_connection_options(export)
    export.add_argument("--out", required=True, help="FILE.xlsx, or a directory for csv/parquet files")
    export.add_argument("--format", choices=("xlsx", "csv", "parquet"), default=None,
                        help="default: xlsx for a .xlsx path, else csv")
    export.add_argument("--mask-pii", action="store_true", help="mask emails and phone numbers")
    export.set_defaults(func=_export)

    apply = sub.add_parser("apply", help="validate, plan and apply customer changes from a .csv or .xlsx file")
    apply.add_argument("file", help="input .csv or .xlsx (columns of the customers table, plus 'action')")
    _add_connection_options(apply)
    apply.add_argument("--dry-run", action="store_true", help="validate and plan only; send nothing")
    apply.add_argument("--rate", type=_positive(float), default=25.0, metavar="RPS",
                       help="requests per second (default 25)")
    apply.add_argument("--workers", type=_positive(int), default=8, help="concurrent requests (default 8)")
    apply.add_argument("--journal", default=None,
                       help="resume journal (default FILE.<sha>.journal next to the input)")
    apply.add_argument("--results", default=None, help="per-row results .csv/.xlsx (default FILE.results.csv)")
    apply.add_argument("--report", default=None, metavar="PATH.xlsx", help="also write the change audit")
    apply.add_argument("--sheet", default=None, help="sheet to read (default 'customers', else the first)")
    apply.add_argument("--mask-pii", action="store_true", help="mask emails and phones in the report")
    apply.add_argument("--no-progress", action="store_true", help="no progress bar")
    apply.set_defaults(func=_apply)

    audit = sub.add_parser("audit", help="write the data-quality audit of the customer base (.xlsx)")
    _add_connection_options(audit)
    audit.add_argument("--out", required=True, metavar="FILE.xlsx")
    audit.add_argument("--mask-pii", action="store_true", help="mask emails and phone numbers")
    audit.set_defaults(func=_audit)

    demo = sub.add_parser("demo", help="the main job end to end on the embedded sandbox, into ./drframe-demo/")
    demo.add_argument("--out", default="drframe-demo", help="output directory (default ./drframe-demo)")
    demo.add_argument("--seed-customers", type=int, default=300)
    demo.add_argument("--rate", type=float, default=50.0, metavar="RPS", help="requests per second (default 50)")
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


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=None, help="API base URL (default: DR_BASE_URL, else the embedded sandbox)")
    parser.add_argument("--api-key", default=None, help="API key (default: DR_API_KEY); never printed")
    parser.add_argument("--seed-customers", type=int, default=200,
                        help="customers to seed when the embedded sandbox is used (default 200)")


@contextmanager
def _connect(args: argparse.Namespace) -> Iterator[Client]:
    """A client for --base-url / DR_BASE_URL, or for an embedded, seeded sandbox when neither is set."""
    from ._client import Client

    if args.base_url or os.environ.get("DR_BASE_URL"):
        with Client(api_key=args.api_key, base_url=args.base_url) as client:
            yield client
        return
    from .sandbox import Sandbox

    print(f"drframe: no DR_BASE_URL: using the embedded sandbox ({args.seed_customers} seeded customers)",
          file=sys.stderr)
    with Sandbox(seed_customers=args.seed_customers) as sandbox, sandbox.client() as client:
        yield client


def _export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = args.format or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    with _connect(args) as client:
        frames = client.customers.to_frames()
    if fmt == "xlsx":
        written = [frames.to_excel(out, mask_pii=args.mask_pii)]
    elif fmt == "csv":
        written = frames.to_csv(out, mask_pii=args.mask_pii)
    else:
        written = frames.to_parquet(out)
    print(f"exported {frames!r} to {', '.join(str(w) for w in written)}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DRError as exc:
        print(f"drframe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("drframe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
