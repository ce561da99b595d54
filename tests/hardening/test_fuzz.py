"""Bounded fuzzing in CI: mutated real templates and hostile conversations never crash fastmask.

`_support/fuzz_render.py` runs in a child process for FASTMASK_FUZZ_SECONDS (default 30) from
FASTMASK_FUZZ_SEED (default DEFAULT_SEED, so a CI run is reproducible; `random` draws a fresh seed
for exploratory runs, printed on failure); the child must exit cleanly, and every case must end
in output or a FastmaskError with the limits held. A finding becomes a regression test in
test_regressions.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

DEFAULT_SEED = 20261125


def test_fuzz_template_and_conversation(tmp_path):
    seconds = float(os.environ.get("FASTMASK_FUZZ_SECONDS", "30"))
    chosen = os.environ.get("FASTMASK_FUZZ_SEED", str(DEFAULT_SEED))
    seed = random.randrange(1 << 30) if chosen == "random" else int(chosen)
    crash_file = tmp_path / "crash.json"
    script = Path(__file__).resolve().parents[1] / "_support" / "fuzz_render.py"
    run = subprocess.run(
        [sys.executable, str(script), str(seconds), str(seed), str(crash_file)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    reproducer = crash_file.read_text(encoding="utf-8") if crash_file.exists() else None
    assert run.returncode == 0, (
        f"seed {seed}: the process died ({run.returncode}) on {reproducer}\n{run.stderr[-3000:]}"
    )
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert not summary["failures"], f"seed {seed}: {summary['failures']}"
    assert sum(summary["counts"].values()) > 50, summary  # the run did exercise something
