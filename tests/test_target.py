"""Writes go only where the user means: explicit targets, confirmation for live keys, exit codes, safe ids."""

from __future__ import annotations

import csv
import os
import pty
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drframe
from drframe import Client, InvalidRequest
from drframe.cli import main
from drframe.sandbox import Sandbox

LIVE_KEY = "sk_live_0123456789abcdef"


@pytest.fixture
def no_target_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DR_API_KEY", raising=False)
    monkeypatch.delenv("DR_BASE_URL", raising=False)


@pytest.fixture
def live_sandbox() -> Iterator[Sandbox]:
    """A sandbox that accepts a live-looking secret key, so the live-key rules can be exercised offline."""
    with Sandbox(api_key=LIVE_KEY) as sandbox:
        sandbox.client().customers.create(id="c-1", email="one@example.com", locale="en_US")
        yield sandbox


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the target -----------------------------------------------------------------------------------------------

def test_a_key_without_a_url_means_the_real_api_never_the_sandbox(no_target_env: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_API_KEY", LIVE_KEY)
    with drframe.connect() as client:  # nothing is sent until a call is made
        assert client.base_url == "https://api.digitalriver.com"
        assert client.target == "api.digitalriver.com (live secret key)"
        assert client.live and not client.embedded_sandbox
    with drframe.connect(sandbox="auto") as client:
        assert client.base_url == "https://api.digitalriver.com", "a configured key is never replaced"


def test_no_key_and_no_sandbox_is_a_usage_error_naming_both(no_target_env: None, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(drframe.ConfigurationError, match=r"DR_API_KEY.*--sandbox"):
        drframe.connect()
    path = write_csv(tmp_path / "u.csv", [{"customer_id": "c-1", "locale": "fr_FR"}])
    for argv in (["apply", str(path)], ["export", "--out", str(tmp_path / "x.xlsx")],
                 ["audit", "--out", str(tmp_path / "a.xlsx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--api-key" in err and "DR_API_KEY" in err and "--sandbox" in err
    assert not (tmp_path / "x.xlsx").exists() and not (tmp_path / "a.xlsx").exists()


def test_sandbox_only_when_asked_and_auto_only_without_any_key(no_target_env: None) -> None:
    with drframe.connect(sandbox="auto", seed_customers=3) as client:
        assert client.embedded_sandbox and client.target.startswith("embedded sandbox 127.0.0.1:")
        assert len(client.customers.list(limit=10)) == 3
    with pytest.raises(drframe.ConfigurationError, match="name one target"):
        drframe.connect(base_url="http://127.0.0.1:1", sandbox=True)


def test_first_line_names_target_and_key_kind_never_the_key(live_sandbox: Sandbox, tmp_path: Path,
                                                            no_target_env: None,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--base-url", live_sandbox.base_url, "--api-key", LIVE_KEY,
                 "--out", str(tmp_path / "c.xlsx")]) == 0
    out, err = capsys.readouterr()
    host = live_sandbox.base_url.removeprefix("http://")
    assert out.splitlines()[0] == f"drframe: target {host} (live secret key)"
    assert LIVE_KEY not in out + err
    assert main(["audit", "--sandbox", "--seed-customers", "5", "--out", str(tmp_path / "q.xlsx")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("drframe: target embedded sandbox 127.0.0.1:")


# -- live keys ask first ----------------------------------------------------------------------------------------

def apply_command(sandbox: Sandbox, path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "drframe.cli", "apply", str(path), "--base-url", sandbox.base_url,
            "--no-progress", *extra]


def test_a_live_write_without_a_terminal_needs_yes(live_sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", [{"customer_id": "c-1", "locale": "fr_FR"}])
    env = {**os.environ, "DR_API_KEY": LIVE_KEY}
    env.pop("DR_BASE_URL", None)
    refused = subprocess.run(apply_command(live_sandbox, path), env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "--yes" in refused.stderr and "update 1" in refused.stderr
    client = live_sandbox.client()
    assert client.customers.get("c-1").locale == "en_US", "nothing was sent"

    dry = subprocess.run(apply_command(live_sandbox, path, "--dry-run"), env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60)
    assert dry.returncode == 0, "a dry run sends nothing, so it needs no confirmation"

    done = subprocess.run(apply_command(live_sandbox, path, "--yes"), env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert client.customers.get("c-1").locale == "fr_FR"


@pytest.mark.parametrize(("answer", "locale", "code"), [("n\n", "en_US", 2), ("y\n", "fr_FR", 0)])
def test_a_live_write_at_a_terminal_asks(live_sandbox: Sandbox, tmp_path: Path, answer: str, locale: str,
                                         code: int) -> None:
    path = write_csv(tmp_path / "u.csv", [{"customer_id": "c-1", "locale": "fr_FR"}])
    env = {**os.environ, "DR_API_KEY": LIVE_KEY}
    main_fd, terminal_fd = pty.openpty()
    try:
        process = subprocess.Popen(apply_command(live_sandbox, path), env=env, stdin=terminal_fd,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(main_fd, answer.encode())
        out, err = process.communicate(timeout=60)
    finally:
        os.close(main_fd)
        os.close(terminal_fd)
    assert process.returncode == code, out + err
    assert live_sandbox.client().customers.get("c-1").locale == locale


def test_test_keys_need_no_confirmation(seeded_sandbox: Sandbox, tmp_path: Path) -> None:
    customer = next(seeded_sandbox.client().customers.iter_raw())
    path = write_csv(tmp_path / "u.csv", [{"customer_id": customer["id"], "locale": "fr_FR"}])
    env = {**os.environ, "DR_API_KEY": seeded_sandbox.api_key}
    done = subprocess.run(apply_command(seeded_sandbox, path), env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def seeded_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed_customers=5, seed=3) as sandbox:
        yield sandbox


# -- exit codes -----------------------------------------------------------------------------------------------

def test_unreachable_host_and_bad_key_exit_3_naming_host_and_cause(
        live_sandbox: Sandbox, tmp_path: Path, no_target_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "u.csv", [{"customer_id": "c-1", "locale": "fr_FR"}])
    port = closed_port()
    assert main(["apply", str(path), "--base-url", f"http://127.0.0.1:{port}", "--api-key", "sk_test_x"]) == 3
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "connection refused" in err
    assert main(["apply", str(path), "--base-url", live_sandbox.base_url, "--api-key", "sk_test_wrong"]) == 3
    err = capsys.readouterr().err
    assert "401" in err and "DR_API_KEY" in err and "sk_test_wrong" not in err


def test_help_lists_exit_codes_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["apply", "--help"])
    text = capsys.readouterr().out
    assert "130" in text and "API or network failure" in text and "--keep-journal" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"drframe {drframe.__version__}"


@pytest.mark.parametrize("argv", [
    ["export", "--sandbox", "--out", "{tmp}/x.xls"],
    ["export", "--sandbox", "--out", "{tmp}/x.csv"],
    ["export", "--sandbox", "--out", "{tmp}/dir", "--format", "xlsx"],
    ["audit", "--sandbox", "--out", "{tmp}/a.csv"],
    ["apply", "{tmp}/in.csv", "--sandbox", "--results", "{tmp}/r.txt"],
    ["apply", "{tmp}/in.csv", "--sandbox", "--report", "{tmp}/r.csv"],
])
def test_bad_output_names_are_refused_and_nothing_is_written(argv: list[str], tmp_path: Path) -> None:
    write_csv(tmp_path / "in.csv", [{"customer_id": "c-1", "locale": "fr_FR"}])
    with pytest.raises(SystemExit) as stop:
        main([a.format(tmp=tmp_path) for a in argv])
    assert stop.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


# -- ids --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "parameter"), [
    (lambda c: c.customers.detach_source("5800000000", ".."), "sourceId"),
    (lambda c: c.customers.update(".", email="a@example.com"), "id"),
    (lambda c: c.customers.delete("a/sources/b"), "id"),
    (lambda c: c.customers.get(""), "id"),
    (lambda c: c.customers.get(" padded"), "id"),
    (lambda c: c.customers.get("a?b"), "id"),
    (lambda c: c.customers.get("a#b"), "id"),
    (lambda c: c.customers.get("a%2Fb"), "id"),
    (lambda c: c.customers.get("a\\b"), "id"),
    (lambda c: c.customers.get("tab\there"), "id"),
    (lambda c: c.customers.get("x" * 41), "id"),
    (lambda c: c.customers.create(id="..", email="a@example.com"), "id"),
    (lambda c: c.customers.get_many(["ok", "a,b"]), "ids"),
    (lambda c: c.customers.attach_source("c-1", "s/../x"), "sourceId"),
    (lambda c: c.sources.get(".."), "id"),
])
def test_ids_that_could_address_something_else_are_refused_before_sending(client: Client, call: object,
                                                                           parameter: str) -> None:
    before = client.stats["requests"]
    with pytest.raises(InvalidRequest) as caught:
        call(client)  # type: ignore[operator]
    assert caught.value.errors[0][0] == parameter
    assert client.stats["requests"] == before, "nothing was sent"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customer_id=st.text(min_size=0, max_size=45))
def test_any_id_is_refused_or_reaches_exactly_that_customer(customer_id: str, client: Client) -> None:
    neighbours = {c["id"]: c for c in client.customers.iter_raw()}
    if "neighbour" not in neighbours:
        client.customers.create(id="neighbour", email="n@example.com")
        neighbours = {c["id"]: c for c in client.customers.iter_raw()}
    sent = client.stats["requests"]
    try:
        created = client.customers.create(id=customer_id, email="x@example.com")
    except InvalidRequest:
        assert client.stats["requests"] == sent, "refused before sending"
        return
    assert created.id == customer_id
    assert client.customers.get(customer_id).id == customer_id
    client.customers.update(customer_id, locale="fr_FR")
    client.customers.delete(customer_id)
    with pytest.raises(drframe.NotFound):
        client.customers.get(customer_id)
    assert {c["id"]: c for c in client.customers.iter_raw()} == neighbours, "nothing else changed"
