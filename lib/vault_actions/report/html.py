"""The self-contained HTML report: metrics, the graveyard, each journey and the evidence.

One file, no script, no external resource (styles inline, drawings inline SVG): it opens
from an artifact download or an e-mail attachment years later. Every user string goes
through :func:`vault_actions.text.html_text`; links only for http(s) URLs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from vault_actions.config import Config
from vault_actions.promotion.journey import Journey
from vault_actions.report import svg
from vault_actions.report.audit import Audit
from vault_actions.report.evidence import Approval, Change, Evidence, Proof, Stop
from vault_actions.report.metrics import Metrics, duration
from vault_actions.store.ledger import Event
from vault_actions.text import html_text, html_url

STYLE = """
:root { --ok:#15803d; --ok-bg:#dcfce7; --bad:#b91c1c; --bad-bg:#fee2e2; --live:#1d4ed8;
  --live-bg:#dbeafe; --ink:#111827; --muted:#4b5563; --line:#d1d5db; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
  margin: 0; background: #f9fafb; line-height: 1.4; }
header { background: #111827; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #d1d5db; }
main { padding: 8px 32px 32px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px; margin: 18px 0; }
h2 { margin: 0 0 12px; font-size: 19px; }
h3 { margin: 16px 0 6px; font-size: 16px; }
.cards { display: flex; gap: 14px; flex-wrap: wrap; }
.card { flex: 1 1 220px; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .value { font-size: 26px; font-weight: bold; }
.card .basis { color: var(--muted); font-size: 13px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 6px; font-weight: bold;
  border: 2px solid; }
.verdict.pass { color: var(--ok); background: var(--ok-bg); }
.verdict.fail { color: var(--bad); background: var(--bad-bg); border-style: dashed; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td ul { margin: 0; padding-left: 16px; }
.tag { font-weight: bold; }
table.evidence td:nth-child(1) { min-width: 90px; }
table.evidence td:nth-child(2) { min-width: 110px; }
table.evidence td:nth-child(3) { min-width: 150px; }
table.evidence td:nth-child(4) { min-width: 260px; }
table.evidence td:nth-child(6) { min-width: 300px; }
.tag.ok { color: var(--ok); } .tag.bad { color: var(--bad); } .tag.warn { color: #92400e; }
.muted { color: var(--muted); }
.scroll { overflow-x: auto; }
.legend { display: flex; gap: 18px; flex-wrap: wrap; font-size: 13px; margin-top: 8px; }
.legend svg { vertical-align: middle; }
code { font-size: 12px; }
svg .box { stroke-width: 2; }
svg .ok .box { stroke: var(--ok); } svg .bad .box { stroke: var(--bad); stroke-width: 3; }
svg .live .box { stroke: var(--live); stroke-width: 4; } svg .none .box { stroke: #9ca3af; }
svg .f-ok { fill: var(--ok-bg); } svg .f-bad { fill: var(--bad-bg); }
svg .f-live { fill: var(--live-bg); } svg .dot { fill: #93c5fd; }
svg .hatch { stroke: #fca5a5; stroke-width: 3; }
svg text { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; fill: var(--ink); }
svg .word { font-size: 13px; font-weight: bold; }
svg .ok .word { fill: #14532d; } svg .bad .word { fill: #7f1d1d; }
svg .live .word { fill: #1e3a8a; } svg .none .word { fill: #6b7280; font-weight: normal; }
svg .small { font-size: 11px; fill: var(--muted); }
svg .head { font-size: 12px; font-weight: bold; fill: var(--muted); letter-spacing: 1px; }
svg .version { font-size: 16px; font-weight: bold; }
svg .end { font-size: 14px; font-weight: bold; }
svg .stone { fill: #e5e7eb; stroke: #4b5563; stroke-width: 2; }
svg .rip { font-size: 8px; font-weight: bold; fill: #374151; }
svg .ground { stroke: #4b5563; stroke-width: 2; }
svg .edge { stroke: #6b7280; stroke-width: 2; } svg .arrowhead { fill: #6b7280; }
"""


def _link(url: str | None, text: str) -> str:
    href = html_url(url)
    return f'<a href="{href}">{html_text(text)}</a>' if href else html_text(url or "—")


def _tag(ok: bool, yes: str, no: str, *, warn: bool = False) -> str:
    if ok:
        return f'<span class="tag ok">✓ {html_text(yes)}</span>'
    return f'<span class="tag {"warn" if warn else "bad"}">✗ {html_text(no)}</span>'


def _proof(proof: Proof) -> str:
    if proof.verified:
        return _tag(True, f"verified: {proof.identity or ''}".rstrip(": "), "")
    if proof.local:
        return (f'<span class="tag warn">⚑ local</span> '
                f'<span class="muted">({html_text(proof.note)})</span>')
    return (f'<span class="tag warn">? unverifiable</span> '
            f'<span class="muted">({html_text(proof.note)})</span>')


def _when(event: Event | None) -> str:
    return html_text(event.when) if event else "—"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    """A table; cells are already HTML."""
    th = "".join(f'<th scope="col">{html_text(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    table = f'<table class="{css}"><thead>'
    table += f"<tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _approvals(approvals: Sequence[Approval]) -> str:
    if not approvals:
        return '<span class="tag bad">✗ none</span>'
    items = []
    for a in approvals:
        source = a.event.details.get("source") or "vault approve"
        rule = "" if a.counts else ' <span class="tag bad">✗ not an approver</span>'
        items.append(f"<li><b>{html_text(a.identity)}</b> for {html_text(a.event.environment)} "
                     f"at {_when(a.event)} via {html_text(source)}{rule}<br/>"
                     f"{_proof(a.proof)}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _commits(change: Change) -> str:
    if change.commits is None:
        return '<span class="tag warn">? not known</span>'
    items = [f"<li><code>{html_text(c.sha[:10])}</code> {html_text(c.author)}</li>"
             for c in change.commits.commits]
    if not items:
        items = [f"<li>{html_text(p)}</li>" for p in sorted(change.commits.people)]
    return (f'<span class="muted">{len(items)} from {html_text(change.commits.source)}</span>'
            f"<ul>{''.join(items)}</ul>")


def _stages(change: Change) -> str:
    items = []
    for s in change.stages:
        bits = [f"deployed {_when(s.deployed)}"] if s.deployed else []
        if s.smoke is not None:
            bits.append(_tag(s.smoke_result == "passed", f"smoke passed {s.smoke.when}",
                             f"smoke failed {s.smoke.when}"))
        if s.rollout:
            bits.append(f"rollout {html_text(s.rollout_text)}")
        if s.rolled_back is not None:
            bits.append(f'<span class="tag bad">↩ rolled back {_when(s.rolled_back)}</span>')
        unproven = [e for e in (s.deployed, s.smoke, s.rolled_back)
                    if e is not None and not s.proofs[e.id].verified]
        bits += [f"{html_text(e.event)} {_short_proof(s.proofs[e.id])}" for e in unproven]
        items.append(f"<li><b>{html_text(s.environment)}</b>: {'; '.join(bits) or '—'}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _change_row(change: Change) -> list[str]:
    runs = " ".join(_link(u, f"run {n}") for n, u in enumerate(change.runs, 1)) or "—"
    verdict = _tag(change.compliant, "independent verified approval", "; ".join(change.problems))
    duties = change.duties
    return [
        f"<b>v{html_text(change.version)}</b><br/>{html_text(change.outcome)}"
        + "".join(f'<br/><span class="tag warn">⚠ {html_text(e)}</span>'
                  for e in change.emergency),
        f"{_when(change.deployed)}<br/>"
        + (f"rolled back {_when(change.rolled_back)}" if change.rolled_back else ""),
        _commits(change),
        _approvals(change.approvals),
        f"{_tag(duties.verdict == 'independent', duties.verdict, duties.verdict)}<br/>"
        f'<span class="muted">{html_text(duties.detail)}</span>',
        _stages(change),
        runs,
        verdict,
    ]


def _stop_row(stop: Stop) -> list[str]:
    return [
        f"<b>v{html_text(stop.version)}</b>",
        html_text(stop.environment),
        f'<span class="tag bad">✗ {html_text(stop.kind)}</span>',
        _when(stop.event),
        html_text(stop.event.who),
        html_text(stop.why),
        _link(stop.event.run_url, "run"),
        _proof(stop.proof),
    ]


def evidence_section(evidence: Evidence) -> str:
    """The changes that reached the environment and the versions stopped, as tables."""
    head = ["Version", "Deployed", "Commits (author)", "Approvals (identity, source, proof)",
            "Separation of duties", "Environments (smoke, rollout, rollback)", "Runs", "Verdict"]
    lacking = len(evidence.lacking)
    verdict = (f'<p><span class="verdict pass">✓ every change ({len(evidence.changes)}) has an '
               "independent, verified approval</span></p>" if evidence.compliant else
               f'<p><span class="verdict fail">✗ {lacking} of {len(evidence.changes)} changes '
               "lack an independent, verified approval</span></p>")
    changes = _table(head, [_change_row(c) for c in evidence.changes], "evidence") \
        if evidence.changes \
        else '<p class="muted">No change reached this environment in the period.</p>'
    stop_head = ["Version", "Where", "What", "When", "By", "Why", "Run", "Proof"]
    stops = _table(stop_head, [_stop_row(s) for s in evidence.stops]) if evidence.stops \
        else '<p class="muted">No version was stopped in the period.</p>'
    return (f'<section id="evidence"><h2>Evidence: changes to '
            f"{html_text(evidence.environment.upper())}</h2>"
            f'<p class="muted">Period: {html_text(evidence.period.describe())}</p>{verdict}'
            f"{changes}<h3>Stopped versions (negative evidence)</h3>{stops}</section>")


def metrics_section(metrics: Metrics) -> str:
    """The four keys as cards."""
    cards = "".join(
        f'<div class="card"><div>{html_text(m)}</div><div class="value">{html_text(v)}</div>'
        f'<div class="basis">{html_text(b)}</div></div>'
        for m, v, b in metrics.rows()
    )
    restores = ", ".join(f"v{t.version}: {duration(t.seconds)} ({t.note})"
                         for t in metrics.restores)
    extra = f'<p class="muted">Restores: {html_text(restores)}</p>' if restores else ""
    return (f'<section id="metrics"><h2>Delivery metrics ({html_text(metrics.environment.upper())}'
            f", {metrics.since:%Y-%m-%d} – {metrics.until:%Y-%m-%d})</h2>"
            f'<div class="cards">{cards}</div>{extra}</section>')


def _legend() -> str:
    items = []
    for key in ("passed", "live", "failed", "rolled_back", "pending"):
        look = svg.LOOKS[key]
        dash = ' stroke-dasharray="4 3"' if look.css == "none" else ""
        items.append(
            f'<span><svg width="34" height="20" aria-hidden="true"><g class="{look.css}">'
            f'<rect x="1" y="1" width="32" height="18" rx="4" fill="{look.fill}" '
            f'class="box"{dash}/>'
            f"</g></svg> {look.icon} {html_text(look.word)}</span>"
        )
    items.append("<span>RIP headstone: the version is dead (never deploys again)</span>")
    return '<div class="legend">' + "".join(items) + "</div>"


def graveyard_section(cfg: Config, journeys: Mapping[str, Journey], live: Mapping[str, str]) -> str:
    """The graveyard drawing with its legend."""
    return (f'<section id="graveyard"><h2>Release graveyard</h2><div class="scroll">'
            f"{svg.graveyard(cfg, journeys, live)}</div>{_legend()}</section>")


def _short_proof(proof: Proof | None) -> str:
    if proof is None:
        return "—"
    icon = {"verified": "✓", "local": "⚑"}.get(proof.label, "?")
    css = "ok" if proof.verified else "warn"
    return (f'<span class="tag {css}" title="{html_text(proof.note)}">{icon} '
            f"{html_text(proof.label)}</span>")


def journeys_section(found: Audit) -> str:
    """Each release's journey drawing and its events, each with its proof."""
    cfg, live, proofs = found.cfg, found.seen.live, found.evidence.proofs
    parts = ['<section id="journeys"><h2>Release journeys</h2>']
    for one in reversed(list(found.seen.journeys.values())):
        rows = [[_when(e), html_text(e.environment or "—"), html_text(e.event),
                 html_text(e.who), html_text(e.reason or ""), _link(e.run_url, "run"),
                 _short_proof(proofs.get(e.id))]
                for e in one.events]
        unproven = sum(1 for e in one.events if e.id in proofs and not proofs[e.id].verified)
        note = f", {unproven} not verified" if unproven else ""
        head = ["When", "Where", "Event", "Who", "Reason", "Run", "Proof"]
        parts.append(f'<h3 id="v{html_text(one.version)}">v{html_text(one.version)}</h3>'
                     f'<div class="scroll">{svg.journey(cfg, one, live)}</div>'
                     f"<details><summary>{len(rows)} ledger events{note}</summary>"
                     f"{_table(head, rows)}</details>")
    parts.append("</section>")
    return "".join(parts)


def document(title: str, subtitle: str, sections: Sequence[str]) -> str:
    """A complete HTML document around already-rendered sections."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html_text(title)}</title><style>{STYLE}</style></head><body>"
            f"{svg.DEFS}<header><h1>{html_text(title)}</h1><p>{html_text(subtitle)}</p></header>"
            f"<main>{''.join(sections)}</main></body></html>\n")


def report(found: Audit, generated: datetime) -> str:
    """The whole report."""
    cfg, journeys, live = found.cfg, found.seen.journeys, found.seen.live
    where = ", ".join(f"{env.upper()} v{v}" for env, v in live.items()) or "nothing"
    dead = sum(1 for j in journeys.values() if not j.alive)
    subtitle = (f"vault {cfg.vault.bucket} · {len(journeys)} releases, {dead} dead · live: "
                f"{where} · generated {generated:%Y-%m-%d %H:%M} UTC")
    return document("Release report", subtitle, [
        metrics_section(found.metrics),
        graveyard_section(cfg, journeys, live),
        evidence_section(found.evidence),
        journeys_section(found),
    ])
