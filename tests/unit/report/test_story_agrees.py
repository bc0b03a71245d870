"""Done when: on the story's ledger (dies in QA, rejected at UAT, canary rolled back in PROD,
live), the evidence, the metrics and the report agree with each other and with `vault status`."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.unit.report import story
from tests.unit.report.test_evidence import story_vault  # noqa: F401
from vault_actions.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_evidence_metrics_report_and_status_tell_the_same_story(
    story_vault: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    common = ["--config", str(story_vault)]
    period = ["--since", "2026-03-01", "--until", "2026-03-04", "--repo", str(tmp_path / "repo")]
    _, out = run(capsys, "status", "--json", *common)
    status = {v["version"]: v for v in json.loads(out)["versions"]}
    live = json.loads(out)["live"]
    _, out = run(capsys, "evidence", "--format", "json", *common, *period)
    evidence = json.loads(out)
    _, out = run(capsys, "evidence", "--format", "csv", *common, *period)
    rows = list(csv.DictReader(io.StringIO(out)))
    _, out = run(capsys, "metrics", "--json", *common, *period)
    metrics = json.loads(out)
    page = tmp_path / "report.html"
    run(capsys, "report", "--html", str(page), *common, *period)
    html = page.read_text()

    # the story itself, as status tells it
    assert list(status) == story.VERSIONS
    assert [status[v]["outcome"] for v in story.VERSIONS] == [
        "Died in QA", "Died in UAT", "Success", "Died in PROD", "Success"]
    assert live["prod"] == "1.0.4"

    # changes to PROD: status's versions that reached prod, in the same order
    reached = [v for v, s in status.items()
               if any(e["environment"] == "prod" for e in s["environments"])]
    changes = [c["version"] for c in evidence["changes"]]
    assert changes == reached == metrics["deployment_frequency"]["versions"]
    assert [r["version"] for r in rows if r["kind"] == "change"] == changes
    # what is live in PROD now is the one change whose outcome is live
    assert [c["version"] for c in evidence["changes"] if c["outcome"] == "live"] == [live["prod"]]

    # the dead of status are the stopped versions of the evidence, where and when they died
    dead = {v: (s["died_in"], s["death"]["at"]) for v, s in status.items() if s["death"]}
    stopped = {s["version"]: (s["environment"], s["at"]) for s in evidence["stopped"]}
    assert dead == stopped
    assert {v: where for v, (where, _) in dead.items()} == {
        "1.0.0": "qa", "1.0.1": "uat", "1.0.3": "prod"}
    # the canary: dead in PROD for status, a failed change for the metrics, rolled back
    # (when every alias was restored) for the evidence and the restore time
    in_prod = [v for v, (where, _) in dead.items() if where == "prod"]
    assert in_prod == metrics["change_failure_rate"]["versions"] == ["1.0.3"]
    change = next(c for c in evidence["changes"] if c["version"] == "1.0.3")
    rollback = next(e for e in status["1.0.3"]["events"] if e["event"] == "rolled_back")
    assert change["rolled_back_at"] == rollback["at"]
    assert change["outcome"] == "died in prod, rolled back"
    shifted = next(e for e in status["1.0.3"]["events"] if e["event"] == "traffic_shifted")
    assert change["deployed_at"] == shifted["at"]
    restore = metrics["time_to_restore"]["failures"][0]["seconds"]
    assert restore == (story.moment(rollback["at"][:19]) - story.moment(shifted["at"][:19])
                       ).total_seconds() == 330

    # approvals: status's approvers per environment are the evidence's, by the same names
    for c in evidence["changes"]:
        approved = {(e["environment"], e["approved_by"])
                    for e in status[c["version"]]["environments"] if e["approved_by"]}
        assert approved == {(a["environment"], a["by"]) for a in c["approvals"]}

    # the report shows the same versions, deaths, approvers and figures
    text = re.sub(r"<[^>]+>", " ", html)
    for version in story.VERSIONS:
        assert f"v{version}" in text
    assert "died in QA" in text and "died in UAT" in text
    assert "died in PROD" in text and "died in prod at 10%: alarm prod-5xx" in text
    assert f"{len(changes)} in 4.0 days" in text
    assert "1 of 3 changes (v1.0.3)" in text
    for approver in story.APPROVERS:
        assert approver in text
    assert all(c["compliant"] for c in evidence["changes"])  # each proven by its prod job
    assert f"every change ({len(changes)}) has an independent, verified approval" in text
