"""Each action's typed inputs: parsed once from INPUT_*, and in agreement with its action.yml."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from vault_actions.cli import gha
from vault_actions.cli.commands import action
from vault_actions.cli.commands.build import BuildInputs
from vault_actions.cli.commands.conclude import ReportInputs
from vault_actions.cli.commands.deploy import DeployInputs
from vault_actions.cli.commands.dr_sync import DrSyncInputs
from vault_actions.cli.commands.gate import GateInputs
from vault_actions.cli.commands.rollback import RollbackInputs
from vault_actions.cli.commands.smoke import SmokeInputs
from vault_actions.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
INPUTS: dict[str, type[Any]] = {
    "build": BuildInputs,
    "deploy": DeployInputs,
    "dr-sync": DrSyncInputs,
    "gate": GateInputs,
    "report": ReportInputs,
    "rollback": RollbackInputs,
    "smoke": SmokeInputs,
}
# Inputs the action's own steps consume (setup-python, the step's working-directory, the
# GITHUB_TOKEN variable): not part of the Python dataclass.
STEP_INPUTS = {"working-directory", "python-version", "github-token"}


def action_yml(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / f"action-{name}" / "action.yml").read_text())
    return loaded


def test_every_action_has_a_typed_inputs_dataclass() -> None:
    folders = {p.parent.name.removeprefix("action-") for p in ROOT.glob("action-*/action.yml")}
    assert folders == set(INPUTS) == set(action.ACTIONS)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_action_yml_inputs_and_defaults_agree_with_the_dataclass(name: str) -> None:
    declared = action_yml(name)["inputs"]
    fields = {gha.input_name(f): f for f in dataclasses.fields(INPUTS[name])}
    kinds = typing.get_type_hints(INPUTS[name])
    assert set(declared) - STEP_INPUTS == set(fields)
    for input_name, field in fields.items():
        spec = declared[input_name]
        default = (field.default_factory() if field.default_factory is not dataclasses.MISSING
                   else field.default)
        if spec.get("required"):
            assert "default" not in spec, input_name
            assert default == "", f"{name}.{input_name}: a required input has no default"
        else:
            parsed = gha.parse_input(field, kinds[field.name], str(spec["default"]))
            assert parsed == default, f"{name}.{input_name}: {spec['default']!r} != {default!r}"


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_field_reaches_python_through_its_input_variable(name: str) -> None:
    """The step that runs ``vault action NAME`` passes INPUT_<FIELD> from ``inputs.<name>``."""
    steps = action_yml(name)["runs"]["steps"]
    [run] = [s for s in steps if f"vault_actions action {name}" in str(s.get("run", ""))]
    for field in dataclasses.fields(INPUTS[name]):
        value = run["env"][f"INPUT_{field.name.upper()}"]
        assert value == f"${{{{ inputs.{gha.input_name(field)} }}}}"


def test_inputs_are_parsed_to_their_types_once() -> None:
    deploy = gha.read_inputs(DeployInputs, {"INPUT_PARALLEL": " 3 ", "INPUT_VERSION": "v1.0.0"})
    assert deploy.parallel == 3 and deploy.version == "v1.0.0" and deploy.environment == ""
    build = gha.read_inputs(BuildInputs, {"INPUT_PUSH_TAG": "false"})
    assert build.push_tag is False
    report = gha.read_inputs(ReportInputs, {"INPUT_STAGES": '{"qa": {"result": "failure"}}'})
    assert report.stages == {"qa": {"result": "failure"}}
    assert gha.read_inputs(ReportInputs, {}).stages == {}


@pytest.mark.parametrize(("cls", "env", "message"), [
    (DeployInputs, {"INPUT_PARALLEL": "0"}, "input 'parallel' is '0'"),
    (DeployInputs, {"INPUT_PARALLEL": "2.5"}, "input 'parallel' is '2.5'"),
    (BuildInputs, {"INPUT_PUSH_TAG": "yes"}, "input 'push-tag' is 'yes'"),
    (ReportInputs, {"INPUT_STAGES": "{nope"}, "input 'stages' is not JSON"),
])
def test_a_bad_input_is_a_config_error_naming_it(cls: type[Any], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        gha.read_inputs(cls, env)
    assert caught.value.hint
