"""Rendering journeys: status text, Markdown tables and the Mermaid release graveyard."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from tests.unit.store.test_ledger import parsed_config, story_events
from vault_actions.promotion.journey import dr_lags, journeys, live_versions
from vault_actions.report import graveyard, status
from vault_actions.store.ledger import Event

HOSTILE = '"]; click X href "javascript:alert(1)"\n| pipe ``` <img src=x> %% end'


def story(extra: list[Event] | None = None) -> tuple[Any, Any, Any]:
    events = story_events() + (extra or [])
    return parsed_config(), journeys(events), live_versions(events)


def hostile_rejection(version: str = "1.0.3") -> list[Event]:
    """v1.0.3 passes dev and is rejected in qa with a reason that tries to escape."""
    base = story_events()[-1]
    steps = [("deployed", "dev", {}), ("smoke_passed", "dev", {}),
             ("rejected", "qa", {"by": 'eve"|<x>\nnext', "reason": HOSTILE})]
    return [
        replace(base, id=f"{base.id[:-1]}{n}", version=version, event=event, environment=env,
                at=f"2026-03-02T10:0{n}:00.000000+00:00", details=details)
        for n, (event, env, details) in enumerate(steps)
    ]


def subgraph(mermaid: str, number: int) -> str:
    match = re.search(rf"    subgraph V{number} .*?\n    end\n", mermaid, re.DOTALL)
    assert match, mermaid
    return match.group(0)


def cells(row: str) -> list[str]:
    """Split a Markdown table row on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_graveyard_shows_the_three_attempts_like_the_manual() -> None:
    cfg, found, live = story()
    mermaid = graveyard.graveyard_mermaid(cfg, found, live)

    assert mermaid.startswith("flowchart TD\n")
    for name in ("success", "fail", "active", "dead"):
        assert f"    classDef {name} " in mermaid
    first, second, third = (subgraph(mermaid, n) for n in (1, 2, 3))
    assert 'subgraph V1 ["🗓️ Attempt 1: v1.0.0 (Died in QA)"]' in first
    assert 'V1_B["Build v1.0.0"]:::success' in first
    assert '["DEV: Pass"]:::success' in first
    assert '["QA: ❌ FAILED"]:::fail' in first
    assert 'V1_G("🪦 GRAVEYARD<br/>(Abandoned)"):::dead' in first
    assert re.search(r"V1_E\d -\.-> V1_G", first)

    assert 'subgraph V2 ["🗓️ Attempt 2: v1.0.1 (Died in UAT)"]' in second
    assert '["QA: Pass"]:::success' in second
    assert '["UAT: 🛑 REJECTED<br/>(Biz Logic Error)"]:::fail' in second
    assert ":::dead" in second

    assert 'subgraph V3 ["🗓️ Attempt 3: v1.0.2 (Success)"]' in third
    assert '["UAT: Approved<br/>by qa-lead"]:::success' in third
    assert '["🚀 PROD: LIVE"]:::active' in third
    assert '["💾 DR: SYNCED"]:::success' in third
    assert "GRAVEYARD" not in third and ":::fail" not in third
    assert "    V1 --> V2 --> V3\n" in mermaid


def test_graveyard_chain_follows_the_environments_in_order() -> None:
    cfg, found, live = story()
    third = subgraph(graveyard.graveyard_mermaid(cfg, found, live), 3)
    labels = dict(re.findall(r'(V3_\w+)\["([^"]+)"\]', third))
    edges = re.findall(r"(V3_\w+) (-->|-\.->) (V3_\w+)", third)
    chain = [labels[a] for a, arrow, _ in edges if arrow == "-->"] + [labels[edges[-2][2]]]
    assert chain == ["Build v1.0.2", "DEV: Pass", "QA: Pass", "UAT: Approved<br/>by qa-lead",
                     "🚀 PROD: LIVE"]
    assert (labels[edges[-1][0]], edges[-1][1], labels[edges[-1][2]]) == (
        "🚀 PROD: LIVE", "-.->", "💾 DR: SYNCED"
    )


def test_a_shipped_version_that_is_no_longer_live_is_not_shown_live() -> None:
    later = [replace(e, id=e.id + "x", version="1.0.3", at=e.at.replace("03-01", "03-02"))
             for e in story_events() if e.version == "1.0.2"]
    cfg, found, live = story(later)
    mermaid = graveyard.graveyard_mermaid(cfg, found, live)
    assert '["PROD: Approved<br/>by manager"]:::success' in subgraph(mermaid, 3)
    assert '["🚀 PROD: LIVE"]:::active' in subgraph(mermaid, 4)


def test_hostile_reasons_stay_inside_their_mermaid_label() -> None:
    cfg, found, live = story(hostile_rejection())
    mermaid = graveyard.graveyard_mermaid(cfg, found, live)
    fourth = subgraph(mermaid, 4)

    rejected = next(line for line in fourth.splitlines() if "REJECTED" in line)
    assert rejected.startswith('        V4_E1["QA: 🛑 REJECTED<br/>(')
    assert rejected.endswith(')"]:::fail')
    label = rejected[len('        V4_E1["'):-len('"]:::fail')]
    assert '"' not in label and "|" not in label and "`" not in label and "%" not in label
    assert "<img" not in label and "]" not in label.replace("<br/>", "")
    assert "#34;#93;#59; click X href #34;javascript:alert#40;1#41;#34; #124; pipe" in label
    assert not any(line.lstrip().startswith("click") for line in mermaid.splitlines())
    # every line is still a node, an edge, a class definition or structure
    for line in mermaid.splitlines():
        assert re.fullmatch(
            r"flowchart TD|    classDef .*;|    subgraph V\d+ \[\"[^\"]*\"\]|        direction TB"
            r'|        V\d+_\w+(\["[^"]*"\]|\("[^"]*"\)):::\w+'
            r"|        V\d+_\w+ (-->|-\.->) V\d+_\w+|    end|    V\d+( --> V\d+)+",
            line,
        ), line


def test_hostile_text_cannot_break_the_markdown_table_or_fence() -> None:
    cfg, found, live = story(hostile_rejection())
    markdown = graveyard.graveyard_markdown(cfg, found, live)

    assert markdown.count("```") == 2
    assert markdown.index("```mermaid\nflowchart TD\n") < markdown.index("\n```\n")
    rows = [line for line in markdown.splitlines() if line.startswith("| v1.0.3 | qa | rejected")]
    assert len(rows) == 1
    row = cells(rows[0])
    assert len(row) == 7
    assert row[4] == "eve\"\\|&lt;x&gt; next (recorded by octocat)"
    assert row[5].startswith('"\\]; click X href "javascript:alert(1)" \\| pipe \\`\\`\\` &lt;img')
    assert "<img" not in markdown


def test_audit_table_lists_every_event_with_its_run() -> None:
    events = story_events()
    table = graveyard.audit_table(events)
    lines = table.splitlines()
    assert cells(lines[0]) == ["Version", "Environment", "Event", "When", "Who", "Details", "Run"]
    assert len(lines) == 2 + len(events)
    assert cells(lines[2]) == [
        "v1.0.0", "—", "built", "2026-03-01 10:00:00 UTC", "octocat", "",
        "[run](https://github.com/acme/shop/actions/runs/4242)",
    ]
    rejected = next(cells(line) for line in lines if "| rejected |" in line)
    assert rejected[4:6] == ["manager (recorded by octocat)", "Biz Logic Error"]


def test_a_run_url_that_is_not_http_is_not_a_link() -> None:
    event = replace(story_events()[0], run_url="javascript:alert(1)")
    (row,) = graveyard.audit_table([event]).splitlines()[2:]
    assert cells(row)[6] == "javascript:alert(1)"


def test_markdown_embeds_the_mermaid_chart_and_the_table() -> None:
    cfg, found, live = story()
    markdown = graveyard.graveyard_markdown(cfg, found, live)
    mermaid = graveyard.graveyard_mermaid(cfg, found, live)
    assert f"```mermaid\n{mermaid}```\n" in markdown
    assert "| v1.0.1 | uat | rejected |" in markdown


def test_last_keeps_the_attempt_numbers() -> None:
    cfg, found, live = story(hostile_rejection())
    mermaid = graveyard.graveyard_mermaid(cfg, found, live, last=2)
    assert "subgraph V1 " not in mermaid and "subgraph V2 " not in mermaid
    assert 'subgraph V3 ["🗓️ Attempt 3: v1.0.2 (Success)"]' in mermaid
    assert 'subgraph V4 ["🗓️ Attempt 4: v1.0.3 (Died in QA)"]' in mermaid
    assert "    V3 --> V4\n" in mermaid
    data = graveyard.graveyard_data(cfg, found, live, [], last=2)
    assert [(v["version"], v["attempt"]) for v in data["versions"]] == [("1.0.2", 3), ("1.0.3", 4)]
    assert "| v1.0.0 |" not in graveyard.graveyard_markdown(cfg, found, live, last=2)


def test_an_empty_ledger_still_renders() -> None:
    cfg = parsed_config()
    assert 'EMPTY["No release recorded in the ledger yet"]' in graveyard.graveyard_mermaid(cfg, {}, {})


def test_cancelled_without_environment_goes_to_the_graveyard() -> None:
    base = story_events()[0]
    cancelled = replace(base, id=base.id + "c", version="2.0.0", event="cancelled",
                        environment=None, details={"reason": "superseded"})
    cfg, found, live = story([replace(base, version="2.0.0"), cancelled])
    fifth = subgraph(graveyard.graveyard_mermaid(cfg, found, live), 4)
    assert '(Cancelled)"]' in fifth
    assert 'V4_X["⛔ CANCELLED<br/>(superseded)"]:::fail' in fifth
    assert "V4_X -.-> V4_G" in fifth


def test_status_text_tells_each_story() -> None:
    cfg, found, live = story()
    text = status.status_text(cfg, found, live, [])
    blocks = text.split("\n\n")
    assert blocks[0].splitlines() == [
        "v1.0.0  🪦 dead: smoke_failed in qa at 2026-03-01 10:04:00 UTC by octocat",
        "  dev   passed         2026-03-01 10:02:00 UTC  octocat",
        "  qa    failed         2026-03-01 10:04:00 UTC  octocat",
    ]
    assert blocks[1].startswith(
        "v1.0.1  🪦 dead: rejected in uat at 2026-03-01 10:12:00 UTC by manager (Biz Logic Error)"
    )
    assert blocks[2].splitlines()[0] == "v1.0.2  ✅ alive, live in dev, qa, uat, prod, dr"
    assert "  prod  passed         2026-03-01 10:22:00 UTC  octocat  · approved by manager" in (
        blocks[2]
    )
    assert blocks[3] == "live: dev v1.0.2, qa v1.0.2, uat v1.0.2, prod v1.0.2, dr v1.0.2"


def test_status_text_flags_dr_lag_and_strips_control_characters() -> None:
    prod = replace(story_events()[-3], id="z", version="1.0.4", at="2026-03-03T00:00:00+00:00",
                   actor="bad\x1b[31mactor")
    cfg, found, live = story([*hostile_rejection(), prod])
    text = status.status_text(cfg, found, live, dr_lags(cfg, found, live))
    assert text.endswith("⚠️  dr lags prod: prod runs v1.0.4, dr runs v1.0.2")
    assert "\x1b" not in text and "badactor" in text.replace("[31m", "")
    assert "eve\"|<x> next" in text


def test_status_data_is_the_structured_form() -> None:
    cfg, found, live = story()
    data = status.status_data(cfg, found, live, [])
    first, second, third = data["versions"]
    assert (first["state"], first["died_in"], first["outcome"]) == ("dead", "qa", "Died in QA")
    assert first["death"]["event"] == "smoke_failed"
    assert second["death"]["details"] == {"by": "manager", "reason": "Biz Logic Error"}
    assert [s["state"] for s in second["environments"]] == ["passed", "passed", "rejected"]
    assert (third["state"], third["live_in"]) == ("live", ["dev", "qa", "uat", "prod", "dr"])
    uat = next(s for s in third["environments"] if s["environment"] == "uat")
    assert (uat["state"], uat["approved_by"]) == ("deployed", "qa-lead")
    assert data["live"]["prod"] == "1.0.2" and data["dr_lag"] == []


def test_journey_table_for_a_step_summary() -> None:
    cfg, found, live = story()
    table = status.journey_table(cfg, found["1.0.1"], live)
    assert table.startswith("### v1.0.1: 🪦 dead: rejected in uat at 2026-03-01 10:12:00 UTC")
    rows = [cells(line) for line in table.splitlines() if line.startswith("| ")][2:]
    assert rows[-1] == ["uat", "rejected", "2026-03-01 10:12:00 UTC", "manager",
                        "reason: Biz Logic Error; approved by qa-lead at 2026-03-01 10:10:00 UTC"]


def test_a_version_rolled_back_from_prod_is_shown_rolled_back() -> None:
    last = story_events()[-1]
    rollback = replace(last, id=last.id + "r", event="rolled_back", environment="prod",
                       at="2026-03-01T11:00:00.000000+00:00")
    cfg, found, live = story([rollback])
    third = subgraph(graveyard.graveyard_mermaid(cfg, found, live), 3)
    assert 'subgraph V3 ["🗓️ Attempt 3: v1.0.2 (Rolled back in PROD)"]' in third
    assert '["PROD: ↩️ ROLLED BACK"]:::fail' in third
    assert "prod" not in live and "LIVE" not in third


def test_graveyard_for_a_terminal_is_compact_text() -> None:
    """Issue 14, finding 6: the demo printed the 78-line Markdown graveyard on a terminal."""
    cfg, found, live = story()
    text = graveyard.graveyard_text(cfg, found, live)
    assert text.splitlines() == [
        "🪦 Release graveyard",
        "",
        "  Attempt 1 · v1.0.0 · Died in QA",
        "    Build → DEV ✅ → QA ❌ smoke failed → 🪦",
        "",
        "  Attempt 2 · v1.0.1 · Died in UAT",
        "    Build → DEV ✅ → QA ✅ → UAT 🛑 rejected (✋ qa-lead) → 🪦",
        "    rejected by manager: Biz Logic Error",
        "",
        "  Attempt 3 · v1.0.2 · Success",
        "    Build → DEV ✅ → QA ✅ → UAT 📦 deployed (✋ qa-lead) → PROD 🚀 LIVE (✋ manager) ⇢ DR 💾 synced",
        "",
        "  live: dev v1.0.2, qa v1.0.2, uat v1.0.2, prod v1.0.2, dr v1.0.2",
    ]
    assert not any(mark in text for mark in ("```", "|", "<br", "flowchart"))


def test_terminal_graveyard_strips_hostile_text_to_one_short_line() -> None:
    cfg, found, live = story(hostile_rejection())
    text = graveyard.graveyard_text(cfg, found, live, last=1)
    [why] = [line for line in text.splitlines() if "rejected by" in line]
    assert len(why) <= 4 + graveyard.TEXT_REASON_CHARS and why.endswith("…")
    assert "\n" not in why and "\x1b" not in text
    assert "Attempt 4 · v1.0.3" in text  # --last keeps the attempt numbers


def test_terminal_graveyard_names_the_failed_smoke_checks_and_an_empty_ledger() -> None:
    cfg, found, live = story()
    death = found["1.0.0"].death
    assert death is not None
    failing = replace(death, details={"results": [{"name": "health", "ok": True},
                                                  {"name": "quote ACME", "ok": False}]})
    found["1.0.0"] = replace(found["1.0.0"], events=tuple(
        failing if e is death else e for e in found["1.0.0"].events))
    assert "    smoke failed: quote ACME" in graveyard.graveyard_text(cfg, found, live).splitlines()
    assert graveyard.graveyard_text(cfg, {}, {}) == "🪦 Release graveyard: no release recorded in the ledger yet"
