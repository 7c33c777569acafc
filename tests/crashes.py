"""Shared by the crash tests: count the writes a sandbox answers, and kill -9 a run part-way through its journal."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drframe.sandbox import Sandbox


def count_writes(sandbox: Sandbox) -> Counter[str]:
    """Count, by ``"METHOD /path"``, each write (POST/DELETE) the sandbox answers with success.

    A write that arrives and whose answer is dropped still counts: what matters is what the server did.
    """
    writes: Counter[str] = Counter()
    app = sandbox.app

    async def counted_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "DELETE"}:
            return await app(scope, receive, send)

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] < 300:
                writes[f"{scope['method']} {scope['path']}"] += 1
            await send(message)

        return await app(scope, receive, counted)

    sandbox.app = counted_app  # type: ignore[assignment]
    return writes


def finished_records(journal: Path) -> int:
    """How many ``finished`` records the journal holds (0 before it exists)."""
    return journal.read_bytes().count(b'"event": "finished"') if journal.exists() else 0


def kill_after(command: Sequence[str], env: Mapping[str, str], journal: Path, finished: int,
               timeout: float = 60) -> subprocess.Popen[bytes]:
    """Start ``command``, kill -9 it once its journal holds ``finished`` finished rows (or it ends), and reap it."""
    child = subprocess.Popen(list(command), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while finished_records(journal) < finished and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return child
