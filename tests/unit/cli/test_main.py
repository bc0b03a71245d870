"""A CLI that feels native: global flags anywhere, helpful help, readable config errors, colour."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import MotoServer, write_config
from vault_actions import config
from vault_actions.cli import style
from vault_actions.cli.main import COMMANDS, main
from vault_actions.errors import ConfigError

PUBLIC = [name for name, command in COMMANDS.items() if command.purpose != "==SUPPRESS=="]


@pytest.fixture
def vault_yml(tmp_path: Path) -> Path:
    return write_config(tmp_path, "my-org-artifacts-vault", ["price-fetcher", "config-service"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "validate", "--config", "{cfg}"],
        ["--config", "{cfg}", "--json", "validate"],
        ["-v", "--config", "{cfg}", "validate", "--json"],
        ["validate", "--json", "--config", "{cfg}"],
    ],
)
def test_global_flags_go_before_or_after_the_command(
    vault_yml: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(cfg=vault_yml) for a in argv]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True and data["config"] == str(vault_yml)


def test_json_before_status_reads_the_ledger(
    aws_env: MotoServer, vault_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's own example: `vault --json status` failed with "unrecognized arguments"."""
    cfg = write_config(tmp_path, vault_bucket, ["orders"])
    assert main(["--json", "--config", str(cfg), "status"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == []


def test_flag_after_the_command_wins_over_its_default(vault_yml: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A sub-command's default must not reset a global flag given before it."""
    assert main(["--config", str(tmp_path / "missing.yml"), "validate", "--config",
                 str(vault_yml)]) == 0
    assert main(["--config", str(vault_yml), "validate"]) == 0
    assert "is valid" in capsys.readouterr().out


@pytest.mark.parametrize("name", PUBLIC)
def test_every_command_help_has_purpose_example_and_exit_codes(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    command = COMMANDS[name]
    assert f"\n{command.purpose}.\n" in out
    example = out.split("example:\n", 1)[1].split("\n", 1)[0].strip()
    assert example.startswith("vault ") and f" {name} " in f" {example} "
    codes = out.split("exit codes:\n", 1)[1]
    for code in ("0", "1", "2", "130"):
        assert f"\n  {code} " in f"\n{codes}"
    assert command.fails in codes


def test_demo_help_offers_no_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--config" not in out and "--json" in out and "--yes" in out


def test_the_help_examples_parse() -> None:
    """Each example is a command line the parser accepts (no stale flags)."""
    from vault_actions.cli.main import build_parser

    for name in PUBLIC:
        argv = __import__("shlex").split(COMMANDS[name].example)[1:]
        args = build_parser(name).parse_args(argv)
        assert args.command == name


# --- YAML syntax errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "what", "caret_line", "hint"),
    [
        ("vault:\n  bucket: my: vault\n  region: us-east-1\n", ":2:13:",
         "a ':' where no key can start", "   2 |   bucket: my: vault\n     |             ^",
         "quote a value"),
        ("vault:\n\tbucket: x\n", ":2:1:", "a tab character", "   2 |  bucket: x\n     | ^",
         "indent with spaces"),
        ("vault:\n  bucket: x\n region: y\n", ":3:2:", "this line is not indented like the lines",
         "   3 |  region: y\n     |  ^", "same spaces"),
        ("services:\n  - name: 'orders\n    build: make\n", ":2:11:",
         "a quote opened here is never closed", "   2 |   - name: 'orders\n     |           ^",
         "close the quote"),
        ("vault: {bucket: x, region: y\nservices: []\n", ":2:9:",
         "an inline {…} mapping is not closed or lacks a ',' (it opened on line 1)",
         "   2 | services: []\n     |         ^", "close it with '}'"),
    ],
)
def test_yaml_syntax_errors_point_at_file_line_and_column(
    tmp_path: Path, text: str, where: str, what: str, caret_line: str | None, hint: str
) -> None:
    path = tmp_path / "vault.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = err.value.message
    assert message.startswith(f"{path}{where} not valid YAML: {what}"), message
    if caret_line:
        assert caret_line in message
    assert err.value.hint and hint in err.value.hint
    for jargon in ("<unicode string>", "<block", "scanning", "while parsing", "<stream"):
        assert jargon not in str(err.value)


def test_yaml_error_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vault.yml"
    path.write_text("vault:\n  bucket: a: b\n")
    assert main(["validate", "--config", str(path)]) == 2  # ConfigError
    err = capsys.readouterr().err
    assert f"error: {path}:2:12: not valid YAML" in err and "^" in err and "→ quote" in err


# --- key paths and "did you mean" -----------------------------------------------------


def _doc() -> dict[str, Any]:
    return {
        "vault": {"bucket": "my-org-artifacts-vault", "region": "us-east-1"},
        "services": [{"name": "price-fetcher", "buld": "make"}, {"name": "orders"}],
        "environments": [
            {"name": "dev", "functions": {"price-fetcher": "pf", "orders": "o"}},
            {"name": "staging", "functions": {"price-fetcher": "pf", "orders": "o"},
             "smoke": {"checks": [{"path": "/health", "stauts": 200}]}},
        ],
        "notificatons": {},
    }


def test_unknown_keys_name_the_service_and_suggest_the_key(tmp_path: Path) -> None:
    path = tmp_path / "vault.yml"
    path.write_text(yaml.safe_dump(_doc()))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = err.value.message
    assert "services[price-fetcher].buld: unknown key (did you mean 'build'?); allowed keys: " \
        "allow, build, build-env, dist, max-size, name, path" in message
    assert "environments[staging].smoke.checks[0].stauts: unknown key (did you mean " \
        "'status'?)" in message
    assert "notificatons: unknown key (did you mean 'notifications'?)" in message
    assert "services[0]" not in message and "environments[1]" not in message


def test_a_name_that_is_itself_invalid_keeps_the_index(tmp_path: Path) -> None:
    doc = _doc()
    doc["services"][0] = {"name": "$(reboot)"}
    with pytest.raises(ConfigError, match=r"services\[0\]\.name: '\$\(reboot\)' is not valid"):
        config.parse(doc, tmp_path / "vault.yml")


# --- colour ---------------------------------------------------------------------------


class _Tty:
    def isatty(self) -> bool:
        return True


def test_paint_colours_marked_lines_only_on_a_terminal_without_no_color() -> None:
    text = "✅ a: fine\n❌ b: broken\n   → do this\nplain"
    painted = style.paint(text, _Tty(), {})  # type: ignore[arg-type]
    assert painted.split("\n") == [
        "\033[32m✅ a: fine\033[0m", "\033[31m❌ b: broken\033[0m", "\033[2m   → do this\033[0m",
        "plain",
    ]
    assert style.paint(text, _Tty(), {"NO_COLOR": "1"}) == text  # type: ignore[arg-type]
    assert style.paint(text, _Tty(), {"TERM": "dumb"}) == text  # type: ignore[arg-type]
    assert style.paint(text, io.StringIO(), {}) == text


def _on_a_pty(argv: list[str], env: dict[str, str]) -> str:
    """Run ``vault`` with stdout and stderr on a pseudo-terminal; what it wrote."""
    leader, follower = pty.openpty()
    done = subprocess.run([sys.executable, "-m", "vault_actions", *argv], stdout=follower,
                          stderr=follower, env=env, check=False, timeout=60)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode == 2  # ConfigError
    return b"".join(chunks).decode()


def test_errors_are_red_on_a_terminal_and_plain_with_no_color(tmp_path: Path) -> None:
    path = tmp_path / "vault.yml"
    path.write_text("vault:\n  bucket: a: b\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "GITHUB_ACTIONS", "TERM")}
    coloured = _on_a_pty(["validate", "--config", str(path)], env)
    assert "\033[1m\033[31merror:\033[0m" in coloured
    plain = _on_a_pty(["validate", "--config", str(path)], {**env, "NO_COLOR": "1"})
    assert "\033[" not in plain and "error: " in plain
    piped = subprocess.run([sys.executable, "-m", "vault_actions", "validate", "--config",
                            str(path)], env=env, capture_output=True, text=True, check=False)
    assert "\033[" not in piped.stderr and piped.stderr.startswith("error: ")
