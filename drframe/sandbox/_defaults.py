"""The sandbox's defaults, written once: the CLI, :class:`Sandbox` and :func:`serve` read them from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxDefaults:
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str = "sk_test_sandbox"
    public_key: str = "pk_test_sandbox"
    db_file: str = "drframe-sandbox.db"
    seed: int = 0


DEFAULTS = SandboxDefaults()
