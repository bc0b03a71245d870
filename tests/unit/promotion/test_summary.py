"""The ledger summary: status and the graveyard from one object and the feed since, and
never a summary that its writer may not state, that was rewritten, or that is stale
(a local OIDC issuer, a moto server)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import make_vault_bucket
from tests.ledger_seed import Requests
from tests.oidc_issuer import RECORD, STAGE, HonestJobs, Issuer
from tests.unit.store.test_ledger import STORY, VAULT_YML, context
from vault_actions import config
from vault_actions.promotion import live, summary
from vault_actions.promotion.live import Reader, Shown
from vault_actions.store.attestation import OidcAttestor, Verifier
from vault_actions.store.ledger import Ledger


class Vault:
    """One vault bucket whose events are written by the jobs entitled to them, and whose
    summaries by whichever job a test names."""

    def __init__(self, s3: Any, issuer: Issuer, tmp_path: Path) -> None:
        self.s3, self.issuer = s3, issuer
        self.bucket = make_vault_bucket(s3, f"summary-{uuid.uuid4().hex[:12]}")
        raw = yaml.safe_load(VAULT_YML.format(bucket=self.bucket, dr_bucket=f"{self.bucket}-dr"))
        raw["ledger"] = {"repository": "acme/shop"}
        path = tmp_path / "vault.yml"
        path.write_text(yaml.safe_dump(raw))
        self.cfg = config.load(path)
        self.verifier = Verifier(issuer.url, "acme/shop")
        self.ledger = Ledger(s3, self.bucket, attestor=HonestJobs(issuer))

    def record(self, version: str, event: str, env: str | None, **details: Any) -> None:
        """As the job entitled to it (an approval: the gate workflow run by its approver)."""
        self.ledger.record(version, event, env, context(details.get("by", "octocat")),
                           details=details)

    def summarise(self, workflow: str = RECORD, **claims: Any) -> str:
        """A summary written by a job of ``workflow`` (the record job's, unless told)."""
        job = OidcAttestor(self.issuer.job(job_workflow_ref=workflow, **claims))
        writer = Ledger(self.s3, self.bucket, attestor=job)
        return Reader(self.cfg, writer, self.verifier, summary=True).summarise(context())

    def reader(self, *, summary: bool = True) -> Reader:
        return Reader(self.cfg, Ledger(self.s3, self.bucket), self.verifier, summary=summary)


@pytest.fixture
def vault(s3: Any, issuer: Issuer, tmp_path: Path) -> Vault:
    found = Vault(s3, issuer, tmp_path)
    for version, event, env, details in STORY:
        found.record(version, event, env, **details)
    return found


def seen(shown: Shown) -> dict[str, Any]:
    """What status shows: each journey's events, what is live, the numbers."""
    return {"journeys": {v: [e.id for e in j.events] for v, j in shown.overview.journeys.items()},
            "live": shown.overview.live, "attempts": shown.attempts, "total": shown.total}


def test_a_summary_gives_status_what_the_folders_give_from_two_requests(vault: Vault) -> None:
    """Finding (scale): status read every shown version's folder and each environment's
    pointers; from the record job's summary it reads the feed's month and the summary."""
    folders = seen(vault.reader(summary=False).recent(20))
    vault.summarise()
    reader = vault.reader()
    calls = Requests(reader.ledger.s3)

    assert seen(reader.recent(20)) == folders
    assert reader.state() is not None and not reader.state().doubts  # type: ignore[union-attr]
    assert len(calls.calls) == 2, calls.calls  # the feed's month, the summary


def test_what_was_written_since_the_summary_is_read_from_the_feed(vault: Vault) -> None:
    vault.summarise()
    vault.record("1.0.2", "smoke_failed", "uat", reason="500 on /price")
    vault.record("1.0.3", "built", None)
    vault.record("1.0.3", "deployed", "dev")

    shown = vault.reader().recent(20)
    assert seen(shown) == seen(vault.reader(summary=False).recent(20))
    journeys = shown.overview.journeys
    assert journeys["1.0.2"].death is not None and journeys["1.0.2"].death.environment == "uat"
    assert shown.overview.live["dev"] == "1.0.3" and shown.attempts["1.0.3"] == shown.total


def test_a_rollback_since_the_summary_asks_the_live_index(vault: Vault) -> None:
    vault.summarise()
    vault.record("1.0.2", "rolled_back", "uat")
    assert vault.reader().recent(20).overview.live == vault.reader(
        summary=False).recent(20).overview.live


def test_a_summary_written_by_a_stage_job_is_not_believed(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    """A dev job (which may write the feed) summarises the ledger without QA's kill of
    1.0.0, with its own valid token: it is not the record workflow, so it is walked past."""
    vault.summarise()
    forger = OidcAttestor(vault.issuer.job(job_workflow_ref=STAGE, environment="dev"))
    book = Ledger(vault.s3, vault.bucket, attestor=forger)
    reader = Reader(vault.cfg, book, vault.verifier, summary=True)
    reader.recent(20)
    hidden = reader.scan_of("1.0.0")
    hidden.events[:] = [e for e in hidden.events if e.event != "smoke_failed"]
    summary.write(book, context(), ["1.0.2", "1.0.1", "1.0.0"], {"1.0.0": hidden},
                  as_of=reader.state().as_of)  # type: ignore[union-attr]

    reader = vault.reader()
    assert reader.recent(20).overview.journeys["1.0.0"].death is not None
    assert reader.state() is not None and "not a trusted record workflow" in reader.state().doubts[0]  # type: ignore[union-attr]
    assert "is not believed" in caplog.text


def test_a_rewritten_summary_is_walked_past_to_the_one_before(vault: Vault) -> None:
    first = vault.summarise()
    vault.record("1.0.2", "smoke_failed", "uat")
    second = vault.summarise()
    body = json.loads(vault.s3.get_object(Bucket=vault.bucket, Key=second)["Body"].read())
    body["events"] = [e for e in body["events"] if e["event"] != "smoke_failed"]
    vault.s3.put_object(Bucket=vault.bucket, Key=second, Body=json.dumps(body).encode())

    reader = vault.reader()
    assert reader.recent(20).overview.journeys["1.0.2"].death is not None
    state = reader.state()
    assert state is not None and state.summary == first
    assert "does not hold the bytes whose SHA-256 its name holds" in state.doubts[0]


def test_a_feed_entry_that_names_no_event_is_a_doubt(vault: Vault) -> None:
    vault.summarise()
    # a plain put into this month's folder, as new as can be, naming an event never written
    name = vault.ledger.feed.event_key(datetime(2099, 1, 1, tzinfo=UTC), "1.0.2", "uat",
                                       "20990101T000000000000Z-" + "0" * 32, "a" * 64)
    vault.s3.put_object(Bucket=vault.bucket, Key=name.replace("/209901/", f"/{_month()}/"),
                        Body=b"")
    reader = vault.reader()
    assert seen(reader.recent(20)) == seen(vault.reader(summary=False).recent(20))
    assert reader.state() is not None and "holds nothing" in " ".join(reader.state().doubts)  # type: ignore[union-attr]


def _month() -> str:
    return f"{datetime.now(UTC):%Y%m}"


def test_without_a_summary_status_reads_the_folders(vault: Vault) -> None:
    reader = vault.reader()
    assert seen(reader.recent(20)) == seen(vault.reader(summary=False).recent(20))
    assert reader.state() is None


def test_ledger_check_finds_what_a_summary_leaves_out(vault: Vault) -> None:
    """The record job's summary is believed for what it holds; one that left an event
    out (a compromised record job) is what `vault ledger check` reports."""
    writer = Ledger(vault.s3, vault.bucket,
                    attestor=OidcAttestor(vault.issuer.job(job_workflow_ref=RECORD)))
    reader = Reader(vault.cfg, writer, vault.verifier)
    reader.recent(20)
    kept = reader.scan_of("1.0.1")
    left_out = next(e for e in kept.events if e.event == "rejected")
    kept.events.remove(left_out)
    # as of an hour from now: every event is older than its time less the clocks' margin
    summary.write(writer, context(), ["1.0.2", "1.0.1", "1.0.0"], {"1.0.1": kept},
                  as_of=datetime.now(UTC) + timedelta(hours=1))

    assessment = live.authority.read(vault.cfg, vault.ledger, verifier=vault.verifier)
    found = live.check_index(vault.cfg, vault.ledger, assessment, vault.verifier)
    assert found.summary is not None and found.summary.omitted == [
        vault.ledger.event_key(left_out)]
    assert not found.ok and "leaves out 1 event(s)" in found.describe()
