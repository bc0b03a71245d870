"""`vault demo`: the Release Graveyard played end to end on its own embedded AWS."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from vault_actions import cli
from vault_actions.demo.story import Console, Decision
from vault_actions.errors import ConfigError


def children(pid: int) -> set[int]:
    """Live (non-zombie) child processes of ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def events_of(version: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["event"], e["environment"]) for e in version["events"]]


def test_demo_plays_the_graveyard_and_leaves_nothing_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # must not be used, nor kept
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    before = children(os.getpid())

    code = cli.main(["demo", "--yes", "--workdir", str(tmp_path / "demo"), "--json"])

    out, err = capsys.readouterr()
    assert code == 0, err
    # GITHUB_ACTIONS=true: the output sits in a ::stop-commands:: block (cli/gha.py)
    data = json.loads("\n".join(line for line in out.splitlines() if not line.startswith("::")))
    versions = {v["version"]: v for v in data["status"]["versions"]}
    assert list(versions) == ["1.0.0", "1.0.1", "1.0.2", "1.1.0"]

    dead_in_qa = versions["1.0.0"]
    assert dead_in_qa["death"]["event"] == "smoke_failed"
    assert dead_in_qa["death"]["environment"] == "qa"
    assert ("smoke_passed", "dev") in events_of(dead_in_qa)
    failed = dead_in_qa["death"]["details"]["results"]
    assert [r["name"] for r in failed if not r["ok"]] == ["quote ACME"]
    assert "expected json field price == 12.34, got '12.34'" in err

    rejected = versions["1.0.1"]
    assert rejected["death"]["event"] == "rejected"
    assert rejected["death"]["environment"] == "uat"
    assert rejected["death"]["details"]["by"] == "product-owner"
    assert "EUR" in rejected["death"]["details"]["reason"]
    assert {("smoke_passed", "qa"), ("approved", "uat"), ("smoke_passed", "uat")} \
        <= set(events_of(rejected))

    live = versions["1.0.2"]
    assert live["death"] is None
    assert {("approved", "uat"), ("approved", "prod"), ("deployed", "prod"),
            ("smoke_passed", "prod"), ("dr_synced", "dr")} <= set(events_of(live))
    # the canary of 1.1.0 trips PROD's alarm and rolls back by itself: 1.0.2 keeps serving
    canary = versions["1.1.0"]
    assert canary["death"]["event"] == "smoke_failed"
    assert canary["death"]["environment"] == "prod"
    assert {k: canary["death"]["details"][k] for k in ("alarm", "weight")} == {
        "alarm": "prod-5xx", "weight": 10}
    assert canary["death"]["details"]["reason"] == "died in prod at 10%: alarm prod-5xx"
    assert ("traffic_shifted", "prod") in events_of(canary)
    assert ("rolled_back", "prod") in events_of(canary)
    assert "PROD still serves v1.0.2" in err
    assert data["status"]["live"] == {"dev": "1.1.0", "qa": "1.1.0", "uat": "1.1.0",
                                      "prod": "1.0.2", "dr": "1.0.2"}
    assert data["status"]["dr_lag"] == []

    graveyard = Path(data["graveyard"]).read_text()
    for label in ("Attempt 1: v1.0.0 (Died in QA)", "Attempt 2: v1.0.1 (Died in UAT)",
                  "Attempt 3: v1.0.2 (Success)", "🚀 PROD: LIVE", "💾 DR: SYNCED",
                  "Attempt 4: v1.1.0 (Died in PROD)", "died in prod at 10%: alarm prod-5xx"):
        assert label in graveyard
    assert '"currency": "EUR"' in err  # the product owner saw v1.0.2's SAP quote
    drawing = Path(data["graveyard_text"]).read_text()
    assert "  Attempt 1 · v1.0.0 · Died in QA\n    Build → DEV ✅ → QA ❌ smoke failed → 🪦" in drawing
    assert "PROD 🚀 LIVE" in drawing and len(drawing.splitlines()) < 20
    # the vault the story says is "locked" passes vault doctor, before the first release
    assert "vault doctor: " in err and " checks pass (buckets, locks, functions)" in err
    assert "➖ 4 not checkable on the embedded AWS" in err
    assert err.index("vault doctor: ") < err.index("Attempt 1")

    assert data["aws"]["running"] is False
    assert children(os.getpid()) == before
    assert not Path(f"/proc/{data['aws']['pid']}").exists()
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert os.environ["GITHUB_ACTIONS"] == "true"


def test_demo_without_yes_needs_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    code = cli.main(["demo", "--workdir", str(tmp_path / "demo")])

    assert code == 2  # ConfigError
    err = capsys.readouterr().err
    assert "stdin is not a terminal" in err
    assert "pass --yes" in err
    assert not (tmp_path / "demo").exists()


def test_demo_refuses_a_workdir_with_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep-me.txt").write_text("mine")

    code = cli.main(["demo", "--yes", "--workdir", str(tmp_path)])

    assert code == 2  # ConfigError
    assert f"--workdir {tmp_path} is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep-me.txt"]


def console(answers: list[str], *, assume_yes: bool = False) -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    replies = iter(answers)

    def ask() -> str:
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    return Console(stream, assume_yes=assume_yes, ask=ask, animate=False), stream


def test_gate_question_defaults_to_the_story_and_takes_a_reason() -> None:
    asked, stream = console(["", "maybe", "r", "totals are wrong"])

    assert asked.decide("qa-lead", "deploy?", approve=True, reason="no") == Decision(True)
    assert asked.decide("po", "accept?", approve=True, reason="no") == \
        Decision(False, "totals are wrong")
    assert "answer a or r" in stream.getvalue()


def test_rejection_reason_defaults_to_the_story() -> None:
    asked, _ = console(["", ""])

    assert asked.decide("po", "accept?", approve=False, reason="EU listings in USD") == \
        Decision(False, "EU listings in USD")


def test_yes_answers_for_the_story_without_asking() -> None:
    asked, stream = console([], assume_yes=True)

    assert asked.decide("po", "accept?", approve=False, reason="wrong currency") == \
        Decision(False, "wrong currency")
    assert "🤖 po rejects: wrong currency (--yes)" in stream.getvalue()


def test_closed_stdin_during_a_question_says_what_to_do() -> None:
    asked, _ = console([])

    with pytest.raises(ConfigError, match="stdin closed") as caught:
        asked.decide("manager", "deploy?", approve=True, reason="no")
    assert caught.value.hint is not None and "--yes" in caught.value.hint
