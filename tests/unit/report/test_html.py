"""The HTML report, rendered by a real headless Chromium (Debian's package)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.unit.report import story
from tests.unit.report.test_evidence import MARCH, story_vault  # noqa: F401
from vault_actions.cli.main import main
from vault_actions.report import html
from vault_actions.report.audit import audit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOW = datetime(2026, 3, 10, tzinfo=UTC)


def chromium(page: Path, tmp_path: Path, *extra: str) -> str:
    """Run headless Chromium on ``page``; its stdout (the DOM for --dump-dom)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
            *extra, page.resolve().as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def visible_text(dom: str) -> str:
    """The rendered DOM's text: tags dropped, entities of the escaped text kept readable."""
    import html as std

    return std.unescape(re.sub(r"<[^>]+>", " ", dom))


def test_the_report_in_a_browser_shows_every_version_death_and_approver(
    story_vault: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    page = tmp_path / "report.html"
    code = main(["report", "--html", str(page), "--config", str(story_vault),
                 "--since", "2026-03-01", "--repo", str(tmp_path / "repo")])
    assert code == 0, capsys.readouterr().err
    source = page.read_text()
    assert "<script" not in source and "http-equiv" not in source
    assert not re.search(r"""(src|href)=["'](?!https?://github\.com/acme/shop/|#)""", source)

    dom = chromium(page, tmp_path, "--dump-dom")
    text = " ".join(visible_text(dom).split())
    for version in story.VERSIONS:
        assert f"v{version}" in text
    for death in ("died in QA", "died in UAT", "died in PROD", "Biz Logic Error",
                  "health: expected status 200, got 500", "died in prod at 10%: alarm prod-5xx",
                  "rolled back 2026-03-03 11:06:30 UTC", "canary 10%"):
        assert death in text, death
    for approver in story.APPROVERS:
        assert approver in text
    assert "Deployment frequency" in text and "5 min 30 s" in text
    assert text.count("RIP") >= 3  # a headstone for each dead version in the graveyard
    assert "verified: manager" in text and "verified: qa-lead" in text
    assert "every change (3) has an independent, verified approval" in text

    shot = tmp_path / "report.png"
    chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000",
             "--hide-scrollbars")
    assert shot.stat().st_size > 20_000
    print(f"\nreport screenshot: {shot}")


def test_the_report_escapes_every_user_string(tmp_path: Path, issuer: Any) -> None:
    hostile = '"><svg onload=alert(1)><script>alert(2)</script>'
    events = [replace(e, details={**e.details, "by": hostile, "reason": hostile})
              if e.event == "rejected" else replace(e, run_url='javascript:alert(3)')
              if e.event == "built" else e for e in story.events(issuer)]
    found = audit(story.cfg(issuer), events, environment="prod", period=MARCH, now=NOW)
    page = html.report(found, NOW)

    assert "<script>" not in page and "<svg onload" not in page
    assert 'href="javascript:' not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    path = tmp_path / "hostile.html"
    path.write_text(page)
    dom = chromium(path, tmp_path, "--dump-dom")
    assert "<script>alert(2)</script>" not in dom
    assert not re.search(r"<[^>]*\sonload=", dom)
    assert "<svg onload=alert(1)>" in visible_text(dom)  # shown as text, harmlessly


def test_an_unproven_event_is_shown_as_such_in_the_report(issuer: Any) -> None:
    events = [replace(e, proof=None) if (e.version, e.event, e.environment)
              == ("1.0.4", "deployed", "prod") else e for e in story.events(issuer)]
    found = audit(story.cfg(issuer), events, environment="prod", period=MARCH, now=NOW)
    page = html.report(found, NOW)

    assert "11 ledger events, 1 not verified" in page
    assert 'title="it carries no proof of who wrote it">? unverifiable</span>' in page
    assert page.count("? unverifiable") == 2  # its journey's table and the evidence row
