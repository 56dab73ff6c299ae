"""pyproject.toml declares the licence the current way (PEP 639), so building Strom prints no
setuptools deprecation banner, and its metadata says Apache-2.0."""
from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_licence_is_an_spdx_expression_with_its_file():
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"  # a string, not the deprecated {text = ...} table
    assert project["license-files"] and all((ROOT / f).is_file() for f in project["license-files"])
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))  # superseded by PEP 639


def test_the_build_backend_understands_it():
    [setuptools] = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    version = re.search(r"==\s*([0-9]+)", setuptools)
    assert version and int(version.group(1)) >= 77, f"SPDX license needs setuptools 77+, pinned: {setuptools}"


def test_the_installed_metadata_carries_it():
    meta = importlib.metadata.metadata("strom")
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (meta.get_all("License-File") or [])
