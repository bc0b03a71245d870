"""Evidence for auditors: changes that reached PROD, their approvals and authors, the stops."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_vault_bucket
from tests.unit.report import story
from vault_actions.cli.main import main
from vault_actions.errors import ConfigError
from vault_actions.promotion.journey import journeys
from vault_actions.report import evidence as ev
from vault_actions.report.period import Period
from vault_actions.store.ledger import Event

MARCH = Period.parse("2026-03-01", "2026-03-04")


def gather(
    tmp_path: Path, issuer: Any, events: list[Event] | None = None, *,
    commits: list[tuple[str, str, str, str, str]] = story.COMMITS, period: Period = MARCH,
) -> ev.Evidence:
    """The evidence of PROD, each event's proof checked by the real verifier."""
    repo = story.repo(tmp_path / "repo", commits)
    cfg = story.cfg(issuer)
    found = journeys(story.events(issuer) if events is None else events)
    return ev.gather(cfg, found, "prod", period, verify=ev.authority_verifier(cfg),
                     commits=ev.git_commits(repo))


def test_each_change_that_reached_prod_has_its_commits_approvals_and_stages(
    tmp_path: Path, issuer: Any,
) -> None:
    found = gather(tmp_path, issuer)

    assert [c.version for c in found.changes] == ["1.0.2", "1.0.3", "1.0.4"]
    first, canary, live = found.changes
    assert first.deployed.at == "2026-03-02T09:01:00.000000+00:00"
    assert first.previous is None and canary.previous == "1.0.2"
    assert live.previous == "1.0.2"  # v1.0.3 was rolled back: PROD still ran v1.0.2
    assert [(c.author, c.at) for c in first.commits.commits] == [  # type: ignore[union-attr]
        ("bob", "2026-03-02T08:00:00+00:00"), ("alice", "2026-03-01T15:00:00+00:00"),
        ("alice", "2026-03-01T09:00:00+00:00")]
    assert [c.author for c in canary.commits.commits] == ["carol"]  # type: ignore[union-attr]
    assert [c.author for c in live.commits.commits] == ["alice", "carol"]  # type: ignore[union-attr]
    assert {c.commits.source for c in found.changes} == {"git"}  # type: ignore[union-attr]

    assert [(a.identity, a.event.environment, a.counts) for a in first.approvals] == [
        ("qa-lead", "uat", True), ("manager", "prod", True)]
    assert first.approvals[1].to_json()["source"] == "github-environment"
    assert first.duties.verdict == "independent"
    assert "manager" in first.duties.detail

    stages = {s.environment: s for s in first.stages}
    assert list(stages) == ["dev", "qa", "uat", "prod", "dr"]
    assert stages["prod"].smoke_result == "passed"
    assert stages["prod"].smoke.at == "2026-03-02T09:02:00.000000+00:00"  # type: ignore[union-attr]
    assert stages["uat"].smoke_result == "none"
    assert stages["dr"].deployed.event == "dr_synced"  # type: ignore[union-attr]

    assert canary.outcome == "died in prod, rolled back"
    assert canary.deployed.event == "traffic_shifted"  # it reached PROD with 10% of traffic
    assert canary.rolled_back.at == "2026-03-03T11:06:30.000000+00:00"  # type: ignore[union-attr]
    prod = next(s for s in canary.stages if s.environment == "prod")
    assert prod.rollout == story.CANARY and prod.rollout_text == "canary 10%"
    assert prod.smoke_result == "failed"
    assert first.outcome == "replaced by v1.0.4" and live.outcome == "live"
    assert first.runs == [f"{story.RUN}3", f"{story.RUN}4"]
    assert found.compliant and not found.lacking


def test_the_stopped_versions_say_where_when_and_why(tmp_path: Path, issuer: Any) -> None:
    found = gather(tmp_path, issuer)

    stops = [(s.version, s.environment, s.kind, s.event.at[:16], s.event.who, s.why)
             for s in found.stops]
    assert stops == [
        ("1.0.0", "qa", "failed", "2026-03-01T09:31", "octocat",
         "health: expected status 200, got 500"),
        ("1.0.1", "uat", "rejected", "2026-03-01T16:00", "manager", "Biz Logic Error"),
        ("1.0.3", "prod", "failed", "2026-03-03T11:06", "octocat",
         "died in prod at 10%: alarm prod-5xx"),
    ]


def test_unproven_approvals_are_shown_as_such_and_fail_the_evidence(
    tmp_path: Path, issuer: Any
) -> None:
    found = gather(tmp_path, issuer, story.events())  # nothing carries a proof

    assert not found.compliant
    assert [c.version for c in found.lacking] == ["1.0.2", "1.0.3", "1.0.4"]
    problem = found.changes[0].problems[0]
    assert problem == ("the approval by manager is unverifiable "
                       "(it carries no proof of who wrote it)")
    approval = found.changes[0].to_json()["approvals"][1]
    assert approval["proof"] == {"verified": False, "label": "unverifiable", "identity": None,
                                 "note": "it carries no proof of who wrote it"}
    assert found.stops[0].proof.label == "unverifiable"


def test_a_forged_or_misplaced_approval_is_unverifiable(tmp_path: Path, issuer: Any) -> None:
    """Finding: a dev job's token cannot approve PROD, nor can an edited event keep its proof."""
    signed = story.events(issuer)
    prod = next(n for n, e in enumerate(signed) if (e.version, e.event, e.environment)
                == ("1.0.4", "approved", "prod"))
    dev_job = story.Jobs(issuer).prove({**signed[prod].to_json(), "environment": "dev"})
    edited = [*signed]
    edited[prod] = replace(signed[prod], proof=dev_job)
    found = gather(tmp_path, issuer, edited)
    assert [c.version for c in found.lacking] == ["1.0.4"]
    assert "unverifiable" in found.lacking[0].problems[0]

    renamed = [*signed]
    renamed[prod] = replace(signed[prod], details={**signed[prod].details, "by": "boss"})
    found = gather(tmp_path / "again", issuer, renamed)
    assert [c.version for c in found.lacking] == ["1.0.4"]
    assert "issued for audience" in found.lacking[0].approvals[-1].proof.note


def test_an_approver_who_authored_the_change_is_not_independent(
    tmp_path: Path, issuer: Any
) -> None:
    commits = [*story.COMMITS[:4], ("v1.0.4", "manager", "boss@example.com",
                                    "2026-03-04T09:00:00+00:00", "fix: my own fix")]
    found = gather(tmp_path, issuer, commits=commits)

    live = found.changes[-1]
    assert live.duties.verdict == "violated"
    assert live.problems == ("manager approved a change they authored",)
    assert [c.version for c in found.lacking] == ["1.0.4"]


def test_an_author_is_matched_by_the_local_part_of_their_email(
    tmp_path: Path, issuer: Any
) -> None:
    commits = [*story.COMMITS[:3], ("v1.0.3", "M. Anager", "manager@example.com",
                                    "2026-03-03T10:00:00+00:00", "feat: x"), story.COMMITS[4]]
    found = gather(tmp_path, issuer, commits=commits)
    assert [c.version for c in found.lacking] == ["1.0.3", "1.0.4"]  # v1.0.4 carries it too


def test_an_approval_by_someone_who_is_no_approver_does_not_count(
    tmp_path: Path, issuer: Any
) -> None:
    jobs = story.Jobs(issuer)
    named = [replace(e, details={**e.details, "by": "eve"})
             if (e.version, e.event, e.environment) == ("1.0.4", "approved", "prod") else e
             for e in story.events()]
    eve = [replace(e, proof=jobs.prove(e.to_json())) for e in named]
    found = gather(tmp_path, issuer, eve)

    live = found.changes[-1]
    assert live.problems == ("eve is not one of prod's approvers",)
    assert live.duties.verdict == "no approval"


def test_a_change_whose_authors_are_unknown_cannot_show_independence(issuer: Any) -> None:
    cfg = story.cfg(issuer)
    found = ev.gather(cfg, journeys(story.events(issuer)), "prod", MARCH,
                      verify=ev.authority_verifier(cfg))

    assert found.changes[0].duties.verdict == "unknown"
    assert found.changes[0].problems == (
        "the commit authors are not known, so independence cannot be shown",)


def test_who_made_a_change_comes_from_the_built_events_and_git_together(
    tmp_path: Path, issuer: Any
) -> None:
    """The built event names who made a release (logins and e-mails); git adds the commits
    and their times. An approver named by either is not independent."""
    events = [replace(e, details={"people": ["Manager", "dana@example.com"]})
              if (e.event, e.version) == ("built", "1.0.4") else
              replace(e, details={"people": ["dana@example.com"]}) if e.event == "built" else e
              for e in story.events(issuer)]
    cfg = story.cfg(issuer)
    found = journeys(events)
    repo = story.repo(tmp_path / "repo")
    ledger_only = ev.gather(cfg, found, "prod", MARCH, verify=ev.authority_verifier(cfg),
                            commits=ev.built_people(found))
    assert ledger_only.changes[0].commits == ev.Commits((), frozenset({"dana@example.com"}),
                                                        "ledger")
    assert ledger_only.changes[-1].duties.verdict == "violated"  # v1.0.4 was made by manager

    both = ev.gather(cfg, found, "prod", MARCH, verify=ev.authority_verifier(cfg),
                     commits=ev.every_known(ev.built_people(found), ev.git_commits(repo)))
    first = both.changes[0].commits
    assert first is not None and first.source == "ledger+git"
    assert [c.author for c in first.commits] == ["bob", "alice", "alice"]
    assert {"dana@example.com", "bob", "alice@example.com"} <= first.people
    assert [c.version for c in both.lacking] == ["1.0.4"]


def test_the_period_selects_changes_and_stops_by_their_time(tmp_path: Path, issuer: Any) -> None:
    found = gather(tmp_path, issuer, period=Period.parse("2026-03-03", "2026-03-03"))
    assert [c.version for c in found.changes] == ["1.0.3"]
    assert [s.version for s in found.stops] == ["1.0.3"]
    with pytest.raises(ConfigError, match="'yesterday' is not a date"):
        Period.parse("yesterday", None)
    with pytest.raises(ConfigError, match="is not after"):
        Period.parse("2026-03-04", "2026-03-01")


HOSTILE = '=HYPERLINK("http://evil")|<script>alert(1)</script>\n::stop'


def test_user_text_cannot_break_out_of_csv_markdown_or_html(tmp_path: Path, issuer: Any) -> None:
    from vault_actions.report import html

    events = [replace(e, details={**e.details, "by": HOSTILE, "reason": HOSTILE})
              if e.event == "rejected" else e for e in story.events(issuer)]
    found = gather(tmp_path, issuer, events)

    rows = list(csv.DictReader(io.StringIO(ev.to_csv(found))))
    stopped = next(r for r in rows if r["version"] == "1.0.1")
    assert stopped["problems_or_why"].startswith("'=HYPERLINK")
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())
    markdown = ev.to_markdown(found)
    assert "<script>" not in markdown and "\\|&lt;script&gt;" in markdown
    page = html.document("t", "s", [html.evidence_section(found)])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_csv_has_one_row_per_change_and_per_stop(tmp_path: Path, issuer: Any) -> None:
    rows = list(csv.DictReader(io.StringIO(ev.to_csv(gather(tmp_path, issuer)))))
    assert [(r["kind"], r["version"]) for r in rows] == [
        ("change", "1.0.2"), ("change", "1.0.3"), ("change", "1.0.4"),
        ("stopped", "1.0.0"), ("stopped", "1.0.1"), ("stopped", "1.0.3")]
    first = rows[0]
    assert first["compliant"] == "yes"
    assert "manager for prod via github-environment (verified)" in first["approvals"]
    assert "prod: deployed 2026-03-02T09:01:00.000000+00:00, smoke passed" in first["environments"]
    assert first["runs"] == f"{story.RUN}3 {story.RUN}4"


# --- the command, against a real ledger on moto ------------------------------------------


@pytest.fixture
def story_vault(s3: Any, tmp_path: Path, issuer: Any) -> Path:
    """The story in a real ledger on moto, every event proven by its job's OIDC token."""
    bucket = make_vault_bucket(s3, "evidence-story")
    story.record(s3, bucket, issuer)
    path = tmp_path / "vault.yml"
    path.write_text(story.vault_yml(issuer, bucket))
    story.repo(tmp_path / "repo")
    return path


def test_vault_evidence_exits_0_when_every_change_has_an_independent_proven_approval(
    story_vault: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "evidence.json"
    code = main(["evidence", "--config", str(story_vault), "--since", "2026-03-01",
                 "--until", "2026-03-04", "--format", "json", "--output", str(out),
                 "--repo", str(tmp_path / "repo")])

    assert code == 0, capsys.readouterr().err
    assert f"wrote the evidence (json) to {out}" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["compliant"] is True
    assert [c["version"] for c in data["changes"]] == ["1.0.2", "1.0.3", "1.0.4"]
    assert data["changes"][0]["commits"][0]["author"] == "bob"
    approval = data["changes"][0]["approvals"][1]
    assert approval["proof"]["verified"] is True and approval["identity"] == "manager"
    assert "acme/shop run 3 (prod, " in approval["proof"]["note"]
    assert [s["version"] for s in data["stopped"]] == ["1.0.0", "1.0.1", "1.0.3"]


def test_vault_evidence_exits_4_for_a_change_approved_outside_actions(
    story_vault: Path, tmp_path: Path, s3: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    """A local `vault approve` (an STS identity, a claim) is shown as local and fails."""
    from vault_actions import config
    from vault_actions.cli.commands import open_ledger
    from vault_actions.context import RunContext

    book = open_ledger(config.load(story_vault))
    ctx = RunContext("dev-dana", None, None, None, None, "https://github.com",
                     "https://api.github.com")
    book.record("1.0.5", "built", None, ctx)
    book.record("1.0.5", "approved", "prod", ctx, details={"by": "manager"})
    book.record("1.0.5", "deployed", "prod", ctx)
    code = main(["evidence", "--config", str(story_vault), "--since", "2026-03-01",
                 "--format", "csv", "--repo", str(tmp_path / "repo")])

    assert code == 4  # a check failed
    captured = capsys.readouterr()
    assert "v1.0.5 in prod lacks an independent, verified approval" in captured.err
    row = next(r for r in csv.DictReader(io.StringIO(captured.out)) if r["version"] == "1.0.5")
    # the identity is the caller's STS identity (moto's), not the --by name it claims
    assert "moto for prod via vault approve (local)" in row["approvals"]


def test_vault_evidence_markdown_on_stdout(
    story_vault: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["evidence", "--config", str(story_vault), "--since", "2026-03-01",
                 "--repo", str(tmp_path / "repo"), "--env", "qa"])
    printed = capsys.readouterr().out
    assert code == 4  # a check failed: qa has no gate, nothing approved its changes
    assert "## Evidence: changes to qa" in printed
    assert "qa has no gate: nothing approved this change" in printed


def test_a_change_deployed_during_a_freeze_is_flagged_as_an_emergency(
    tmp_path: Path, issuer: Any
) -> None:
    signed = story.events(issuer)
    deployed = next(e for e in signed if (e.version, e.event, e.environment)
                    == ("1.0.4", "deployed", "prod"))
    override = replace(deployed, id=deployed.id[:-1] + "f", event="freeze_overridden", details={
        "window": "year-end", "until": "2026-03-05T00:00:00+00:00", "reason": "fix the 5xx"})
    found = gather(tmp_path, issuer, [*signed, override])

    live = found.changes[-1]
    assert live.emergency == ["deployed during freeze window year-end by octocat: fix the 5xx"]
    rows = list(csv.DictReader(io.StringIO(ev.to_csv(found))))
    assert rows[2]["outcome"] == ("live; deployed during freeze window year-end by octocat: "
                                  "fix the 5xx")
