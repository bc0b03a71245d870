"""The graveyard and each release's journey drawn as inline SVG, by hand (no library, no script).

Every state is told by an icon, a word and a fill pattern as well as a colour, so the
drawing reads in greyscale and for colour-blind readers. Every user string is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vault_actions.config import Config
from vault_actions.promotion.journey import Journey
from vault_actions.report.evidence import why
from vault_actions.report.status import Stage, outcome, stage, track
from vault_actions.text import html_text

CELL_W, CELL_H, GAP = 150, 58, 14
LABEL_W, END_W, PAD = 110, 270, 16


@dataclass(frozen=True)
class Look:
    """How one state is drawn: icon, word, CSS class (colour) and fill pattern."""

    icon: str
    word: str
    css: str
    fill: str


LOOKS = {
    "built": Look("■", "BUILT", "ok", "url(#p-solid-ok)"),
    "passed": Look("✓", "PASSED", "ok", "url(#p-solid-ok)"),
    "deployed": Look("▲", "DEPLOYED", "ok", "url(#p-solid-ok)"),
    "approved": Look("✓", "APPROVED", "ok", "url(#p-solid-ok)"),
    "synced": Look("⇉", "SYNCED", "ok", "url(#p-solid-ok)"),
    "live": Look("●", "LIVE", "live", "url(#p-dots)"),
    "failed": Look("✗", "FAILED", "bad", "url(#p-hatch)"),
    "rejected": Look("⊘", "REJECTED", "bad", "url(#p-hatch)"),
    "cancelled": Look("⊘", "CANCELLED", "bad", "url(#p-hatch)"),
    "deploy_failed": Look("⚠", "DEPLOY FAILED", "bad", "url(#p-hatch)"),
    "rolled_back": Look("↩", "ROLLED BACK", "bad", "url(#p-hatch)"),
    "pending": Look("·", "not reached", "none", "none"),
}

DEFS = """<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="p-solid-ok" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" class="f-ok"/></pattern>
<pattern id="p-hatch" width="8" height="8" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)"><rect width="8" height="8" class="f-bad"/>
<line x1="0" y1="0" x2="0" y2="8" class="hatch"/></pattern>
<pattern id="p-dots" width="10" height="10" patternUnits="userSpaceOnUse">
<rect width="10" height="10" class="f-live"/><circle cx="5" cy="5" r="1.6" class="dot"/></pattern>
<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
 orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker>
</defs></svg>"""  # once per page: the patterns and arrowhead every drawing refers to


def _look(st: Stage, live_here: bool) -> Look:
    return LOOKS["live"] if live_here else LOOKS[st.state]


def _shown_live(cfg: Config, live: Mapping[str, str]) -> dict[str, str]:
    """What is live in the final environment and its mirrors: the places LIVE is drawn
    (earlier environments show how the version fared there, like the Mermaid graveyard)."""
    final = cfg.promotion_order[-1].name if cfg.promotion_order else None
    ends = {final} | {m.name for m in cfg.mirrors}
    return {env: version for env, version in live.items() if env in ends}


def _cell(x: int, y: int, look: Look, lines: Sequence[str], title: str) -> str:
    """One box: pattern fill, border by state, icon + word, then smaller lines."""
    dash = ' stroke-dasharray="5 4"' if look.css == "none" else ""
    parts = [
        f'<g class="cell {look.css}"><title>{html_text(title)}</title>',
        f'<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" rx="8" '
        f'fill="{look.fill}" class="box"{dash}/>',
        f'<text x="{x + 10}" y="{y + 20}" class="word">'
        f'<tspan class="icon">{look.icon}</tspan> {html_text(look.word)}</text>',
    ]
    for n, line in enumerate(lines[:2]):
        parts.append(f'<text x="{x + 10}" y="{y + 36 + 14 * n}" class="small">'
                     f"{html_text(line, 24)}</text>")
    parts.append("</g>")
    return "".join(parts)


def _tombstone(x: int, y: int, words: Sequence[str]) -> str:
    """A headstone with the cause of death beside it."""
    stone = (f'<path d="M{x},{y + 46} v-26 a14,14 0 0 1 28,0 v26 z" class="stone"/>'
             f'<text x="{x + 14}" y="{y + 33}" class="rip" text-anchor="middle">RIP</text>'
             f'<line x1="{x - 4}" y1="{y + 46}" x2="{x + 32}" y2="{y + 46}" class="ground"/>')
    lines = "".join(
        f'<text x="{x + 38}" y="{y + 20 + 15 * n}" class="{"end" if n == 0 else "small"}">'
        f"{html_text(w, 30)}</text>"
        for n, w in enumerate(words[:3])
    )
    return stone + lines


def _stage_lines(st: Stage) -> list[str]:
    event = st.event
    lines = []
    if event is not None:
        lines.append(f"{event.time:%m-%d %H:%M} {event.who}")
        if event.reason:
            lines.append(event.reason)
    if st.approval is not None and st.approval is not event:
        lines.append(f"approved: {st.approval.who}")
    return lines


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html_text(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f"<title>{html_text(label)}</title>{body}</svg>")


def graveyard(cfg: Config, journeys: Mapping[str, Journey], live: Mapping[str, str]) -> str:
    """Every version a row (oldest first): its state in each environment, then how it ended."""
    names = track(cfg, journeys.values())
    live = _shown_live(cfg, live)
    width = LABEL_W + (len(names) + 1) * (CELL_W + GAP) + END_W + PAD
    header = "".join(
        f'<text x="{LABEL_W + i * (CELL_W + GAP) + CELL_W // 2}" y="{PAD + 10}" '
        f'class="head" text-anchor="middle">{html_text(n.upper())}</text>'
        for i, n in enumerate(["build", *names])
    )
    rows = [header]
    for row, (attempt, journey) in enumerate(enumerate(journeys.values(), 1)):
        y = PAD + 24 + row * (CELL_H + GAP)
        rows.append(_graveyard_row(cfg, journey, live, names=names, attempt=attempt, y=y))
    height = PAD + 24 + max(len(journeys), 1) * (CELL_H + GAP) + PAD
    if not journeys:
        rows.append(f'<text x="{PAD}" y="{PAD + 50}" class="end">No release recorded yet</text>')
    return _svg(width, height, "Release graveyard: every version's state per environment",
                "".join(rows))


def _graveyard_row(
    cfg: Config, journey: Journey, live: Mapping[str, str], *, names: Sequence[str],
    attempt: int, y: int,
) -> str:
    parts = [
        f'<g class="row" data-version="{html_text(journey.version)}">',
        f'<text x="{PAD}" y="{y + 24}" class="version">v{html_text(journey.version)}</text>',
        f'<text x="{PAD}" y="{y + 42}" class="small">attempt {attempt}</text>',
    ]
    built = journey.last("built")
    parts.append(_cell(LABEL_W, y, LOOKS["built"],
                       [f"{built.time:%m-%d %H:%M}"] if built else ["before the ledger"],
                       f"v{journey.version} built"))
    for i, name in enumerate(names, 1):
        st = stage(journey, name)
        look = _look(st, live.get(name) == journey.version)
        x = LABEL_W + i * (CELL_W + GAP)
        parts.append(_cell(x, y, look, _stage_lines(st),
                           f"v{journey.version} in {name}: {look.word}"))
    end_x = LABEL_W + (len(names) + 1) * (CELL_W + GAP)
    death = journey.death
    if death is not None:
        where = (death.environment or "run").upper()
        parts.append(_tombstone(end_x, y + 4, [f"died in {where}", death.when, why(death)]))
    else:
        here = [n.upper() for n, v in live.items() if v == journey.version]
        text = f"● live in {', '.join(here)}" if here else outcome(cfg, journey)
        parts.append(f'<text x="{end_x}" y="{y + 32}" class="end">{html_text(text)}</text>')
    parts.append("</g>")
    return "".join(parts)


def journey(cfg: Config, one: Journey, live: Mapping[str, str]) -> str:
    """One release's path: build, then each environment it reached, arrows between them,
    and a headstone where it died."""
    names = [n for n in track(cfg, [one]) if stage(one, n).reached]
    live = _shown_live(cfg, live)
    y = PAD
    boxes = []
    built = one.last("built")
    boxes.append((LOOKS["built"], [f"{built.time:%m-%d %H:%M}"] if built else [], "build"))
    for name in names:
        st = stage(one, name)
        boxes.append((_look(st, live.get(name) == one.version), _stage_lines(st), name))
    parts = []
    for i, (look, lines, name) in enumerate(boxes):
        x = PAD + i * (CELL_W + 2 * GAP)
        parts.append(f'<text x="{x}" y="{y}" class="head">{html_text(name.upper())}</text>')
        parts.append(_cell(x, y + 8, look, lines, f"v{one.version} {name}: {look.word}"))
        if i:
            parts.append(f'<line x1="{x - 2 * GAP}" y1="{y + 8 + CELL_H // 2}" x2="{x - 2}" '
                         f'y2="{y + 8 + CELL_H // 2}" class="edge" marker-end="url(#arrow)"/>')
    end_x = PAD + len(boxes) * (CELL_W + 2 * GAP)
    death = one.death
    if death is not None:
        parts.append(_tombstone(end_x, y + 12, [f"died in {(death.environment or 'run').upper()}",
                                                death.when, why(death)]))
    width = end_x + (END_W if death else 0) + PAD
    return _svg(width, y + CELL_H + 2 * PAD, f"Journey of v{one.version}: {outcome(cfg, one)}",
                "".join(parts))
