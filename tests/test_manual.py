"""The manual: it builds strictly, its links resolve, and the troubleshooting page covers every message.

Messages are collected from the code itself (every error drframe raises, every reason a bulk row is refused, every
rule of the shared models), so a new message without an entry on the troubleshooting page fails this test.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TROUBLESHOOTING = DOCS / "troubleshooting.md"

#: Exceptions whose text an analyst reads: drframe's own hierarchy, plus the models' custom errors.
_ERROR_SOURCE = (ROOT / "drframe" / "_errors.py").read_text(encoding="utf-8")
ERROR_CLASSES = frozenset(re.findall(r"^class (\w+)\(", _ERROR_SOURCE, re.M)) | {"PydanticCustomError", "UsageError"}
#: Literal text shorter than this is not distinctive enough to look up ("; ", ": not ").
MIN_FRAGMENT = 12


def _literal_parts(node: ast.expr) -> list[str]:
    """The constant pieces of a message expression: a string, an f-string, a concatenation, a conditional."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value for part in node.values if isinstance(part, ast.Constant) and isinstance(part.value, str)]
    if isinstance(node, ast.BinOp):
        return _literal_parts(node.left) + _literal_parts(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_parts(node.body) + _literal_parts(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
        return [part for argument in node.args for part in _literal_parts(argument)]
    return []


def _fragment(node: ast.expr) -> str | None:
    """The longest literal piece of a message, without the punctuation around the values it quotes."""
    pieces = [piece for part in _literal_parts(node) for piece in re.split(r"\{\w+\}", part)]  # pydantic templates
    parts = [re.sub(r"\s+", " ", piece).strip(" :;,.'\"").lstrip(")").rstrip("(").strip() for piece in pieces]
    best = max(parts, key=len, default="")
    return best if len(best) >= MIN_FRAGMENT else None


def _message_argument(call: ast.Call) -> ast.expr | None:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name == "PydanticCustomError" and len(call.args) >= 2:
        return call.args[1]
    if name == "fail" and isinstance(call.func, ast.Attribute) and len(call.args) >= 2:
        return call.args[1]  # a bulk row refused: RowPlan.fail(column, message)
    if name in ERROR_CLASSES and call.args:
        return call.args[0]
    is_super = isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call) and getattr(
        call.func.value.func, "id", "") == "super"
    if name == "__init__" and is_super and call.args:
        return call.args[0]  # an exception that words its own message (JournalLocked)
    return None


def collect_messages() -> dict[str, str]:
    """Every distinctive message fragment in drframe, with where it is raised (``path:line``)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "drframe").rglob("*.py")):
        if "sandbox" in path.parts:  # the emulator's errors are the API's, shown through APIError
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (argument := _message_argument(node)) is not None:
                fragment = _fragment(argument)
                if fragment:
                    found.setdefault(fragment, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_collector_finds_the_messages_analysts_meet() -> None:
    messages = collect_messages()
    assert "a formula; enter the value itself (drframe never evaluates formulas)" in messages
    assert "is not a valid email address" in messages
    assert len(messages) > 40


def test_troubleshooting_covers_every_message() -> None:
    page = re.sub(r"\s+", " ", TROUBLESHOOTING.read_text(encoding="utf-8"))
    missing = [f"{where}: {fragment!r}" for fragment, where in collect_messages().items() if fragment not in page]
    assert not missing, "messages without an entry in docs/troubleshooting.md:\n" + "\n".join(missing)


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert local, "the README links into docs/"
    assert [target for target in local if not (ROOT / target).exists()] == []


@pytest.mark.slow
def test_the_manual_builds_strictly(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and subprocess.run([sys.executable, "-m", "mkdocs", "--version"],
                                                         capture_output=True).returncode != 0:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]'")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1",
                                                                                     **__import__("os").environ})
    assert build.returncode == 0, build.stderr[-3000:]
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("sandbox", "export", "sync", "apply", "map", "audit", "demo"):
        assert f"usage: drframe {command}" in cli_page
