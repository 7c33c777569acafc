"""The ``drframe`` command: sandbox, export, apply, audit, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._errors import DRError

EXIT_OK, EXIT_FAILED_ROWS, EXIT_USAGE = 0, 1, 2


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import serve

    serve(host=args.host, port=args.port, db=args.db, api_key=args.api_key, public_key=args.public_key,
          seed_customers=args.seed_customers, rate_limit=args.rate_limit, fault_rate=args.fault_rate,
          latency_ms=args.latency_ms, seed=args.seed)
    return EXIT_OK


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

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


_EXTRA_COMMANDS: list = []  # type: ignore[type-arg]


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
