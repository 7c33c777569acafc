"""environment.yml (conda-forge) against pyproject.toml: every dependency there, under its conda-forge name, with
the same version bounds; pip installs drframe only. (No conda or mamba can be installed here to solve it.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).parent.parent
#: PyPI name -> conda-forge name, where they differ (PyPI names compared lowercased, `_` as `-`).
CONDA_NAMES = {"duckdb": "python-duckdb", "mkdocstrings": "mkdocstrings-python"}


def _conda_specs() -> tuple[dict[str, SpecifierSet], list[str]]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert environment["channels"][0] == "conda-forge"
    specs: dict[str, SpecifierSet] = {}
    pip: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip += entry["pip"]
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", entry.strip())
        assert match, f"not a conda spec: {entry!r}"
        specs[match[1].lower()] = SpecifierSet(match[2])
    return specs, pip


def _conda_name(requirement: Requirement) -> str:
    name = requirement.name.lower().replace("_", "-")
    return CONDA_NAMES.get(name, name)


def test_environment_yml_has_every_dependency_from_conda_forge() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs, pip = _conda_specs()
    assert pip == ["-e ."], "pip installs drframe only; its dependencies come from conda-forge"
    assert specs["python"] == SpecifierSet(project["requires-python"])
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    missing = [str(r) for r in wanted if _conda_name(r) not in specs]
    assert not missing, f"add to environment.yml (conda-forge names): {missing}"
    differ = [f"{r}: environment.yml has {specs[_conda_name(r)]}" for r in wanted
              if r.specifier and specs[_conda_name(r)] != r.specifier]
    assert not differ, differ
    for name in ("pandas", "pyarrow", "openpyxl", "ipywidgets", "pydantic", "requests", "fastapi", "uvicorn", "tqdm",
                 "pyyaml", "filelock", "babel", "ipydatagrid"):
        assert name in specs, name
