"""``vault init``: caller workflows pinned to the suite's ref, and a starter vault.yml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.act_harness import REPO_ROOT
from vault_actions import __version__, config
from vault_actions.cli.main import main
from vault_actions.errors import ConfigError
from vault_actions.setup import scaffold

PREFIX = "arn:aws:iam::123456789012:role/vault-"
SHA = "5" * 40  # the suite release commit the callers pin (--sha: no lookup)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere (as on a laptop that never signed in)."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_init_writes_pinned_callers_that_lint_clean(tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "Shop"
    repo.mkdir()
    assert main(["init", "--sha", SHA, "--dir", str(repo), "--role-arn-prefix", PREFIX]) == 0
    workflows = repo / ".github/workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["dr-sync.yml", "gate.yml", "release.yml",
                                                           "rollback.yml"]
    release = yaml.load((workflows / "release.yml").read_text(), Loader=yaml.BaseLoader)
    # the starter vault.yml's environments, one job each, between the Factory and the record
    assert list(release["jobs"]) == ["build", "dev", "qa", "uat", "prod", "record"]
    job = release["jobs"]["build"]
    assert job["uses"] == f"vault-actions/vault-actions/.github/workflows/vault-build.yml@{SHA}"
    assert f"vault-build.yml@{SHA} # v{__version__}\n" in (workflows / "release.yml").read_text()
    assert job["with"]["role-arn"] == f"{PREFIX}build"
    assert release["jobs"]["qa"]["with"]["role-arn"] == f"{PREFIX}qa"
    assert release["permissions"] == {}
    dr = yaml.load((workflows / "dr-sync.yml").read_text(), Loader=yaml.BaseLoader)
    assert dr["on"]["workflow_run"]["workflows"] == ["release"]
    assert "conclusion == 'success'" in dr["jobs"]["dr"]["if"]
    gate = yaml.load((workflows / "gate.yml").read_text(), Loader=yaml.BaseLoader)
    assert gate["on"]["workflow_dispatch"]["inputs"]["environment"]["options"] == ["uat", "prod"]
    with pytest.raises(ConfigError, match="placeholder"):
        config.load(repo / "vault.yml")

    files = sorted(str(p) for p in workflows.iterdir())
    subprocess.run(["actionlint", *files], check=True, capture_output=True)
    zizmor = subprocess.run(
        ["zizmor", "--offline", "--quiet", "--config", str(REPO_ROOT / "zizmor.yml"), *files],
        capture_output=True, text=True, check=False,
    )
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr


def test_init_keeps_existing_files_unless_forced(tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    mine = "# mine\nvault: {bucket: my-vault, region: us-east-1}\nservices: [{name: a}]\n" \
        "environments: [{name: dev, functions: {a: a-dev}}]\n"
    (tmp_path / "vault.yml").write_text(mine)
    assert main(["init", "--sha", SHA, "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, "--ref", "v1"]) == 0
    assert (tmp_path / "vault.yml").read_text() == mine
    out = capsys.readouterr().out
    assert "kept  vault.yml" in out and "wrote .github/workflows/release.yml" in out
    assert "pipeline from vault.yml: dev; gates: none; mirrors: none" in out
    assert sorted(p.name for p in (tmp_path / ".github/workflows").iterdir()) == ["release.yml", "rollback.yml"]
    assert main(["init", "--sha", SHA, "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, "--force"]) == 0
    assert "REPLACE-ME" in (tmp_path / "vault.yml").read_text()


def test_init_refuses_a_kept_vault_yml_it_cannot_read(tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vault.yml").write_text("vault: {bucket: b}\n")
    assert main(["init", "--sha", SHA, "--dir", str(tmp_path), "--role-arn-prefix", PREFIX]) == 2
    assert "vault.yml is invalid" in capsys.readouterr().err
    assert not (tmp_path / ".github").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--ref", "v1\nrun: evil"), ("--suite", "not a repo"), ("--role-arn-prefix", "arn:aws:iam::1:role/x")],
)
def test_init_refuses_values_that_break_the_yaml(tmp_path: Path, flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["init", "--sha", SHA, "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, flag, value]
    assert main(argv) == 2  # ConfigError
    assert f"{flag} " in capsys.readouterr().err
    assert not (tmp_path / ".github").exists()


# --- vault init reads the repository (issue 14, finding 3) ------------------------------


def _orders_and_payments(repo: Path) -> None:
    """The issue's repository: services/orders (Python) and services/payments (Python with
    a Makefile)."""
    orders = repo / "services/orders"
    (orders / "orders").mkdir(parents=True)
    (orders / "requirements.txt").write_text("# no third-party dependencies yet\n")
    (orders / "handler.py").write_text("from orders import total\n\ndef handler(e, c):\n    return total(e)\n")
    (orders / "orders/__init__.py").write_text("def total(e):\n    return sum(e['items'])\n")
    (orders / "test_handler.py").write_text("def test_x():\n    pass\n")
    payments = repo / "services/payments"
    (payments / "src").mkdir(parents=True)
    (payments / "src/payments.py").write_text("def handler(e, c):\n    return 'paid'\n")
    (payments / "requirements.txt").write_text("")
    (payments / "Makefile").write_text(
        "PYTHON ?= python3\n\nbuild:\n\trm -rf dist && mkdir -p dist && cp -R src/. dist/\n"
        "\ntest:\n\t$(PYTHON) -m pytest\n"
    )


def test_init_finds_the_services_and_their_builds(tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "shop"
    _orders_and_payments(repo)
    assert main(["init", "--sha", SHA, "--dir", str(repo), "--role-arn-prefix", PREFIX]) == 0
    out = capsys.readouterr().out
    doc = yaml.safe_load((repo / "vault.yml").read_text())
    assert doc["services"] == [
        {"name": "orders", "path": "services/orders",
         "build": "rm -rf dist && mkdir dist && python3 -m pip install -r requirements.txt "
                  "--target dist && cp -R handler.py orders dist/",
         "dist": "dist"},
        {"name": "payments", "path": "services/payments", "build": "make build", "dist": "dist"},
    ]
    assert {e["name"]: e["functions"] for e in doc["environments"]}["qa"] == {
        "orders": "orders-qa", "payments": "payments-qa"}
    assert "service orders: services/orders" in out and "Makefile: build target" in out

    # the written commands really build: each one fills its dist folder with the handler
    # (python3 is an interpreter with pip, as on a runner after setup-python; a uv venv has none)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys._base_executable)  # type: ignore[attr-defined]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    for service in doc["services"]:
        folder = repo / service["path"]
        done = subprocess.run(["bash", "-c", service["build"]], cwd=folder, env=env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        shipped = sorted(p.relative_to(folder / service["dist"]).as_posix()
                         for p in (folder / service["dist"]).rglob("*.py"))
        assert shipped == {"orders": ["handler.py", "orders/__init__.py"],
                           "payments": ["payments.py"]}[service["name"]]


def test_placeholders_fail_validate_naming_each_key(tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "shop"
    _orders_and_payments(repo)
    assert main(["init", "--sha", SHA, "--dir", str(repo), "--role-arn-prefix", PREFIX]) == 0
    assert "replace-me-vault-bucket (NoCredentialsError" in capsys.readouterr().out
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 2  # ConfigError
    err = capsys.readouterr().err
    assert "still holds 7 placeholders from `vault init`" in err
    for line in (
        "vault.bucket: 'replace-me-vault-bucket' is a placeholder; write the name of the bucket",
        "environments[dev].smoke.base-url: 'https://REPLACE-ME.dev.example.com' is a "
        "placeholder; write the URL this environment serves (or remove smoke:)",
        "environments[uat].gate.approvers[0]: 'your-qa-lead' is a placeholder; write the "
        "GitHub login of someone who may approve",
        "environments[prod].gate.approvers[0]: 'your-manager' is a placeholder",
        "environments[dr].bucket: 'replace-me-vault-bucket-dr' is a placeholder",
    ):
        assert line in err, err
    assert "→ fill in each key listed above" in err

    text = (repo / "vault.yml").read_text()
    for old, new in (("replace-me-vault-bucket", "shop-artifacts"), ("your-qa-lead", "octo-qa"),
                     ("your-manager", "octo-boss"), ("REPLACE-ME.", "")):
        text = text.replace(old, new)
    (repo / "vault.yml").write_text(text)
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 0
    assert "2 services; dev → qa → uat → prod" in capsys.readouterr().out


def test_the_bucket_is_unique_to_the_account(tmp_path: Path, aws_env: object, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "Shop_Front"
    _orders_and_payments(repo)
    assert main(["init", "--sha", SHA, "--dir", str(repo), "--role-arn-prefix", PREFIX, "--region", "eu-west-1",
                 "--dr-region", "eu-central-1"]) == 0
    doc = yaml.safe_load((repo / "vault.yml").read_text())
    assert doc["vault"]["bucket"] == "shop-front-vault-123456789012-eu-west-1"
    assert doc["environments"][-1]["bucket"] == "shop-front-vault-123456789012-eu-central-1"
    assert "(account 123456789012 (AWS credentials, sts:GetCallerIdentity))" in capsys.readouterr().out


def test_a_long_repository_name_still_makes_a_valid_bucket() -> None:
    name = scaffold.propose_bucket("a" * 80, "123456789012", "ap-southeast-2")
    assert len(name) == 63 and name.endswith("-vault-123456789012-ap-southeast-2")
    assert scaffold.propose_bucket("shop", None, "us-east-1") == "replace-me-vault-bucket"


def test_init_recognises_npm_python_make_and_go(tmp_path: Path) -> None:
    def files(folder: str, contents: dict[str, str]) -> None:
        for rel, text in contents.items():
            (tmp_path / folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / rel).write_text(text)

    files("apps/web", {"package.json": '{"scripts": {"build": "tsc -p ."}}',
                       "package-lock.json": "{}", "tsconfig.json": '{"compilerOptions": {"outDir": "./build"}}'})
    files("apps/bundle", {"package.json": '{"scripts": {"build": "esbuild src/i.ts --bundle --outdir=out"}}',
                          "yarn.lock": ""})
    files("packages/lib-only", {"package.json": '{"scripts": {"test": "jest"}}'})  # no build: no service
    files("packages/api", {"pyproject.toml": '[project]\nname = "api"\n'})
    files("services/api", {"go.mod": "module example.com/api\n"})
    files("services/notes", {"README.md": "just docs"})
    found = {s.name: s for s in scaffold.discover(tmp_path)}
    assert sorted(found) == ["bundle", "packages-api", "services-api", "web"]
    assert (found["web"].build, found["web"].dist) == ("npm ci && npm run build", "build")
    assert (found["bundle"].build, found["bundle"].dist) == ("yarn install --frozen-lockfile && yarn build", "out")
    assert found["packages-api"].build == "rm -rf dist && mkdir dist && python3 -m pip install --target dist ."
    assert found["services-api"].build.endswith("go build -tags lambda.norpc -o dist/bootstrap .")
    assert "GOOS=linux" in found["services-api"].build


def test_a_repository_that_is_one_service(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"scripts": {"build": "vite build"}}')
    (tmp_path / "dist").mkdir()
    [svc] = scaffold.discover(tmp_path)
    assert (svc.path, svc.build, svc.dist) == (".", "npm install && npm run build", "dist")


def test_nothing_found_leaves_a_build_placeholder(tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--sha", SHA, "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, "--bucket", "my-vault"]) == 0
    assert "no service found" in capsys.readouterr().out
    assert main(["validate", "--config", str(tmp_path / "vault.yml")]) == 2  # ConfigError
    assert "services[app].build: 'REPLACE-ME' is a placeholder; write the command that fills " \
        "the dist folder" in capsys.readouterr().err
