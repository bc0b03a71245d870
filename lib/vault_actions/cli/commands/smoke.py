"""``vault smoke`` and action-smoke: the brake between environments.

A passing smoke test records ``smoke_passed``; a failing one records ``smoke_failed``
(the version dies there, ``deliver.smoke_release``) and then raises SmokeFailed so
the pipeline stops.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault_actions import config, context
from vault_actions.cli import gha
from vault_actions.cli.commands import Result, open_ledger
from vault_actions.errors import ConfigError
from vault_actions.text import plural

if TYPE_CHECKING:
    from vault_actions.deliver.smoke import SmokeReport

@dataclass(frozen=True)
class SmokeInputs:
    """action-smoke's inputs (working-directory is applied by the action's step)."""

    environment: str = ""
    version: str = ""
    config: str = config.DEFAULT_CONFIG
    base_url: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    """``--env``, ``--version`` and an optional ``--base-url`` override."""
    parser.add_argument("--env", required=True, metavar="ENV", help="environment to test")
    parser.add_argument(
        "--version", dest="release_version", required=True, metavar="X.Y.Z",
        help="the release deployed there (1.2.3 or v1.2.3)",
    )
    parser.add_argument(
        "--base-url", metavar="URL",
        help="base URL of the checks (default: smoke.base-url of the environment)",
    )


def run(args: argparse.Namespace) -> Result:
    """Smoke-test the release; exit 4 (SmokeFailed) after recording a failure."""
    report = smoke_test(args.config, args.env, args.release_version, args.base_url)
    return _finish(report)


def run_action() -> Result:
    """action-smoke: inputs from INPUT_*; outputs ``result`` and ``results``."""
    from vault_actions.deliver import smoke

    inputs = gha.read_inputs(SmokeInputs)
    for name in ("environment", "version"):
        if not getattr(inputs, name):
            raise ConfigError(
                f"action-smoke input '{name}' is empty",
                f"set {name}: in the step's with: block",
            )
    report = smoke_test(inputs.config, inputs.environment, inputs.version, inputs.base_url)
    gha.set_output("result", _verdict(report))
    gha.set_output("results", smoke.results_json(report) if report else "[]")
    return _finish(report)


def smoke_test(
    config_path: str, env_name: str, raw_version: str, base_url: str | None
) -> SmokeReport | None:
    """Parse, build the ledger, run ``deliver.smoke_release`` in a log group.

    None when the environment has no smoke settings (it counts as passed once deployed).
    """
    from vault_actions.deliver import smoke
    from vault_actions.deliver.smoke_release import smoke_release
    from vault_actions.store.manifest import validate_version

    version = validate_version(raw_version)
    cfg = config.load(config_path)
    env = cfg.environment(env_name)
    if not env.smoke_tested:
        gha.add_summary(f"### Smoke tests: v{version} in {env.name}\n\nNo smoke settings.")
        return None
    with gha.group(f"Smoke tests: v{version} in {env.name}"):
        report = smoke_release(
            cfg, env, version, ledger=open_ledger(cfg), ctx=context.RunContext.from_env(),
            base_url=base_url or None, runner=gha,
        )
    gha.add_summary(smoke.markdown(report))
    return report


def _verdict(report: SmokeReport | None) -> str:
    if report is None:
        return "skipped"
    return "passed" if report.passed else "failed"


def _finish(report: SmokeReport | None) -> Result:
    """The command's Result; SmokeFailed listing the failing checks (``check_passed``)."""
    from vault_actions.deliver.smoke_release import check_passed

    if report is None:
        return Result({"result": "skipped"}, "No smoke settings for this environment; skipped.")
    check_passed(report)
    data = {"result": "passed", **report.to_json()}
    text = (
        f"v{report.version} passed {plural(len(report.results), 'smoke check')} in {report.env} "
        f"in {report.duration:.1f} s"
    )
    return Result(data, text)
