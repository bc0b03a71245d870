"""Delivery metrics on the fixture ledger, each figure worked out by hand from story.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.report import story
from tests.unit.report.test_evidence import MARCH, story_vault  # noqa: F401
from vault_actions.cli.main import main
from vault_actions.report import metrics as m
from vault_actions.report.audit import audit
from vault_actions.report.period import Period

NOW = datetime(2026, 3, 10, tzinfo=UTC)
HOUR, MINUTE = 3600.0, 60.0


def compute(tmp_path: Path, issuer: Any, period: Period = MARCH) -> m.Metrics:
    repo = story.repo(tmp_path / "repo")
    return audit(story.cfg(issuer), story.events(issuer), environment="prod", period=period,
                 now=NOW, repo=repo).metrics


def test_the_four_keys_on_the_story(tmp_path: Path, issuer: Any) -> None:
    found = compute(tmp_path, issuer)

    # 2026-03-01 00:00 to 2026-03-05 00:00 (--until a date includes that day): 4 days
    assert found.days == 4
    # v1.0.2, v1.0.3 and v1.0.4 reached PROD
    assert found.deployments == ("1.0.2", "1.0.3", "1.0.4")
    assert found.per_day == 3 / 4
    # v1.0.2: first commit of v1.0.0..v1.0.2 at 03-01 09:00, PROD 03-02 09:01 -> 24 h 1 min
    # v1.0.3: its one commit 03-03 10:00, PROD 11:01 -> 1 h 1 min
    # v1.0.4: since v1.0.2 (v1.0.3 never stuck), first commit 03-03 10:00, PROD 03-04
    #         10:01 -> 24 h 1 min
    assert [t.seconds for t in found.lead_times] == [
        24 * HOUR + MINUTE, HOUR + MINUTE, 24 * HOUR + MINUTE]
    assert found.lead_time == 24 * HOUR + MINUTE
    # v1.0.3's canary died in PROD and was rolled back: 1 of 3
    assert found.failures == ("1.0.3",)
    assert found.failure_rate == 1 / 3
    # first shift to 10% at 11:01, every alias restored at 11:06:30
    assert [(t.version, t.seconds, t.note) for t in found.restores] == [
        ("1.0.3", 5.5 * MINUTE, "rolled back")]
    assert found.time_to_restore == 5.5 * MINUTE


def test_a_failed_smoke_test_in_prod_is_restored_by_the_next_deploy(
    tmp_path: Path, issuer: Any
) -> None:
    from dataclasses import replace

    # v1.0.2's PROD smoke test fails (it dies there, still serving) until v1.0.4 arrives
    events = [replace(e, event="smoke_failed") if (e.version, e.event, e.environment)
              == ("1.0.2", "smoke_passed", "prod") else e for e in story.events()]
    events = [e for e in events if not (e.version == "1.0.2" and e.event == "dr_synced")]
    found = audit(story.cfg(issuer), events, environment="prod", period=MARCH, now=NOW,
                  repo=story.repo(tmp_path / "repo")).metrics

    assert found.failures == ("1.0.2", "1.0.3")
    # v1.0.2 deployed 03-02 09:01; v1.0.3's canary failed too, so PROD was restored only
    # when v1.0.4 arrived, 03-04 10:01
    assert found.restores[0].seconds == 49 * HOUR
    assert found.restores[0].note == "v1.0.4 deployed"
    assert found.time_to_restore == (49 * HOUR + 5.5 * MINUTE) / 2


def test_an_open_period_runs_from_the_first_event_to_now(tmp_path: Path, issuer: Any) -> None:
    found = compute(tmp_path, issuer, Period())
    assert found.since == story.moment("2026-03-01T09:10")
    assert found.until == NOW
    assert found.deployments == ("1.0.2", "1.0.3", "1.0.4")


def test_no_changes_means_no_rates(tmp_path: Path, issuer: Any) -> None:
    found = compute(tmp_path, issuer, Period.parse("2026-02-01", "2026-02-07"))
    assert found.deployments == () and found.failure_rate is None
    assert found.lead_time is None and found.time_to_restore is None
    assert "—" in found.markdown()


def test_durations_read_like_people_write_them() -> None:
    assert m.duration(None) == "—"
    assert m.duration(42) == "42 s"
    assert m.duration(5 * MINUTE + 3) == "5 min 3 s"
    assert m.duration(24 * HOUR + MINUTE) == "1 d 0 h"
    assert m.duration(HOUR + 12 * MINUTE) == "1 h 12 min"


def test_vault_metrics_json(story_vault: Path, tmp_path: Path,  # noqa: F811
                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["metrics", "--json", "--config", str(story_vault), "--since", "2026-03-01",
                 "--until", "2026-03-04", "--repo", str(tmp_path / "repo")])

    assert code == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["deployment_frequency"]["deployments"] == 3
    assert data["deployment_frequency"]["per_week"] == 5.25
    assert data["lead_time"]["median_seconds"] == 24 * HOUR + MINUTE
    assert data["change_failure_rate"] == {"rate": 1 / 3, "failed": 1, "versions": ["1.0.3"]}
    assert data["time_to_restore"]["median_seconds"] == 5.5 * MINUTE


def test_metrics_rows_for_people(tmp_path: Path, issuer: Any) -> None:
    rows = compute(tmp_path, issuer).rows()
    assert rows[0] == ("Deployment frequency", "5.25 per week", "3 in 4.0 days")
    assert rows[2] == ("Change failure rate", "33%", "1 of 3 changes (v1.0.3)")
    assert rows[3][1] == "5 min 30 s"

