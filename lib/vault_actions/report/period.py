"""A reporting period: ``--since`` and ``--until`` as dates or times (UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from vault_actions.errors import ConfigError

DATE_HINT = "give a date (2026-03-01) or an ISO-8601 time (2026-03-01T10:00:00Z); times are UTC"


def parse_moment(option: str, value: str, *, end: bool = False) -> datetime:
    """``value`` as an aware UTC datetime; a bare date means its start (``end``: the next day's
    start, so ``--until 2026-03-01`` includes all of March 1)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date or time", DATE_HINT) from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """``[since, until)``; an open end is unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Period:
        """From the command line; ConfigError for a value that is no date, or an empty period."""
        period = cls(
            parse_moment("--since", since) if since else None,
            parse_moment("--until", until, end=True) if until else None,
        )
        if period.since and period.until and period.until <= period.since:
            raise ConfigError(
                f"--until {until} is not after --since {since}", "give an --until after --since"
            )
        return period

    def __contains__(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )

    def to_json(self) -> dict[str, str | None]:
        """ISO-8601 bounds (None: open)."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    def describe(self) -> str:
        """``2026-03-01 00:00 UTC – 2026-04-01 00:00 UTC`` (open ends say so)."""
        since = f"{self.since:%Y-%m-%d %H:%M} UTC" if self.since else "the first event"
        until = f"{self.until:%Y-%m-%d %H:%M} UTC" if self.until else "now"
        return f"{since} – {until}"
