"""The layers of docs/architecture.md §1: every import inside ``pmsn`` points down (or sideways where allowed)."""

import re
from pathlib import Path

import pmsn

SOURCE = Path(pmsn.__file__).parent
LAYER = {"io": 0, "surrogate": 0, "arguments": 0, "tables": 0, "papers": 0, "memory": 0, "ops": 1, "neurons": 2, "models": 3,
         "data": 3, "train": 4, "bench": 5, "plot": 5, "experiments": 5,
         "export": 5, "nir": 5, "convert": 5, "cli": 6, "__main__": 6, "demo": 6}
SIDEWAYS = {("tables", "io"), ("experiments", "bench"), ("experiments", "plot"), ("bench", "plot"), ("export", "nir"),
            ("__main__", "cli")}
IMPORT = re.compile(r"^\s*(?:from pmsn\.(\w+)|import pmsn\.(\w+)|from pmsn import (\w+))", re.M)


def imports() -> set[tuple[str, str]]:
    found = set()
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE).parts
        unit = parts[0] if len(parts) > 1 else path.stem
        for match in IMPORT.finditer(path.read_text()):
            target = next(group for group in match.groups() if group)
            if target != unit:
                found.add((unit, target))
    return found


def test_every_unit_has_a_layer():
    units = {p.relative_to(SOURCE).parts[0].removesuffix(".py") for p in SOURCE.iterdir()
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())} - {"__init__"}
    assert units == set(LAYER), "add the new module to docs/architecture.md §1 and LAYER"


def test_imports_point_down():
    edges = imports()
    assert len(edges) > 20  # the pattern still finds imports
    upward = sorted((a, b) for a, b in edges if LAYER[b] >= LAYER[a] and (a, b) not in SIDEWAYS)
    assert upward == [], f"imports against docs/architecture.md §1: {upward}"
