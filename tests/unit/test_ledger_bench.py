"""bench/ledger_bench.py still runs what the pipeline runs (a tiny ledger), so the figures
in the notes come from the code users run."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.ledger_seed import version
from vault_actions.promotion.summary import MARGIN
from vault_actions.store.feed import month

ROOT = Path(__file__).resolve().parents[2]


def test_the_ledger_bench_runs_every_command_on_a_small_ledger() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ledger_bench.py"), "--sizes", "3"],
                          capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = dict(re.findall(r"^\| (.+?) \| (\d+) \| [\d.]+ s \|", done.stdout, re.MULTILINE))
    assert set(rows) >= {"status (default limit 20)", "deploy's ledger reads",
                         "the record job's summary (extends the newest)",
                         f"status --version {version(1)}"}, done.stdout
    # from the summary: the feed's month (and the one before in a month's first minutes),
    # the summary and the release recorded since
    margin = month(datetime.now(UTC) - MARGIN) != month(datetime.now(UTC))
    assert int(rows["status (default limit 20)"]) == 2 + margin + 8
    assert int(rows["deploy's ledger reads"]) == 8 + 1  # its events and one listing
    # the feed's month(s), the summary, the catalogue block and its 8 events
    assert int(rows[f"status --version {version(1)}"]) == 1 + margin + 1 + 1 + 8 + 8
    # the feed's month(s), the summary, the 8 events since; the 4 versions' folders (one
    # listing) and 32 events; one page of folders read again; the block they touch (read
    # and put), the new summary
    assert int(rows["the record job's summary (extends the newest)"]) == (
        1 + margin + 1 + 8 + 1 + 32 + 1 + 2 + 1)
