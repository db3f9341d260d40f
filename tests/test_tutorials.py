"""Every tutorial script runs at smoke size and is listed in docs/tutorials.md.

The tutorials assert their own claims (e.g. parallel spikes equal step spikes), so a tutorial that stops being
true fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_tutorials_exist_and_are_listed():
    assert len(TUTORIALS) >= 2
    listed = (ROOT / "docs" / "tutorials.md").read_text()
    assert [path.name for path in TUTORIALS if f"tutorials/{path.name}" not in listed] == []


@pytest.mark.parametrize("script", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_tutorial_runs(script, tmp_path):
    result = subprocess.run([sys.executable, str(script), "--smoke"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "PMSN_DATA": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a tutorial prints what it shows"
