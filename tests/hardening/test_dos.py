"""Denial of service: hostile templates end with a limit error (or render correctly) quickly.

The cases live in `_support/dos_cases.py` and run in one child process with a wall-clock guard, so a
hang or an abort fails these tests instead of freezing or killing the suite. The README's limits
are sized so that each case ends within a second on one core (on the 2-core reference machine,
idle: 0.9 s for the slowest, a fuel-limited loop that prints); the per-case bound here is three
times that, for a loaded CI machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _support.dos_cases import CASES

GUARD_SECONDS = 240
PER_CASE_SECONDS = 3


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict]:
    script = Path(__file__).resolve().parents[1] / "_support" / "dos_cases.py"
    try:
        run = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=GUARD_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the denial-of-service cases hung: {err.stdout!r}")
    assert run.returncode == 0, f"child process died ({run.returncode}): {run.stderr[-2000:]}"
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {line["name"]: line for line in lines}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_template_is_stopped(outcomes, name):
    expected = CASES[name][1]
    result = outcomes[name]
    assert result["outcome"] == expected, result
    assert result["seconds"] < PER_CASE_SECONDS, result
    if expected == "LimitError":
        assert "limit" in result["detail"], result
