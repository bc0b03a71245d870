"""`vault rollback` on a real moto server: the previous bytes back in every function, recorded."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import break_glass
from tests.unit.deliver.test_deploy import CTX, World, make_functions, make_world, served_sha
from vault_actions import config
from vault_actions.cli.commands import deploy as deploy_command
from vault_actions.cli.commands import rollback as rollback_command
from vault_actions.deliver.rollback import roll_back
from vault_actions.errors import ConfigError, PromotionRefused
from vault_actions.promotion.journey import journey_of, overview
from vault_actions.report import status as report
from vault_actions.store.ledger import Ledger
from vault_actions.store.vault import Vault

YML = """\
vault: {{bucket: {bucket}, region: us-east-1, protected: false}}
services: [{{name: alpha}}, {{name: beta}}, {{name: gamma}}]
environments:
  - name: dev
    functions: {{alpha: alpha-dev-{tag}, beta: beta-dev-{tag}, gamma: gamma-dev-{tag}}}
  - name: prod
    functions: {{alpha: alpha-prod-{tag}, beta: beta-prod-{tag}, gamma: gamma-prod-{tag}}}
    smoke: {{command: "true"}}
"""


class Shop:
    """dev → prod (smoke-tested), releases passing both on demand."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.path = world.tmp_path / "vault.yml"
        self.path.write_text(YML.format(bucket=world.bucket, tag=world.tag) + break_glass())
        self.cfg = config.load(self.path)
        for env in self.cfg.environments:
            make_functions(world.lambda_, world.role, list(env.functions.values()))
        self.ledger = Ledger(world.s3, world.bucket)

    def ship(self, version: str, *, passed: bool = True) -> None:
        self.world.release(version, ["alpha", "beta", "gamma"])
        for env in ("dev", "prod"):
            assert deploy_command.deploy(str(self.path), version, env, 4).ok
            if passed or env == "dev":
                self.ledger.record(version, "smoke_passed", env, CTX)

    def prod(self) -> dict[str, str]:
        return self.cfg.environment("prod").functions

    def shas(self, version: str) -> dict[str, str]:
        manifest = Vault(self.world.s3, self.world.bucket).require_manifest(version)
        return {self.prod()[r.service]: r.code_sha256 for r in manifest.artifacts}

    def rollback(self, reason: str = "checkout 5xx", to: str | None = None) -> Any:
        return rollback_command.rollback(str(self.path), "prod", to, reason)


@pytest.fixture
def shop(s3: Any, vault_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    return Shop(make_world(s3, vault_bucket, tmp_path))


def test_a_rollback_restores_the_previous_bytes_in_every_function(shop: Shop) -> None:
    lambda_ = shop.world.lambda_
    shop.ship("1.0.0")
    shop.ship("1.1.0")
    before = {f: len(lambda_.list_versions_by_function(FunctionName=f)["Versions"])
              for f in shop.prod().values()}

    rolled = shop.rollback("checkout 5xx since 1.1.0")

    assert (rolled.from_version, rolled.to_version) == ("1.1.0", "1.0.0")
    assert not rolled.result.republished
    for function, sha in shop.shas("1.0.0").items():
        assert served_sha(lambda_, function) == sha
        alias = lambda_.get_alias(FunctionName=function, Name="live")
        assert alias["FunctionVersion"] == "1"
        assert alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}
    after = {f: len(lambda_.list_versions_by_function(FunctionName=f)["Versions"])
             for f in shop.prod().values()}
    assert after == before, "a rollback publishes nothing: one alias move per service"

    gone = journey_of(shop.ledger, "1.1.0")
    assert gone.death is not None and gone.death.event == "withdrawn"
    assert gone.death.environment == "prod" and gone.death.reason == "checkout 5xx since 1.1.0"
    assert gone.death.who == CTX.actor or gone.death.who
    back = journey_of(shop.ledger, "1.0.0").last("deployed", "prod")
    assert back is not None and back.details["emergency"] is True
    assert back.details["rollback_from"] == "1.1.0"
    seen = overview(shop.cfg, shop.ledger.events())
    assert seen.live["prod"] == "1.0.0"
    text = report.status_text(shop.cfg, seen.journeys, seen.live, seen.lags)
    assert "🚨 emergency rollback from v1.1.0" in text
    assert "withdrawn" in text


def test_the_version_named_must_have_passed_there(shop: Shop) -> None:
    shop.ship("1.0.0")
    shop.ship("1.1.0", passed=False)
    shop.ledger.record("1.1.0", "smoke_passed", "prod", CTX)
    shop.ship("1.2.0")

    with pytest.raises(PromotionRefused, match=r"cannot roll prod back to v1\.3\.0: the ledger"):
        shop.rollback(to="1.3.0")
    with pytest.raises(PromotionRefused, match=r"v1\.2\.0: it is the live version"):
        shop.rollback(to="1.2.0")

    rolled = shop.rollback(to="1.0.0")

    assert rolled.to_version == "1.0.0"
    for function, sha in shop.shas("1.0.0").items():
        assert served_sha(shop.world.lambda_, function) == sha


def test_a_version_that_never_passed_is_not_a_target(shop: Shop) -> None:
    shop.ship("1.0.0", passed=False)
    shop.ship("1.1.0")

    with pytest.raises(PromotionRefused, match="no version other than v1.1.0"):
        shop.rollback()
    with pytest.raises(PromotionRefused, match="never passed its smoke test in prod"):
        shop.rollback(to="1.0.0")


def test_rolling_back_twice_goes_further_back(shop: Shop) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        shop.ship(version)

    assert shop.rollback().to_version == "1.1.0"
    assert shop.rollback().to_version == "1.0.0"
    with pytest.raises(PromotionRefused, match="no version other than v1.0.0"):
        shop.rollback()


def test_tampered_or_missing_published_versions_are_republished_from_the_vault(
    shop: Shop,
) -> None:
    lambda_ = shop.world.lambda_
    shop.ship("1.0.0")
    shop.ship("1.1.0")
    alpha = shop.prod()["alpha"]
    def other_bytes(parsed: dict[str, Any], **_: Any) -> None:
        # Lambda's published versions are immutable; a wrong row in the ledger (or a version
        # deleted and re-created) would point at other bytes: the CodeSha256 check catches it.
        if parsed.get("FunctionName") == alpha and parsed.get("Version") == "1":
            parsed["CodeSha256"] = "b3RoZXIgYnl0ZXM="
    lambda_.meta.events.register("after-call.lambda.GetFunctionConfiguration", other_bytes)
    env = shop.cfg.environment("prod")

    result = roll_back(lambda_, Vault(shop.world.s3, shop.world.bucket), env, "1.0.0",
                       journey_of(shop.ledger, "1.0.0").standing("prod"))

    assert result.republished and result.deploy.ok
    for function, sha in shop.shas("1.0.0").items():
        assert served_sha(lambda_, function) == sha


def test_a_reason_is_required(shop: Shop) -> None:
    with pytest.raises(ConfigError, match="a rollback needs a reason"):
        shop.rollback(reason="  ")
    with pytest.raises(PromotionRefused, match="nothing is live in prod"):
        rollback_command.run(argparse.Namespace(config=str(shop.path), env="prod", to=None,
                                                reason="why not"))
