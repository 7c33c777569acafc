"""MkDocs hooks: the command-line reference is rendered from drframe's own argparse parser at build time.

One source of truth: ``drframe COMMAND --help`` and the manual's reference page come from the same parser, so they
cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    os.environ["COLUMNS"] = "110"  # argparse wraps to the terminal width; a fixed width keeps the page stable
    return parser.format_help().rstrip()


def cli_reference() -> str:
    """The markdown of every command's ``--help``, in the parser's order."""
    from drframe.cli import build_parser

    parser = build_parser()
    parts = ["## drframe", "", "```text", _help(parser), "```", ""]
    for name, sub in _subcommands(parser).items():
        parts += [f"## drframe {name}", "", sub.description or "", "", "```text", _help(sub), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
