"""``vault verify``'s report: which events hold, which do not count and why.

An auditor runs it over the whole ledger: every event's proof is checked against the
issuer's keys (never against anything in the bucket) and every writer against the
authority rules. It fails (exit 4) when an event counts without proof (a local
decision allowed by break-glass) or an event that does not hold would count if the
ledger were read naively (anything ``vault verify`` lists as unverified).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vault_actions.promotion.authority import Assessment
from vault_actions.text import plain, plural


@dataclass(frozen=True)
class Verification:
    """The assessment of the ledger, and the repository its tokens had to come from."""

    assessment: Assessment
    repository: str | None
    issuer: str

    @property
    def proven(self) -> int:
        """Events whose token verifies and whose writer had authority."""
        return sum(1 for j in self.assessment.judged if j.counts and not j.local)

    @property
    def local(self) -> int:
        """Events that count by break-glass (ledger.allow-local) without proof."""
        return sum(1 for j in self.assessment.judged if j.counts and j.local)

    @property
    def ok(self) -> bool:
        """True when every event that counts is proven and every event holds."""
        return not self.local and not self.assessment.refused

    def to_json(self) -> dict[str, Any]:
        """``vault verify --json``."""
        return {
            "ok": self.ok, "repository": self.repository, "issuer": self.issuer,
            "events": len(self.assessment.judged), "proven": self.proven,
            "local": self.local, "unverified": len(self.assessment.refused),
            "skipped": len(self.assessment.skipped),
            "judged": [j.to_json() for j in self.assessment.judged],
            "skipped_objects": [s.to_json() for s in self.assessment.skipped],
        }

    def text(self) -> str:
        """For people: the tally, then each event that needs attention."""
        judged = self.assessment.judged
        lines = [
            f"{plural(len(judged), 'event')} checked against {self.issuer} "
            f"(repository {self.repository or 'unknown'}): {self.proven} proven, "
            f"{self.local} local (break-glass), {len(self.assessment.refused)} not counted, "
            f"{plural(len(self.assessment.skipped), 'foreign object')} skipped",
        ]
        for j in judged:
            if j.local and j.counts:
                lines.append(f"⚠️  local  v{j.event.version} {plain(j.event.describe())}: "
                             f"counts by ledger.allow-local, proven by nothing")
            elif not j.counts:
                lines.append(f"❌ v{j.event.version} {plain(j.event.describe())} "
                             f"[{j.event.id}]: {plain(j.problem or '')}")
        lines += [f"⏭️  {plain(s.key)}: {plain(s.problem)}" for s in self.assessment.skipped]
        lines.append("✅ every event holds" if self.ok else
                     "❌ the ledger holds events that are not proven (listed above)")
        return "\n".join(lines)
