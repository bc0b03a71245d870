"""The release graveyard: every attempt as a Mermaid flowchart, and the audit table.

Pure functions over ledger data, no I/O. Every user-supplied string is escaped for where
it lands: a Mermaid label, a Markdown table cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vault_actions.config import Config
from vault_actions.promotion.authority import Assessment
from vault_actions.promotion.journey import Journey, Lag
from vault_actions.report.status import Stage, link, outcome, stage, status_data, track
from vault_actions.store.ledger import Event
from vault_actions.text import markdown_cell, mermaid_text, plain, shorten

DETAIL_CHARS = 120

CLASS_DEFS = (
    "classDef success fill:#dcfce7,stroke:#16a34a,stroke-width:2px,color:#064e3b,rx:5,ry:5;",
    "classDef fail fill:#fee2e2,stroke:#dc2626,stroke-width:2px,color:#7f1d1d,rx:5,ry:5;",
    "classDef active fill:#e0f2fe,stroke:#0284c7,stroke-width:3px,color:#075985,rx:5,ry:5;",
    "classDef dead opacity:0.6,fill:#f3f4f6,stroke:#9ca3af,stroke-width:2px,"
    "stroke-dasharray: 5 5;",
)


@dataclass(frozen=True)
class _Node:
    key: str
    label: str  # already safe for a quoted Mermaid label
    css: str
    environment: str | None = None


def _approved_by(st: Stage) -> str:
    return f"by {mermaid_text(st.approval.shown_who)}" if st.approval else ""


def _label(st: Stage, title: str, live_final: bool, has_smoke: bool) -> tuple[list[str], str]:
    why = f"({mermaid_text(st.event.reason)})" if st.event and st.event.reason else ""
    fixed: dict[str, tuple[list[str], str]] = {
        "failed": ([f"{title}: ❌ FAILED", why if st.event and "trip" in st.event.details
                    else ""], "fail"),
        "withdrawn": ([f"{title}: 🚨 WITHDRAWN", why], "fail"),
        "shifting": ([f"{title}: ⏳ Rollout"], "active"),
        "rejected": ([f"{title}: 🛑 REJECTED", why], "fail"),
        "cancelled": ([f"{title}: ⛔ CANCELLED", why], "fail"),
        "deploy_failed": ([f"{title}: ⚠️ DEPLOY FAILED"], "fail"),
        "rolled_back": ([f"{title}: ↩️ ROLLED BACK"], "fail"),
        "synced": ([f"💾 {title}: SYNCED"], "success"),
        "approved": ([f"{title}: Approved", _approved_by(st), "(awaiting deploy)"], "active"),
    }
    if st.state in fixed:
        return fixed[st.state]
    if live_final:
        return [f"🚀 {title}: LIVE"], "active"
    if st.state == "deployed" and has_smoke:
        return [f"{title}: ⏳ Smoke test pending"], "active"
    if st.approval is not None:
        return [f"{title}: Approved", _approved_by(st)], "success"
    return [f"{title}: {'Pass' if st.state == 'passed' else 'Deployed'}"], "success"


def _nodes(cfg: Config, journey: Journey, live: Mapping[str, str]) -> list[_Node]:
    final = cfg.promotion_order[-1].name if cfg.promotion_order else None
    smoke = {e.name: e.smoke is not None for e in cfg.environments}
    nodes = [_Node("B", f"Build v{journey.version}", "success")]
    for index, env in enumerate(track(cfg, [journey])):
        st = stage(journey, env)
        if not st.reached:
            continue
        live_final = env == final and live.get(env) == journey.version
        parts, css = _label(st, env.upper(), live_final, smoke.get(env, False))
        parts = [*parts, *(mermaid_text(flag) for flag in st.flags)]
        nodes.append(_Node(f"E{index}", "<br/>".join(p for p in parts if p), css, env))
    death = journey.death
    if death is not None and death.environment is None:
        reason = f"<br/>({mermaid_text(death.reason)})" if death.reason else ""
        nodes.append(_Node("X", f"⛔ CANCELLED{reason}", "fail"))
    return nodes


def _edges(cfg: Config, prefix: str, nodes: Sequence[_Node], death: Event | None) -> list[str]:
    by_env = {n.environment: n for n in nodes if n.environment}
    mirrors = {m.name: by_env.get(str(m.mirror_of)) for m in cfg.mirrors}
    edges: list[str] = []
    previous = nodes[0]
    for node in nodes[1:]:
        source = mirrors.get(node.environment or "")
        if source is not None:
            edges.append(f"{prefix}{source.key} -.-> {prefix}{node.key}")
            continue
        edges.append(f"{prefix}{previous.key} --> {prefix}{node.key}")
        previous = node
    if death is not None:
        key = by_env[death.environment].key if death.environment else "X"
        edges.append(f"{prefix}{key} -.-> {prefix}G")
    return edges


def _subgraph(cfg: Config, attempt: int, journey: Journey, live: Mapping[str, str]) -> list[str]:
    prefix = f"V{attempt}_"
    nodes = _nodes(cfg, journey, live)
    title = f"🗓️ Attempt {attempt}: v{journey.version} ({outcome(cfg, journey)})"
    lines = [f'    subgraph V{attempt} ["{title}"]', "        direction TB"]
    lines += [f'        {prefix}{n.key}["{n.label}"]:::{n.css}' for n in nodes]
    if journey.death is not None:
        lines.append(f'        {prefix}G("🪦 GRAVEYARD<br/>(Abandoned)"):::dead')
    lines += [f"        {edge}" for edge in _edges(cfg, prefix, nodes, journey.death)]
    lines.append("    end")
    return lines


def _numbered(journeys: Mapping[str, Journey], last: int | None,
              first: int = 1) -> list[tuple[int, Journey]]:
    """Journeys numbered by attempt (``first``: the first one's, when older ones are not
    shown), the latest ``last`` of them."""
    numbered = list(enumerate(journeys.values(), first))
    return numbered[-last:] if last else numbered


def graveyard_mermaid(
    cfg: Config, journeys: Mapping[str, Journey], live: Mapping[str, str], last: int | None = None,
    *, first: int = 1,
) -> str:
    """The release graveyard as a Mermaid flowchart: one subgraph per version, chained."""
    numbered = _numbered(journeys, last, first)
    lines = ["flowchart TD", *(f"    {c}" for c in CLASS_DEFS)]
    for attempt, journey in numbered:
        lines += _subgraph(cfg, attempt, journey, live)
    if len(numbered) > 1:
        lines.append("    " + " --> ".join(f"V{n}" for n, _ in numbered))
    if not numbered:
        lines.append('    EMPTY["No release recorded in the ledger yet"]')
    return "\n".join(lines) + "\n"


def _details(event: Event) -> str:
    if event.reason:
        return event.reason
    pairs = [
        f"{k}: {v}" for k, v in sorted(event.details.items())
        if k != "by" and isinstance(v, str | int | float | bool)
    ]
    return ", ".join(pairs)


def _who(event: Event) -> str:
    if event.who != event.actor:
        return f"{event.shown_who} (recorded by {event.actor})"
    return event.shown_who


def audit_table(events: Sequence[Event]) -> str:
    """Every event as a Markdown table row: version, environment, event, when, who, run."""
    rows = [
        "| Version | Environment | Event | When | Who | Details | Run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| v{e.version} | {e.environment or '—'} | {e.event} | {e.when} "
        f"| {markdown_cell(_who(e))} | {markdown_cell(_details(e), DETAIL_CHARS)} "
        f"| {link(e.run_url, 'run')} |"
        for e in events
    ]
    return "\n".join(rows) + "\n"


def graveyard_markdown(
    cfg: Config, journeys: Mapping[str, Journey], live: Mapping[str, str], last: int | None = None,
    assessment: Assessment | None = None, *, first: int = 1,
) -> str:
    """The graveyard for a step summary or a file: the Mermaid chart, the audit table, and
    what the ledger holds that does not count."""
    shown = [j for _, j in _numbered(journeys, last, first)]
    events = sorted((e for j in shown for e in j.events), key=lambda e: (e.time, e.id))
    return (
        "## 🪦 Release graveyard\n\n"
        f"```mermaid\n{graveyard_mermaid(cfg, journeys, live, last, first=first)}```\n\n"
        "### Audit trail\n\n"
        f"{audit_table(events)}"
        + (_not_counted(assessment) if assessment is not None else "")
    )


_TEXT_MARKS = {
    "passed": "✅", "deployed": "📦 deployed", "approved": "approved, not deployed",
    "failed": "❌ smoke failed", "rejected": "🛑 rejected", "cancelled": "⛔ cancelled",
    "deploy_failed": "⚠️ deploy failed", "rolled_back": "↩️ rolled back", "synced": "💾 synced",
}
TEXT_REASON_CHARS = 90


def _text_steps(cfg: Config, journey: Journey, live: Mapping[str, str]) -> str:
    """``Build → DEV ✅ → QA ❌ smoke failed → 🪦`` (a DR mirror joins with ⇢)."""
    final = cfg.promotion_order[-1].name if cfg.promotion_order else None
    mirrors = {m.name for m in cfg.mirrors}
    line = "Build"
    for env in track(cfg, [journey]):
        st = stage(journey, env)
        if not st.reached:
            continue
        mark = _TEXT_MARKS[st.state]
        if env == final and live.get(env) == journey.version and st.state == "passed":
            mark = "🚀 LIVE"
        if st.approval is not None:  # ✋: who approved the gate
            mark += f" (✋ {shorten(plain(st.approval.who), 24)})"
        line += f" {'⇢' if env in mirrors else '→'} {env.upper()} {mark}"
    return line + (" → 🪦" if journey.death is not None else "")


def _text_death(death: Event) -> str:
    """``rejected by product-owner: <reason>`` or ``smoke failed: quote ACME``."""
    if death.event == "smoke_failed":
        results = death.details.get("results")
        failed = [str(r.get("name")) for r in results if isinstance(r, dict) and not r.get("ok")] \
            if isinstance(results, list) else []
        return shorten(plain(f"smoke failed: {', '.join(failed)}"), TEXT_REASON_CHARS) \
            if failed else ""
    why = f": {plain(death.reason)}" if death.reason else ""
    return shorten(f"{death.event.replace('_', ' ')} by {plain(death.who)}{why}",
                   TEXT_REASON_CHARS)


def graveyard_text(
    cfg: Config, journeys: Mapping[str, Journey], live: Mapping[str, str], last: int | None = None,
    *, first: int = 1,
) -> str:
    """The graveyard for a terminal: two or three short lines per attempt, no markup."""
    numbered = _numbered(journeys, last, first)
    if not numbered:
        return "🪦 Release graveyard: no release recorded in the ledger yet"
    lines = ["🪦 Release graveyard"]
    for attempt, journey in numbered:
        lines += ["", f"  Attempt {attempt} · v{journey.version} · {outcome(cfg, journey)}",
                  f"    {_text_steps(cfg, journey, live)}"]
        why = _text_death(journey.death) if journey.death is not None else ""
        if why:
            lines.append(f"    {why}")
    where = ", ".join(f"{env} v{version}" for env, version in live.items()) or "nothing"
    lines += ["", f"  live: {where}"]
    return "\n".join(lines)


def _not_counted(assessment: Assessment) -> str:
    """The events that do not count and the skipped objects, as Markdown ('' when none)."""
    if not assessment.refused and not assessment.skipped:
        return ""
    rows = ["", "### ⚠️ Not counted", "", "| Version | Environment | Event | When | Why |",
            "| --- | --- | --- | --- | --- |"]
    rows += [
        f"| v{j.event.version} | {j.event.environment or '—'} | {j.event.event} | {j.event.when} "
        f"| {markdown_cell(j.problem or '', DETAIL_CHARS)} |"
        for j in assessment.refused
    ]
    rows += [f"| — | — | skipped object `{markdown_cell(s.key)}` | — "
             f"| {markdown_cell(s.problem, DETAIL_CHARS)} |" for s in assessment.skipped]
    return "\n".join(rows) + "\n"


def graveyard_data(
    cfg: Config,
    journeys: Mapping[str, Journey],
    live: Mapping[str, str],
    lags: Sequence[Lag],
    last: int | None = None,
    *,
    first: int = 1,
) -> dict[str, Any]:
    """The graveyard as plain data: the shown versions with their attempt numbers."""
    numbered = _numbered(journeys, last, first)
    shown = {j.version: j for _, j in numbered}
    return status_data(cfg, shown, live, lags, {j.version: n for n, j in numbered})
