"""The ``drframe`` command: sandbox, export, apply, audit, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import DRError

if TYPE_CHECKING:
    from ._client import Client

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE = 0, 1, 2


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import serve

    serve(host=args.host, port=args.port, db=args.db, api_key=args.api_key, public_key=args.public_key,
          seed_customers=args.seed_customers, rate_limit=args.rate_limit, fault_rate=args.fault_rate,
          latency_ms=args.latency_ms, seed=args.seed)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    """Seed the embedded sandbox, export, edit a few customers in the frame, apply the diff, export again."""
    from ._frames import diff_frames
    from .sandbox import Sandbox

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with Sandbox(seed_customers=args.seed_customers) as sandbox, sandbox.client(rate_limit=200) as client:
        before = client.customers.to_frames()
        before.to_excel(out / "customers-before.xlsx")
        edited = before.customers.copy()
        first = edited.index[:5]
        edited.loc[first, "locale"] = "fr_FR"
        edited.loc[first, "metadata.segment"] = "vip"
        edited.loc[edited.index[5:8], "shipping.address.postalCode"] = "02108"
        payloads = diff_frames(before.customers, edited)
        for customer_id, payload in payloads.items():
            client.customers.update(customer_id, payload)
        after = client.customers.to_frames()
        after.to_excel(out / "customers-after.xlsx")
        after.to_parquet(out / "parquet")
        unchanged = diff_frames(after.customers, edited)
    print(f"sandbox: {before!r}")
    print(f"applied {len(payloads)} minimal updates; remaining differences after apply: {len(unchanged)}")
    print(f"wrote {out}/customers-before.xlsx, {out}/customers-after.xlsx and {out}/parquet/")
    return EXIT_OK if not unchanged else EXIT_FAILED_ROWS


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

    demo = sub.add_parser("demo", help="the main job end to end on the embedded sandbox, into ./drframe-demo/")
    demo.add_argument("--out", default="drframe-demo", help="output directory (default ./drframe-demo)")
    demo.add_argument("--seed-customers", type=int, default=300)
    demo.set_defaults(func=_demo)
    return parser


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
