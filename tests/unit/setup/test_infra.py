"""infra/vault.yaml: lints clean, pins each role to its GitHub subject, deploys, and passes doctor.

moto's CloudFormation creates the buckets (with their encryption), the IAM roles and their
policies, but ignores what it does not implement: AWS::IAM::OIDCProvider, AWS::S3::BucketPolicy
and the bucket's VersioningConfiguration, ObjectLockConfiguration and
PublicAccessBlockConfiguration. ``deploy_vault`` creates exactly those through the API,
with the values read from the template itself, so what doctor inspects is the template's.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from tests.conftest import REPO_ROOT, MotoServer
from vault_actions import config
from vault_actions.integrations import aws
from vault_actions.setup import doctor
from vault_actions.store.protection import _resource_matches, as_list

TEMPLATE = REPO_ROOT / "infra" / "vault.yaml"
# One boto3 client per (service, region) for the session: the moto endpoint never changes.
client = functools.cache(aws.client)
ORG, REPO = "acme", "shop"
ACCOUNT = "123456789012"  # moto's default account
ENVIRONMENTS = ("dev", "qa", "uat", "prod", "dr")
SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"
ROLE_RESOURCES = {
    "build": "BuildRole", "gate": "GateRole", "dev": "DevRole", "qa": "QaRole",
    "uat": "UatRole", "prod": "ProdRole", "dr": "DrRole",
}


def load_template() -> dict[str, Any]:
    """The template as plain data; short tags (!Sub, !Ref…) become Fn::Sub, Ref…"""
    return dict(cfn_yaml.load(str(TEMPLATE)))


# --- a minimal evaluator for the intrinsic functions the template uses -----------------

def _evaluate(node: Any, refs: dict[str, str], conditions: dict[str, bool]) -> Any:
    if isinstance(node, list):
        return [_evaluate(n, refs, conditions) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return refs[arg]
        if fn == "Fn::Sub":
            return re.sub(r"\$\{([^}!]+)\}", lambda m: refs[m.group(1)], arg)
        if fn == "Fn::If":
            name, when_true, when_false = arg
            return _evaluate(when_true if conditions[name] else when_false, refs, conditions)
        if fn == "Fn::Equals":
            left, right = _evaluate(arg, refs, conditions)
            return left == right
        if fn == "Fn::And":
            return all(_evaluate(arg, refs, conditions))
        if fn == "Fn::Not":
            return not _evaluate(arg[0], refs, conditions)
        if fn == "Condition":
            return conditions[arg]
    return {k: _evaluate(v, refs, conditions) for k, v in node.items()}


def _conditions(template: dict[str, Any], refs: dict[str, str]) -> dict[str, bool]:
    conditions: dict[str, bool] = {}
    for name, expr in template["Conditions"].items():  # declared before use
        conditions[name] = bool(_evaluate(expr, refs, conditions))
    return conditions


# --- deploying the template into the moto server ----------------------------------------

@dataclass(frozen=True)
class Deployed:
    """Both stacks of infra/vault.yaml, deployed."""

    vault_bucket: str
    dr_bucket: str
    region: str
    dr_region: str
    roles: dict[str, str]  # "build", "gate", "dev"… -> role ARN
    params: dict[str, str]


def stack_parameters(vault_bucket: str, dr_bucket: str, role: str, prefix: str) -> dict[str, str]:
    return {
        "Role": role,
        "GitHubOrg": ORG,
        "GitHubRepo": REPO,
        "VaultBucketName": vault_bucket,
        "DrBucketName": dr_bucket,
        "DrRegion": "us-west-2",
        "RetentionMode": "GOVERNANCE",
        "RetentionDays": "30",
        "CreateOidcProvider": "false",
        "RoleNamePrefix": prefix,
    }


def create_stack(region: str, params: dict[str, str]) -> dict[str, str]:
    """Create one stack from the template; its outputs."""
    cfn = client("cloudformation", region)
    name = f"vault-{params['Role']}-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def bucket_config(region: str, params: dict[str, str], bucket: str) -> tuple[Any, Any]:
    """The template's Bucket properties and BucketPolicy document, evaluated for ``bucket``."""
    template = load_template()
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    refs = {**defaults, **params, "AWS::Partition": "aws", "AWS::AccountId": ACCOUNT,
            "AWS::Region": region, "Bucket": bucket}
    conditions = _conditions(template, refs)
    resources = template["Resources"]
    props = _evaluate(resources["Bucket"]["Properties"], refs, conditions)
    policy = _evaluate(resources["BucketPolicy"]["Properties"]["PolicyDocument"], refs, conditions)
    return props, policy


def apply_what_moto_ignores(region: str, params: dict[str, str], bucket: str) -> None:
    """Versioning, Object Lock, public access block and bucket policy, from the template."""
    props, policy = bucket_config(region, params, bucket)
    lock = props["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    s3 = client("s3", region)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": lock["ObjectLockEnabled"],
        "Rule": {"DefaultRetention": {"Mode": retention["Mode"], "Days": int(retention["Days"])}},
    })
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def deploy_vault(dr_stack_region: str = "us-west-2") -> Deployed:
    """Deploy the primary stack in us-east-1 and the DR stack (normally in us-west-2)."""
    suffix = uuid.uuid4().hex[:8]
    vault_bucket, dr_bucket, prefix = f"vault-{suffix}", f"vault-dr-{suffix}", f"v{suffix}"
    # AWS::IAM::OIDCProvider is not in moto's CloudFormation: create it like an account
    # that already has one (CreateOidcProvider=false).
    client("iam", "us-east-1").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )
    primary = stack_parameters(vault_bucket, dr_bucket, "primary", prefix)
    outputs = create_stack("us-east-1", primary)
    assert outputs["BucketName"] == vault_bucket
    apply_what_moto_ignores("us-east-1", primary, vault_bucket)
    dr = stack_parameters(vault_bucket, dr_bucket, "dr", prefix)
    dr_outputs = create_stack(dr_stack_region, dr)
    assert dr_outputs == {"BucketName": dr_bucket}, "the DR stack creates only its bucket"
    apply_what_moto_ignores(dr_stack_region, dr, dr_bucket)
    roles = {who: outputs[f"{logical}Arn"] for who, logical in ROLE_RESOURCES.items()}
    assert all(arn == outputs["RoleArnPrefix"] + who for who, arn in roles.items()), (
        "the workflow templates assume <aws-role-arn-prefix><job>"
    )
    return Deployed(vault_bucket, dr_bucket, "us-east-1", "us-west-2", roles, primary)


SERVICES = ("price-fetcher",)


def functions(env: str) -> dict[str, str]:
    """Function names that match the template's default patterns (*-dev, *-qa…)."""
    return {svc: f"{svc}-{env}" for svc in SERVICES}


def write_vault_yml(root: Path, deployed: Deployed, *, vault_bucket: str | None = None) -> Path:
    """vault.yml for the deployed stacks: dev → qa → uat → prod, dr mirrors prod."""
    doc = {
        "vault": {"bucket": vault_bucket or deployed.vault_bucket, "region": deployed.region},
        "services": [{"name": s, "path": f"services/{s}"} for s in SERVICES],
        "environments": [
            *({"name": env, "functions": functions(env)} for env in ENVIRONMENTS[:4]),
            {"name": "dr", "mirror-of": "prod", "region": deployed.dr_region,
             "bucket": deployed.dr_bucket, "functions": functions("dr")},
        ],
    }
    path = root / "vault.yml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def create_functions(deployed: Deployed) -> None:
    """Every function of write_vault_yml, each with its environment's deploy role."""
    for env in ENVIRONMENTS:
        region = deployed.dr_region if env == "dr" else deployed.region
        lambda_ = client("lambda", region)
        for name in functions(env).values():
            lambda_.create_function(
                FunctionName=name, Runtime="python3.12", Role=deployed.roles[env],
                Handler="app.handler", Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
            )


# --- tests --------------------------------------------------------------------------------

def test_cfn_lint_is_clean() -> None:
    exe = Path(sys.executable).parent / "cfn-lint"
    # Both regions the template deploys to: the primary stack's and DrRegion's default.
    done = subprocess.run(
        [str(exe), "--regions", "us-east-1", "us-west-2", "--", str(TEMPLATE)],
        check=False, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# The workflow each role's jobs run (job_workflow_ref), and their context.
SUITE_WORKFLOW = {"build": "vault-release.yml", "gate": "vault-gate.yml", "dr": "vault-dr-sync.yml"}


def expected_subject(who: str) -> str:
    """The ``sub`` each role trusts, as the template writes it (with its parameters)."""
    context = "ref:${MainRef}" if who in ("build", "gate") else f"environment:{who}"
    workflow = SUITE_WORKFLOW.get(who, "vault-release.yml")
    return (f"repo:${{GitHubOrg}}/${{GitHubRepo}}:{context}:job_workflow_ref:"
            f"${{SuiteRepository}}/.github/workflows/{workflow}@${{SuiteRef}}")


@pytest.mark.parametrize("who", ROLE_RESOURCES)
def test_each_role_trusts_one_context_of_one_suite_workflow(who: str) -> None:
    role = load_template()["Resources"][ROLE_RESOURCES[who]]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        AUD: "sts.amazonaws.com", SUB: {"Fn::Sub": expected_subject(who)},
    }}


def github_subject(context: str, workflow_ref: str | None) -> str:
    """The ``sub`` GitHub puts in a job's OIDC token: with the repository's customisation
    (include_claim_keys repo, context, job_workflow_ref, which `vault setup-environments`
    sets) when ``workflow_ref`` is given, else GitHub's default ``repo:…:<context>``."""
    default = f"repo:{ORG}/{REPO}:{context}"
    return f"{default}:job_workflow_ref:{workflow_ref}" if workflow_ref else default


def suite_ref(workflow: str, ref: str = "refs/tags/v1") -> str:
    return f"vault-actions/vault-actions/.github/workflows/{workflow}@{ref}"


# Every job a token could come from: the suite's own jobs, and what an attacker with the
# repository could run instead (its own workflow, another ref, an uncustomised subject).
JOBS = {
    "release/publish+record": github_subject("ref:refs/heads/main", suite_ref("vault-release.yml")),
    **{f"release/{env}": github_subject(f"environment:{env}", suite_ref("vault-release.yml"))
       for env in ENVIRONMENTS[:4]},
    "gate/decide": github_subject("ref:refs/heads/main", suite_ref("vault-gate.yml")),
    "dr-sync/dr": github_subject("environment:dr", suite_ref("vault-dr-sync.yml")),
    "release in env dr": github_subject("environment:dr", suite_ref("vault-release.yml")),
    "gate workflow in env prod": github_subject("environment:prod", suite_ref("vault-gate.yml")),
    "the repo's own workflow": github_subject(
        "ref:refs/heads/main", f"{ORG}/{REPO}/.github/workflows/evil.yml@refs/heads/main"),
    "suite at another ref": github_subject(
        "ref:refs/heads/main", suite_ref("vault-release.yml", "refs/heads/feature")),
    "default subject, main": github_subject("ref:refs/heads/main", None),
    "default subject, prod": github_subject("environment:prod", None),
}
ASSUMES = {"release/publish+record": "build", "gate/decide": "gate", "dr-sync/dr": "dr",
           **{f"release/{env}": env for env in ENVIRONMENTS[:4]}}


def test_no_job_can_become_another_jobs_role(aws_env: MotoServer) -> None:
    """Finding 3: the build and gate roles trusted the same subject, so a build job could
    assume the gate role and record approvals. Each deployed role's trust policy, evaluated
    against the subject of every job: only its own job gets in."""
    deployed = deploy_vault()
    iam = client("iam", "us-east-1")
    trusted: dict[str, set[str]] = {}
    for who, arn in deployed.roles.items():
        trust = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
        (statement,) = (json.loads(trust) if isinstance(trust, str) else trust)["Statement"]
        equals = statement["Condition"]["StringEquals"]
        assert set(statement["Condition"]) == {"StringEquals"}  # never StringLike
        for job, subject in JOBS.items():
            if equals == {AUD: "sts.amazonaws.com", SUB: subject}:
                trusted.setdefault(job, set()).add(who)
    assert trusted == {job: {who} for job, who in ASSUMES.items()}


@pytest.mark.parametrize("who", ROLE_RESOURCES)
def test_each_role_writes_events_only_in_its_own_ledger_folder(
    who: str, aws_env: MotoServer
) -> None:
    """Finding 3's second wall: the dev role could append anything under ledger/ (say, an
    approval for prod). Now each role's s3:PutObject on the ledger covers only
    ledger/v*/<its job>/ (the ledger reads an event only from its writer's folder)."""
    deployed = deploy_vault()
    iam = client("iam", "us-east-1")
    statements = _role_statements(iam, deployed.roles[who].rsplit("/", 1)[1])
    puts = [r for s in statements if "s3:PutObject" in as_list(s["Action"])
            for r in as_list(s["Resource"])]

    def may_put(key: str) -> bool:
        return any(_resource_matches(r, f"{deployed.vault_bucket}/{key}") for r in puts)

    for folder in ROLE_RESOURCES:
        assert may_put(f"ledger/v1.0.1/{folder}/20260301T100000000000Z-x.json") == (
            folder == who), (who, folder)
    assert not may_put("ledger/v1.0.1/20260301T100000000000Z-x.json")
    assert may_put("v1.0.1/manifest.json") == (who == "build")
    for env in ENVIRONMENTS:  # the live index: a deployer points only at its own deploys
        assert may_put(f"ledger/_index/live/{env}/x_1.0.1_y.json") == (env == who), (who, env)


def _role_statements(iam: Any, role_name: str) -> list[dict[str, Any]]:
    """Every Allow statement of a deployed role, inline and attached."""
    docs = [iam.get_role_policy(RoleName=role_name, PolicyName=p)["PolicyDocument"]
            for p in iam.list_role_policies(RoleName=role_name)["PolicyNames"]]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        docs.append(iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)
                    ["PolicyVersion"]["Document"])
    return [s for d in map(_document, docs) for s in as_list(d["Statement"])
            if s["Effect"] == "Allow"]


def _document(raw: Any) -> dict[str, Any]:
    """A policy document from IAM: a dict, JSON, or (moto's inline policies made by
    CloudFormation) a Python repr."""
    if not isinstance(raw, str):
        return dict(raw)
    try:
        return dict(json.loads(raw))
    except json.JSONDecodeError:
        return dict(ast.literal_eval(raw))


def test_deployed_roles_pin_the_subject_and_keep_least_privilege(
    aws_env: MotoServer,
) -> None:
    deployed = deploy_vault()
    iam = client("iam", "us-east-1")
    vault_versions = f"arn:aws:s3:::{deployed.vault_bucket}/v*"
    for who, arn in deployed.roles.items():
        role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        subject = expected_subject(who).replace("${GitHubOrg}/${GitHubRepo}", f"{ORG}/{REPO}")
        subject = subject.replace("${MainRef}", "refs/heads/main").replace(
            "${SuiteRepository}", "vault-actions/vault-actions").replace("${SuiteRef}",
                                                                         "refs/tags/v1")
        assert trust["Statement"][0]["Condition"]["StringEquals"][SUB] == subject
        assert trust["Statement"][0]["Principal"]["Federated"] == (
            f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
        )
        statements = _role_statements(iam, role["RoleName"])
        actions = {a for s in statements for a in as_list(s["Action"])}
        assert not any(a.startswith("s3:Delete") or a in ("s3:*", "*") for a in actions), who
        writes_versions = any(
            "s3:PutObject" in as_list(s["Action"])
            and vault_versions in as_list(s["Resource"])
            for s in statements
        )
        assert writes_versions == (who == "build"), who
        lambda_arns = {r for s in statements if str(s["Action"]).count("lambda:")
                      for r in as_list(s["Resource"])}
        if who in ("build", "gate"):
            assert not lambda_arns, who
        else:  # only its own environment's functions, in its own region
            region = "us-west-2" if who == "dr" else "us-east-1"
            own = f"arn:aws:lambda:{region}:{ACCOUNT}:function:*-{who}"
            assert lambda_arns == {own, f"{own}:*"}, who


def test_template_deploys_in_both_regions_and_doctor_passes(
    aws_env: MotoServer, tmp_path: Path
) -> None:
    deployed = deploy_vault()
    create_functions(deployed)
    report = doctor.examine(config.load(write_vault_yml(tmp_path, deployed)), client)
    assert report.ok, doctor.render(report)
    names = {i.name for i in report.items}
    for bucket in (deployed.vault_bucket, deployed.dr_bucket):
        assert {f"{bucket}: {check}" for check in (
            "region", "versioning", "object-lock", "public-access-block", "encryption",
            "deny-delete", "conditional-write", "tls-only",
        )} <= names
    lock = next(i for i in report.items if i.name == f"{deployed.dr_bucket}: object-lock")
    assert lock.detail == "enabled; default retention GOVERNANCE 30 days"


def test_the_roles_that_put_a_version_live_may_write_its_live_pointer() -> None:
    """Issue 12: each deployed/dr_synced event's pointer (ledger/_index/live/<env>/…) is
    written first by the same job, so each deployer may write its own environment's
    pointers (and no other's: test_each_role_writes_events_only_in_its_own_ledger_folder)."""
    resources = load_template()["Resources"]
    for env in ENVIRONMENTS:
        policies = resources[ROLE_RESOURCES[env]]["Properties"]["Policies"]
        resources_ = [r["Fn::Sub"] for p in policies for st in p["PolicyDocument"]["Statement"]
                      if st["Action"] == "s3:PutObject" for r in as_list(st["Resource"])]
        assert f"arn:${{AWS::Partition}}:s3:::${{VaultBucketName}}/ledger/_index/live/{env}/*" in (
            resources_), env
