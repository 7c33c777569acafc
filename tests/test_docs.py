"""The docs agree with the code: the README's CLI list and options against the parser, --help defaults."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from drframe import cli
from drframe._api._pacing import API_RATE_LIMITS, WORKERS_HELP, default_workers
from drframe.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: The documentation: the README (a landing page) and the manual in docs/.
DOCS = "\n".join([README, *(page.read_text(encoding="utf-8") for page in sorted((ROOT / "docs").rglob("*.md")))])


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_readme_and_cli_docstring_list_every_command_in_the_parsers_order() -> None:
    names = list(_commands())
    listed = re.search(r"drframe \[-q \| -v\] \{([a-z,]+)\}", README)
    assert listed is not None and listed.group(1).split(",") == names
    assert cli.__doc__ is not None
    assert cli.__doc__.splitlines()[0] == f"The ``drframe`` command: {', '.join(names)}."


def test_every_option_the_readme_gives_a_command_is_one_of_its_options() -> None:
    commands = _commands()
    used = 0
    for snippet in re.findall(r"`(drframe [a-z]+ [^`]*)`|^(drframe [a-z]+ .*)$", DOCS, re.M):
        words = shlex.split("".join(snippet).replace("…", ""))
        if words[1] not in commands:
            continue
        known = {o for a in commands[words[1]]._actions for o in a.option_strings}
        for word in words[2:]:
            if word.startswith("--"):
                used += 1
                assert word.split("=")[0] in known, (words[1], word)
    assert used > 10


@pytest.mark.parametrize("command", ["sandbox", "export", "sync", "apply", "map", "audit", "demo"])
def test_help_names_each_default_once(command: str) -> None:
    text = " ".join(_commands()[command].format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text
    assert not re.search(r"\(default[^)]*\)\s*\(default", text), text


def test_workers_help_says_what_default_workers_does() -> None:
    assert "a third of the rate + 2, at least 4, at most 32; 8 unlimited" in WORKERS_HELP
    with Sandbox() as sandbox:
        client = sandbox.client()
        assert default_workers(client) == 8
        for rate, workers in [(3.0, 4), (API_RATE_LIMITS["test"], 11), (60.0, 22), (API_RATE_LIMITS["live"], 32)]:
            assert default_workers(client.with_options(rate_limit=rate)) == workers


def test_apply_export_and_audit_share_one_pace() -> None:
    commands = _commands()
    helps = {name: {a.dest: (a.default, a.help) for a in commands[name]._actions if a.dest in ("rate", "workers")}
             for name in ("apply", "export", "audit")}
    assert helps["apply"] == helps["export"] == helps["audit"]
    assert helps["apply"]["rate"][0] is None and helps["apply"]["workers"][0] is None
