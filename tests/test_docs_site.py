"""The docs site (mkdocs.yml over docs/, API pages from the docstrings) builds in strict mode and covers the code.

Strict mode turns every broken link, missing page and unresolvable docstring reference into a failure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SOURCE = ROOT / "src" / "pmsn"
# Packages whose modules each get an API page entry; command-line glue (cli.py) and package markers are exempt.
DOCUMENTED_PACKAGES = ("neurons", "ops", "models", "train", "export", "nir", "convert")
NOT_API = {"cli.py", "__init__.py", "__main__.py"}


def nav_pages(entries) -> set[str]:
    pages = set()
    for entry in entries:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            pages |= nav_pages(value) if isinstance(value, list) else {value}
    return pages


def mkdocs_config() -> dict:
    # mkdocs.yml may hold python tags in other projects; ours is plain YAML
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_every_docs_page_is_in_the_nav():
    pages = nav_pages(mkdocs_config()["nav"])
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert on_disk - pages == set(), "add these pages to mkdocs.yml nav"
    assert pages - on_disk == set(), "the nav names pages that do not exist"


def test_every_module_has_an_api_entry():
    documented = set(re.findall(r"^::: (pmsn[\w.]*)$", "\n".join(
        page.read_text() for page in (DOCS / "api").glob("*.md")), re.M))
    missing = []
    for package in DOCUMENTED_PACKAGES:
        for path in sorted((SOURCE / package).glob("*.py")):
            module = f"pmsn.{package}.{path.stem}"
            if path.name not in NOT_API and module not in documented:
                missing.append(module)
    assert missing == [], "add `::: module` lines to a page of docs/api/"


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    neurons = (tmp_path / "api" / "neurons" / "index.html").read_text()
    # the API page is generated from the code: the PMSN class and its step method are there with their docstrings
    assert 'id="pmsn.neurons.pmsn.PMSN"' in neurons
    assert "zero-order-hold" in neurons or "compartments" in neurons
    assert (tmp_path / "tutorials" / "index.html").exists()
