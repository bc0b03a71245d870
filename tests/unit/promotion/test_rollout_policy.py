"""vault.yml's rollout, bake time and freeze windows, and the policy that enforces them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.unit.test_config import GOOD, write
from vault_actions import config
from vault_actions.errors import ConfigError, PromotionRefused
from vault_actions.promotion.journey import Journey
from vault_actions.promotion.policy import active_freeze, check_bake, check_freeze
from vault_actions.store.ledger import Event

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday


def with_prod(tmp_path: Path, **prod: Any) -> config.Config:
    doc = copy.deepcopy(GOOD)
    doc["environments"][3].update(prod)
    return config.load(write(tmp_path, doc))


def raw_yaml(tmp_path: Path, prod_lines: str) -> Path:
    """GOOD with extra prod keys written as YAML text (times unquoted, as people write)."""
    import yaml

    text = yaml.safe_dump(GOOD, sort_keys=False)
    marker = "- name: prod\n"
    path = tmp_path / "vault.yml"
    path.write_text(text.replace(marker, marker + prod_lines))
    return path


# ---------------------------------------------------------------- vault.yml


def test_rollouts_default_to_all_at_once(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    prod = cfg.environment("prod")
    assert not prod.rollout.gradual and prod.rollout.weights == (100,)
    assert prod.promote_after_minutes == 0 and prod.freezes == ()


def test_canary_and_linear_steps(tmp_path: Path) -> None:
    canary = with_prod(tmp_path, rollout={
        "strategy": "canary", "percent": 10, "bake-minutes": 5, "alarms": ["prod-5xx"],
        "poll-seconds": 2})
    plan = canary.environment("prod").rollout
    assert plan.weights == (10, 100) and plan.step_seconds == 300 and plan.poll_seconds == 2
    assert plan.alarms == ("prod-5xx",) and plan.describe() == "canary 10% for 5 min"
    linear = with_prod(tmp_path, rollout={"strategy": "linear", "percent": 30,
                                          "interval-minutes": 1})
    assert linear.environment("prod").rollout.weights == (30, 60, 90, 100)


@pytest.mark.parametrize(("rollout", "expected"), [
    ({"strategy": "canary"}, r"'bake-minutes' is a required property"),
    ({"strategy": "linear", "interval-minutes": 1, "bake-minutes": 1}, r"rollout"),
    ({"strategy": "canary", "bake-minutes": 1, "percent": 100}, r"percent"),
    ({"strategy": "blue-green"}, r"'blue-green' is not allowed"),
    ({"strategy": "canary", "bake-minutes": 0}, r"bake-minutes"),
    ({"strategy": "canary", "bake-minutes": 1, "smoke-each-step": True, "pre-traffic": True},
     r"pre-traffic: runs smoke.command, which prod does not have"),
])
def test_bad_rollouts_are_explained(tmp_path: Path, rollout: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        with_prod(tmp_path, rollout=rollout)


def test_freeze_times_are_read_as_text_not_yaml_numbers(tmp_path: Path) -> None:
    path = raw_yaml(tmp_path, (
        "  freeze:\n"
        "    - {name: nights, days: [mon, tue], from: 18:00, until: 08:00,"
        " time-zone: Europe/Paris}\n"
        "    - {name: year-end, from: 2026-12-20, until: 2027-01-04T08:00}\n"
    ))
    prod = config.load(path).environment("prod")
    nights, year_end = prod.freezes
    assert (nights.daily_start, nights.daily_end) == (
        datetime(1, 1, 1, 18).time(), datetime(1, 1, 1, 8).time())
    assert year_end.start == datetime(2026, 12, 20) and year_end.end == datetime(2027, 1, 4, 8)


@pytest.mark.parametrize(("window", "expected"), [
    ({"name": "x", "days": ["mon"], "from": "25:00", "until": "08:00"}, r"a time of day"),
    ({"name": "x", "from": "2026-13-01", "until": "2027-01-01"}, r"month must be in 1..12"),
    ({"name": "x", "from": "2027-01-02", "until": "2027-01-01"}, r"is not after from"),
    ({"name": "x", "days": ["mon"], "from": "18:00", "until": "08:00", "time-zone": "Mars/Base"},
     r"unknown time zone 'Mars/Base'"),
    ({"name": "x", "days": ["someday"], "from": "18:00", "until": "08:00"}, r"someday"),
])
def test_bad_freeze_windows_are_explained(tmp_path: Path, window: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        with_prod(tmp_path, freeze=[window])


# ---------------------------------------------------------------- freeze windows


def prod_with(tmp_path: Path, *windows: dict[str, Any]) -> config.Environment:
    return with_prod(tmp_path, freeze=list(windows)).environment("prod")


def test_an_absolute_window_refuses_with_its_name_and_end(tmp_path: Path) -> None:
    prod = prod_with(tmp_path, {"name": "year-end", "from": "2026-11-30T00:00Z",
                                "until": "2026-12-02T08:00Z"})
    with pytest.raises(PromotionRefused) as refused:
        check_freeze(prod, T0)
    assert "prod is frozen: window 'year-end' until 2026-12-02 08:00 UTC" in refused.value.message
    assert refused.value.hint and "--override-freeze --reason" in refused.value.hint
    assert check_freeze(prod, T0 + timedelta(days=2)) is None


def test_an_override_with_a_reason_passes_and_names_the_window(tmp_path: Path) -> None:
    prod = prod_with(tmp_path, {"name": "year-end", "from": "2026-11-30", "until": "2026-12-03"})
    frozen = check_freeze(prod, T0, override_reason="hotfix for INC-42")
    assert frozen is not None and frozen[0].name == "year-end"


def test_a_weekly_window_in_a_time_zone(tmp_path: Path) -> None:
    # Tuesdays 18:00 → Wednesday 08:00 in New York (UTC-5 in December).
    prod = prod_with(tmp_path, {"name": "nights", "days": ["tue"], "from": "18:00",
                                "until": "08:00", "time-zone": "America/New_York"})
    nyc = ZoneInfo("America/New_York")
    assert active_freeze(prod, datetime(2026, 12, 1, 17, 59, tzinfo=nyc)) is None
    frozen = active_freeze(prod, datetime(2026, 12, 1, 23, 0, tzinfo=UTC))  # 18:00 NYC
    assert frozen is not None and frozen[1] == datetime(2026, 12, 2, 8, 0, tzinfo=nyc)
    assert active_freeze(prod, datetime(2026, 12, 2, 12, 59, tzinfo=UTC)) is not None
    assert active_freeze(prod, datetime(2026, 12, 2, 13, 0, tzinfo=UTC)) is None  # 08:00 NYC
    assert active_freeze(prod, datetime(2026, 12, 8, 23, 30, tzinfo=UTC)) is not None  # next week


def test_back_to_back_weekly_windows_end_at_the_last_one(tmp_path: Path) -> None:
    prod = prod_with(tmp_path, {"name": "weekend", "days": ["sat", "sun"], "from": "00:00",
                                "until": "00:00"})
    saturday = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    frozen = active_freeze(prod, saturday)
    assert frozen is not None and frozen[1] == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- bake time


def event(name: str, env: str, at: datetime) -> Event:
    return Event(id=f"{at:%Y%m%dT%H%M%S%fZ}-{'0' * 32}", version="1.0.0", event=name,
                 environment=env, at=at.isoformat(), actor="ci", commit=None, run_url=None)


def test_bake_time_refuses_with_how_long_is_left(tmp_path: Path) -> None:
    doc = copy.deepcopy(GOOD)
    doc["environments"][2]["promote-after-minutes"] = 60  # uat
    cfg = config.load(write(tmp_path, doc))
    journey = Journey("1.0.0", (event("deployed", "uat", T0), event("smoke_passed", "uat", T0)))
    prod = cfg.environment("prod")

    with pytest.raises(PromotionRefused) as refused:
        check_bake(cfg, journey, prod, T0 + timedelta(minutes=12))
    assert "has stood in uat for 12 min" in refused.value.message
    assert "prod takes versions that stood there 60 min: 48 min left" in refused.value.message
    assert refused.value.hint == "retry after 2026-12-01 11:00:00 UTC"
    check_bake(cfg, journey, prod, T0 + timedelta(minutes=60))
    check_bake(cfg, journey, cfg.environment("uat"), T0)  # qa has no bake time
