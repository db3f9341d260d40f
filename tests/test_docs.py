"""Source comments cite only the documentation shipped in docs/, and every such citation resolves.

A citation names a file and a numbered section, ``docs/pmsn.md §5.3`` (see docs/README.md, "How to cite a
section"). The checks, over every text file under src/, tests/, benchmarks/, configs/ and tutorials/ (this file excluded):

* no citation of the unshipped design spec: "spec neurons", "spec experiments", "spec §3.1", a bare
  "neurons.md" / "experiments.md" / "kernels.md" (without ``docs/``), "paper 000/001/002", "P-TC"-style names;
* every ``docs/<name>.md`` names an existing file in docs/;
* every ``§`` is either a paper's own section ("PMSN §VII-F2", "PSN §3.3") or belongs to a ``docs/<name>.md``
  citation, on the same line or continued from the line before ("docs/pmsn.md §6.1 element-wise, or §6.2 ...",
  a comment wrapped between "docs/kernels.md" and "§5"), and names a numbered heading of that file
  ("## 5. ..." or "### 5.3 ..."), both ends of a range "§1.2-1.3" included.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED = ("src", "tests", "benchmarks", "configs", "tutorials")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build"}
THIS_FILE = Path(__file__).resolve()

# Citations of the design spec the code was written from, which users do not have.
FORBIDDEN = [
    (re.compile(r"\bspec\s+(?:neurons|experiments|kernels)\b", re.IGNORECASE), "spec file"),
    (re.compile(r"\bspec\s*§", re.IGNORECASE), "spec section"),
    (re.compile(r"(?<![\w/])(?:neurons|experiments|kernels)\.md\b"), "spec file name without docs/"),
    (re.compile(r"\bpaper\s+00[0-2]\b", re.IGNORECASE), "spec paper number (use PMSN, TC-LIF or PSN)"),
    (re.compile(r"\bP-(?:TC|PSN|PMSN)\b"), "spec paper shorthand (use PMSN, TC-LIF or PSN)"),
]
DOCS_FILE = re.compile(r"\bdocs/([\w.-]+?\.md)\b")
# "§5", "§5.3", "§1.2-1.3", "§5–6"; anything else after § (e.g. a paper's "§VII-F2") has no number here.
SECTION = re.compile(r"§(?:(\d+(?:\.\d+)*)(?:\s*[-–]\s*(\d+(?:\.\d+)*))?)?")
# A paper's own sections, "PMSN §VII-F2", "TC-LIF Supp. §2", "PSN §3.3": not docs citations.
PAPER_SECTION = re.compile(r"\b(?:PMSN|TC-LIF|PSN)(?:\s+Supp\.)?\s*$")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s")


def scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            parts = set(path.relative_to(ROOT).parts)
            if not path.is_file() or path.resolve() == THIS_FILE or parts & SKIPPED_DIRS \
                    or any(part.endswith(".egg-info") for part in parts):
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue  # binary (e.g. the embedded digits)
            try:
                files.append((path, data.decode("utf-8")))
            except UnicodeDecodeError:
                continue
    return files


@lru_cache(maxsize=None)
def numbered_sections(name: str) -> frozenset[str]:
    """The section numbers of docs/<name>: "5" for "## 5. The soma", "5.3" for "### 5.3 ..." (code blocks skipped)."""
    sections, fenced = set(), False
    for line in (DOCS / name).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            sections.add(match.group(1))
    return frozenset(sections)


def forbidden_citations(text: str) -> list[str]:
    """'line N: reason: excerpt' for every citation of the unshipped spec in ``text``."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, reason in FORBIDDEN:
            for match in pattern.finditer(line):
                problems.append(f"line {number}: {reason}: {line[max(0, match.start() - 30):match.end() + 30]!r}")
    return problems


def docs_citations(text: str) -> tuple[list[tuple[int, str, str]], list[str]]:
    """([(line, docs file, section)], problems): every § of ``text`` resolved to the docs file it cites.

    A § belongs to the nearest ``docs/<name>.md`` before it on its own line or, failing that, on the line above
    (a citation list or a wrapped comment); a § right after a paper's name is that paper's section and skipped.
    """
    citations, problems = [], []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        for match in DOCS_FILE.finditer(line):
            if not (DOCS / match.group(1)).is_file():
                problems.append(f"line {number}: no file docs/{match.group(1)}")
        for match in SECTION.finditer(line):
            before = line[:match.start()]
            if PAPER_SECTION.search(before):
                continue
            cited = DOCS_FILE.findall(before) or (DOCS_FILE.findall(lines[number - 2]) if number > 1 else [])
            if not cited:
                problems.append(f"line {number}: § without a docs/<file>.md citation: {line.strip()!r}")
                continue
            if match.group(1) is None:
                problems.append(f"line {number}: § without a section number: {line.strip()!r}")
                continue
            for section in filter(None, match.group(1, 2)):
                citations.append((number, cited[-1], section))
    return citations, problems


def unresolved(citations: list[tuple[int, str, str]]) -> list[str]:
    return [f"line {number}: docs/{name} has no section §{section}" for number, name, section in citations
            if (DOCS / name).is_file() and section not in numbered_sections(name)]


FILES = scanned_files()


def test_scan_finds_the_sources_and_their_citations():
    names = {path.relative_to(ROOT).as_posix() for path, _ in FILES}
    assert {"src/pmsn/neurons/pmsn.py", "configs/pmsn_scifar10_column.yaml", "benchmarks/exactness.py"} <= names
    total = sum(len(docs_citations(text)[0]) for _, text in FILES)
    assert total > 150, f"only {total} docs citations found: the citation pattern no longer matches"


def test_no_citation_of_the_unshipped_spec():
    problems = [f"{path.relative_to(ROOT)}: {problem}" for path, text in FILES for problem in forbidden_citations(text)]
    assert not problems, "cite docs/<file>.md §N instead:\n" + "\n".join(problems)


def test_docs_citations_resolve_to_numbered_headings():
    problems = []
    for path, text in FILES:
        citations, found = docs_citations(text)
        problems += [f"{path.relative_to(ROOT)}: {problem}" for problem in found + unresolved(citations)]
    assert not problems, "\n".join(problems)


def test_cross_references_between_docs_resolve():
    """``[pmsn.md](pmsn.md) §7.1`` inside docs/ names an existing file and heading."""
    link = re.compile(r"\]\(([\w.-]+\.md)\)\s*" + SECTION.pattern)
    problems = []
    for doc in sorted(DOCS.glob("*.md")):
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for match in link.finditer(line):
                name, sections = match.group(1), [s for s in match.group(2, 3) if s]
                if not (DOCS / name).is_file():
                    problems.append(f"{doc.name} line {number}: no file docs/{name}")
                problems += [f"{doc.name} line {number}: {name} has no section §{s}" for s in sections
                             if (DOCS / name).is_file() and s not in numbered_sections(name)]
    assert not problems, "\n".join(problems)


# The checker itself: what it must reject and what it must accept.
@pytest.mark.parametrize("text", [
    "# neuron_lr at 10x (spec neurons §5.4)",
    '"""S-MNIST readers (spec experiments.md §1.1)."""',
    "# spec §3.1 S-MNIST row",
    '"""Spec §1.5: the 10 keywords"""',
    "(kernels.md \"Build\")",
    "float32 error (spec kernels.md: the convolution dominates)",
    "see neurons.md §3.3",
    "(experiments.md §4)",
    "TC-LIF (paper 001)",
    "the study of P-TC Fig. 2",
])
def test_checker_rejects_spec_citations(text):
    assert forbidden_citations(text) or docs_citations(text)[1]


@pytest.mark.parametrize("text", [
    "# soma remainder carries no gradient (docs/pmsn.md §6.1)",
    '"""Fused sweeps (docs/neurons.md §1.3-1.4, §2.1-2.2, §3.2;\ndesign: docs/kernels.md §4)."""',
    "// G (docs/pmsn.md §6.1 element-wise, or §6.2 summed over t)",
    "// compiled with its own flags (docs/kernels.md\n// §5), so",
    "# (docs/pmsn.md §5-6) and (docs/tasks.md §2.2–2.5)",
    "Paper (PMSN §VII-F2, RTX 3090); PSN eq. 8-10; TC-LIF Supp. Table 7",
    "see docs/kernels.md for the design",
])
def test_checker_accepts_docs_citations(text):
    citations, problems = docs_citations(text)
    assert not forbidden_citations(text) and not problems and not unresolved(citations)


@pytest.mark.parametrize("text", [
    "# (docs/pmsn.md §11.4)",  # no such heading
    "# (docs/pmsn.md §5.2-5.9)",  # the end of the range does not exist
    "# (docs/experiments.md §3.1)",  # no such file
    "# the recipe (§3.1)",  # a bare section of no file
    "# see §5.8\n\n# docs/pmsn.md §5",  # a citation two lines below does not count
])
def test_checker_rejects_dangling_citations(text):
    citations, problems = docs_citations(text)
    assert problems or unresolved(citations)
