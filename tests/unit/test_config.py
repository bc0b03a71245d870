"""vault.yml: schema validation with errors that name the file, key path and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vault_actions import config
from vault_actions.errors import ConfigError

GOOD: dict[str, Any] = {
    "vault": {"bucket": "my-org-artifacts-vault", "region": "us-east-1"},
    "services": [
        {"name": "price-fetcher", "path": "services/price-fetcher", "build": "npm run build"},
        {"name": "config-service", "path": "services/config-service"},
    ],
    "environments": [
        {
            "name": "dev",
            "functions": {"price-fetcher": "price-fetcher-dev", "config-service": "config-service-dev"},
            "smoke": {"base-url": "http://127.0.0.1:1", "checks": [{"path": "/health", "method": "POST"}]},
        },
        {"name": "qa", "functions": {"price-fetcher": "pf-qa", "config-service": "cs-qa"}},
        {
            "name": "uat",
            "gate": {"approvers": ["qa-lead"]},
            "functions": {"price-fetcher": "pf-uat", "config-service": "cs-uat"},
        },
        {
            "name": "prod",
            "gate": {"approvers": ["manager"]},
            "functions": {"price-fetcher": "pf-prod", "config-service": "cs-prod"},
            "smoke": {"checks": [{"path": "/health"}]},
        },
        {
            "name": "dr",
            "mirror-of": "prod",
            "region": "us-west-2",
            "bucket": "my-org-artifacts-vault-dr",
            "functions": {"price-fetcher": "pf-dr", "config-service": "cs-dr"},
        },
    ],
}


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "vault.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def mutated(change: Any) -> dict[str, Any]:
    import copy

    doc = copy.deepcopy(GOOD)
    change(doc)
    return doc


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    assert [e.name for e in cfg.promotion_order] == ["dev", "qa", "uat", "prod"]
    assert [e.name for e in cfg.mirrors] == ["dr"]
    prod = cfg.environment("prod")
    assert prod.read_only and prod.gated and prod.gate and prod.gate.approvers == ("manager",)
    assert cfg.environment("dr").read_only
    assert not cfg.environment("dev").read_only
    assert cfg.environment("dr").bucket == "my-org-artifacts-vault-dr"
    assert cfg.environment("qa").bucket == "my-org-artifacts-vault"
    assert cfg.previous(cfg.environment("qa")) == cfg.environment("dev")
    assert cfg.previous(cfg.environment("dev")) is None
    assert cfg.previous(cfg.environment("dr")) == prod
    assert cfg.service("price-fetcher").dist_dir == tmp_path / "services/price-fetcher/dist"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(extra=1), r"extra: unknown key; allowed keys: environments, ledger, notifications, services, vault"),
        (lambda d: d["vault"].update(bucket="Bad_Bucket"), r"vault.bucket: 'Bad_Bucket' is not valid: expected an S3 bucket name"),
        (lambda d: d["vault"].update(region="mars-1"), r"vault.region: 'mars-1' is not valid: expected an AWS region"),
        (lambda d: d["services"][0].update(name="Price_Fetcher"), r"services\[0\].name: 'Price_Fetcher' is not valid: expected lowercase letters"),
        (lambda d: d["services"][0].update(name="-rm"), r"services\[0\].name: '-rm' is not valid"),
        (lambda d: d["services"][0].update(name="../x"), r"services\[0\].name: '../x' is not valid"),
        (lambda d: d["services"][0].update(name="$(reboot)"), r"services\[0\].name: '\$\(reboot\)' is not valid"),
        (lambda d: d["services"][0].update(build=["npm"]), r"services\[price-fetcher\].build: \['npm'\] has the wrong type: expected string"),
        (lambda d: d["services"][1].update(name="price-fetcher"), r"services: duplicate service name\(s\) price-fetcher"),
        (lambda d: d["environments"][1]["functions"].update({"ghost": "g"}), r"environments\[qa\].functions.ghost: unknown service; services are: price-fetcher, config-service"),
        (lambda d: d["environments"][1]["functions"].pop("config-service"), r"no function for service 'config-service'"),
        (lambda d: d["environments"][3]["smoke"]["checks"][0].update(method="POST"), r"environments\[prod\].smoke.checks\[0\].method: POST is not allowed in a read-only environment"),
        (lambda d: d["environments"][4].pop("bucket"), r"Lambda in us-west-2 cannot read the vault bucket in us-east-1"),
        (lambda d: d["environments"][4].update({"mirror-of": "nowhere"}), r"mirror-of: 'nowhere' is not another environment"),
        (lambda d: d["environments"][0]["smoke"]["checks"][0].update(method="FETCH"), r"'FETCH' is not allowed: use one of"),
        (lambda d: d.pop("services"), r"'services' is a required property"),
        (lambda d: d["environments"][2].update(gate={}), r"environments\[uat\].gate: \{\} is not valid: expected who may approve"),
        (lambda d: d["environments"][2].update(gate={"approvers": []}), r"environments\[uat\].gate: .* is not valid: expected who may approve"),
        (lambda d: d["environments"][1].update(account="12345"), r"environments\[qa\].account: '12345' is not valid: expected the AWS account"),
        (lambda d: d["environments"][1].update(role="vault-qa"), r"environments\[qa\].role: 'vault-qa' is not valid: expected the IAM role"),
    ],
)
def test_invalid_configs_are_explained(tmp_path: Path, change: Any, expected: str) -> None:
    path = write(tmp_path, mutated(change))
    with pytest.raises(ConfigError, match=expected) as err:
        config.load(path)
    assert str(path) in str(err.value)
    assert err.value.hint


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as err:
        config.load(tmp_path / "nope.yml")
    assert err.value.hint and "vault init" in err.value.hint
    bad = tmp_path / "vault.yml"
    bad.write_text("vault: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad)


def test_read_only_can_be_turned_off(tmp_path: Path) -> None:
    def allow_post(d: Any) -> None:
        d["environments"][3]["read-only"] = False
        d["environments"][3]["smoke"]["checks"][0]["method"] = "POST"

    assert not config.load(write(tmp_path, mutated(allow_post))).environment("prod").read_only


def test_each_environment_may_name_its_account_and_role(tmp_path: Path) -> None:
    def accounts(d: Any) -> None:
        d["environments"][1]["account"] = "222222222222"
        d["environments"][2]["role"] = "arn:aws:iam::333333333333:role/deployers/uat"

    cfg = config.load(write(tmp_path, mutated(accounts)))
    prefix = "arn:aws:iam::111111111111:role/vault-"
    assert cfg.environment("dev").role_arn(prefix) == f"{prefix}dev"
    assert cfg.environment("qa").account == "222222222222"
    assert cfg.environment("qa").role_arn(prefix) == "arn:aws:iam::222222222222:role/vault-qa"
    assert cfg.environment("uat").role_arn(prefix) == "arn:aws:iam::333333333333:role/deployers/uat"


def vault_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vault_actions", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_validate_command(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    ok = vault_cli("validate", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "is valid: 2 services; dev → qa → uat → prod; dr (mirror of prod)" in ok.stdout
    write(tmp_path, mutated(lambda d: d["vault"].update(region="nowhere")))
    bad = vault_cli("validate", "--json", cwd=tmp_path)
    assert bad.returncode == 2  # ConfigError
    assert "vault.region: 'nowhere' is not valid" in bad.stderr
    import json

    assert json.loads(bad.stdout)["error"]["type"] == "ConfigError"


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["version", "--help"]])
def test_help_imports_no_sdk(argv: list[str]) -> None:
    """`vault --help` must not pay for boto3, PyGithub or requests (timed in bench/)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vault_actions", *argv],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0 and "usage: vault" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not imported & {"boto3", "botocore", "github", "requests", "jsonschema", "yaml"}


def test_the_ledger_trusts_the_suites_workflows_and_nothing_local_by_default(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.ledger.issuer == "https://token.actions.githubusercontent.com"
    assert cfg.ledger.repository is None and cfg.ledger.allow_local == frozenset()
    assert cfg.ledger.workflows == {
        "build": ("vault-actions/vault-actions/.github/workflows/vault-build.yml@*",),
        "stage": ("vault-actions/vault-actions/.github/workflows/vault-stage.yml@*",),
        "record": ("vault-actions/vault-actions/.github/workflows/vault-record.yml@*",),
        "gate": ("vault-actions/vault-actions/.github/workflows/vault-gate.yml@*",),
        "dr-sync": ("vault-actions/vault-actions/.github/workflows/vault-dr-sync.yml@*",),
        "rollback": ("vault-actions/vault-actions/.github/workflows/vault-rollback.yml@*",),
    }


def test_the_ledger_settings_are_read(tmp_path: Path) -> None:
    doc = {**GOOD, "ledger": {
        "repository": "acme/shop", "issuer": "http://127.0.0.1:8080/", "suite": "acme/vault-actions",
        "workflows": {"gate": ["acme/ci/.github/workflows/gate.yml@refs/heads/main"]},
        "allow-local": ["approved", "deployed"],
    }}
    cfg = config.load(write(tmp_path, doc))
    assert (cfg.ledger.repository, cfg.ledger.issuer) == ("acme/shop", "http://127.0.0.1:8080")
    assert cfg.ledger.allow_local == {"approved", "deployed"}
    assert cfg.ledger.workflows["gate"] == ("acme/ci/.github/workflows/gate.yml@refs/heads/main",)
    assert cfg.ledger.workflows["stage"] == ("acme/vault-actions/.github/workflows/vault-stage.yml@*",)


@pytest.mark.parametrize(("ledger", "expected"), [
    ({"allow-local": ["approve"]}, r"ledger.allow-local\[0\]: 'approve' is not allowed: use one of"),
    ({"repository": "shop"}, r"ledger.repository: 'shop' is not valid: expected OWNER/REPO"),
    ({"workflows": {"stage": ["vault-stage.yml"]}}, r"ledger.workflows.stage\[0\]: 'vault-stage.yml' does not match"),
    ({"workflows": {"release": ["a/b/c@d"]}},
     r"ledger.workflows.release: unknown key; allowed keys: build, dr-sync, gate, record, rollback, stage"),
])
def test_invalid_ledger_settings_are_explained(tmp_path: Path, ledger: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        config.load(write(tmp_path, {**GOOD, "ledger": ledger}))


# --- names and paths a config may give (issue 11, finding 8) ---------------------------


@pytest.mark.parametrize("name", ["prod", "prod\n", "prod\r", "\nprod", "qa-2", "-qa", "Prod", "pr od", "a" * 64, "a" * 65])
def test_environment_names_are_checked_exactly_as_the_ledger_checks_them(
    tmp_path: Path, name: str, s3: Any, vault_bucket: str
) -> None:
    """`prod\\n` passed the schema (and was then not read-only) but the ledger refuses it."""
    from vault_actions.context import RunContext
    from vault_actions.store.ledger import Ledger

    def rename(d: Any) -> None:
        d["environments"][3]["name"] = name
        d["environments"][4]["mirror-of"] = name

    try:
        config.load(write(tmp_path, mutated(rename)))
        schema_ok = True
    except ConfigError as err:
        schema_ok = False
        assert repr(name) in str(err) and err.hint
    ctx = RunContext("octocat", None, None, None, None, "https://github.com", "https://api.github.com")
    try:
        Ledger(s3, vault_bucket).record("1.0.0", "deployed", name, ctx)
        ledger_ok = True
    except ValueError:
        ledger_ok = False
    assert schema_ok == ledger_ok


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("path", "/etc/../root/.ssh", "'/etc/../root/.ssh' leads to /root/.ssh"),
    ("path", "../x", "'../x' leads to"),
    ("dist", "../../../tmp", "'../../../tmp' leads to"),
    ("dist", "/etc", "'/etc' leads to /etc"),
])
def test_paths_outside_the_repository_are_refused(tmp_path: Path, key: str, value: str, shown: str) -> None:
    def point(d: Any) -> None:
        d["services"][0][key] = value

    with pytest.raises(ConfigError, match=rf"services\[price-fetcher\]\.{key}: {shown}") as err:
        config.load(write(tmp_path, mutated(point)))
    assert "outside the repository" in str(err.value) and "use a relative path inside it" in str(err.value)


def test_symlinks_out_of_the_repository_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy").mkdir()
    (repo / "services").mkdir()
    (repo / "services/price-fetcher").symlink_to(tmp_path)   # the service folder leads out
    (repo / "services/config-service").mkdir()
    (repo / "services/config-service/dist").symlink_to("/etc")  # so does a dist
    path = repo / "deploy/vault.yml"
    doc = mutated(lambda d: [s.update(path=f"../{s['path']}") for s in d["services"]])
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert f"services[price-fetcher].path: '../services/price-fetcher' leads to {tmp_path}, outside the repository {repo}" in message
    assert "services[config-service].dist: 'dist' leads to /etc" in message
    assert "services[price-fetcher].dist" in message  # its dist is outside too


def test_a_service_may_live_anywhere_inside_the_repository(tmp_path: Path) -> None:
    """vault.yml in a sub-folder may name sibling folders of the same repository."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy").mkdir()
    doc = mutated(lambda d: [s.update(path=f"../{s['path']}") for s in d["services"]])
    (repo / "deploy/vault.yml").write_text(yaml.safe_dump(doc))
    cfg = config.load(repo / "deploy/vault.yml")
    assert cfg.repository == repo and cfg.service("price-fetcher").path == repo / "services/price-fetcher"


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_TOKEN", "NPM_TOKEN", "INPUT_GITHUB_TOKEN", "RUNNER_TEMP"])
def test_build_env_never_names_credentials(tmp_path: Path, name: str) -> None:
    doc = mutated(lambda d: d["services"][0].update({"build-env": ["NODE_ENV", name]}))
    with pytest.raises(ConfigError, match=rf"services\[price-fetcher\]\.build-env: {name} is never handed to a build command"):
        config.load(write(tmp_path, doc))


def test_build_env_and_max_size_load(tmp_path: Path) -> None:
    doc = mutated(lambda d: d["services"][0].update({"build-env": ["NODE_ENV"], "max-size": 50_000_000}))
    svc = config.load(write(tmp_path, doc)).service("price-fetcher")
    assert (svc.build_env, svc.max_size) == (("NODE_ENV",), 50_000_000)
    too_big = mutated(lambda d: d["services"][0].update({"max-size": 262_144_001}))
    with pytest.raises(ConfigError, match=r"services\[price-fetcher\].max-size: 262144001 is not valid: expected the most bytes"):
        config.load(write(tmp_path, too_big))
