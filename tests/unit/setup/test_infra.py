"""infra/vault.yaml and infra/stage.yaml: lint clean, pin each role to its GitHub subject,
grant exactly the listed stage roles, deploy, and pass doctor.

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
STAGE_TEMPLATE = REPO_ROOT / "infra" / "stage.yaml"
# One boto3 client per (service, region) for the session: the moto endpoint never changes.
client = functools.cache(aws.client)
ORG, REPO = "acme", "shop"
ACCOUNT = "123456789012"  # moto's default account
ENVIRONMENTS = ("dev", "qa", "uat", "prod", "dr")
SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"
STAGES = ENVIRONMENTS[:4]  # each from its own infra/stage.yaml stack
ROLE_RESOURCES = {"build": "BuildRole", "gate": "GateRole", "dr": "DrRole"}  # vault.yaml's
ROLES = (*ROLE_RESOURCES, *STAGES)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """A template as plain data; short tags (!Sub, !Ref…) become Fn::Sub, Ref…"""
    return dict(cfn_yaml.load(str(path)))


# --- a minimal evaluator for the intrinsic functions the template uses -----------------

NO_VALUE = object()  # Ref AWS::NoValue: the item or key disappears


def _evaluate(node: Any, refs: dict[str, str], conditions: dict[str, bool]) -> Any:
    if isinstance(node, list):
        return [v for n in node if (v := _evaluate(n, refs, conditions)) is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return NO_VALUE if arg == "AWS::NoValue" else refs[arg]
        if fn == "Fn::GetAtt":
            return refs[".".join(arg) if isinstance(arg, list) else arg]
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else arg
            local = {**refs, **{k: _evaluate(v, refs, conditions) for k, v in names.items()}}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: local[m.group(1)], text)
        if fn == "Fn::Split":
            separator, value = arg
            return str(_evaluate(value, refs, conditions)).split(separator)
        if fn == "Fn::Select":
            index, values = arg
            return _evaluate(values, refs, conditions)[int(index)]
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
    return {k: v for k, value in node.items()
            if (v := _evaluate(value, refs, conditions)) is not NO_VALUE}


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


def stack_parameters(vault_bucket: str, dr_bucket: str, role: str, prefix: str,
                     stages: dict[str, str] | None = None) -> dict[str, str]:
    """The vault stack's parameters; ``stages``: environment -> its deploy role's ARN."""
    stages = stages or {}
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
        "Stages": ",".join(stages),
        "StageRoleArns": ",".join(stages.values()),
    }


def stage_parameters(env: str, vault_bucket: str, **extra: str) -> dict[str, str]:
    """infra/stage.yaml's parameters for ``env`` (the account has the OIDC provider)."""
    return {"Environment": env, "GitHubOrg": ORG, "GitHubRepo": REPO,
            "VaultBucketName": vault_bucket, "CreateOidcProvider": "false", **extra}


def create_stack(region: str, params: dict[str, str], template: Path = TEMPLATE,
                 cfn: Any = None) -> dict[str, str]:
    """Create one stack from a template; its outputs."""
    cfn = cfn or client("cloudformation", region)
    name = f"{template.stem}-{params.get('Role', params.get('Environment'))}-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=template.read_text(),
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
            "AWS::Region": region, "Bucket": bucket,
            "VaultKey.Arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{'0' * 8}-0000-0000-0000-{'0' * 12}"}
    conditions = _conditions(template, refs)
    resources = template["Resources"]
    props = _evaluate(resources["Bucket"]["Properties"], refs, conditions)
    policy = _evaluate(resources["BucketPolicy"]["Properties"]["PolicyDocument"], refs, conditions)
    return props, policy


def key_policy(region: str, params: dict[str, str]) -> Any:
    """The VaultKey's key policy, evaluated (Encryption=aws:kms)."""
    template = load_template()
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    refs = {**defaults, **params, "AWS::Partition": "aws", "AWS::AccountId": ACCOUNT,
            "AWS::Region": region}
    conditions = _conditions(template, refs)
    assert conditions["UseKms"]
    return _evaluate(template["Resources"]["VaultKey"]["Properties"]["KeyPolicy"], refs,
                     conditions)


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
    """One infra/stage.yaml stack per environment (here all in the vault's account, named
    <prefix>-<env>), then the vault's primary stack in us-east-1 listing their roles, and
    the DR stack (normally in us-west-2)."""
    suffix = uuid.uuid4().hex[:8]
    vault_bucket, dr_bucket, prefix = f"vault-{suffix}", f"vault-dr-{suffix}", f"v{suffix}"
    # AWS::IAM::OIDCProvider is not in moto's CloudFormation: create it like an account
    # that already has one (CreateOidcProvider=false).
    client("iam", "us-east-1").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )
    stages = {env: create_stack("us-east-1", stage_parameters(
        env, vault_bucket, RoleName=f"{prefix}-{env}"), STAGE_TEMPLATE)["RoleArn"]
        for env in STAGES}
    primary = stack_parameters(vault_bucket, dr_bucket, "primary", prefix, stages)
    outputs = create_stack("us-east-1", primary)
    assert outputs["BucketName"] == vault_bucket
    apply_what_moto_ignores("us-east-1", primary, vault_bucket)
    dr = stack_parameters(vault_bucket, dr_bucket, "dr", prefix, stages)
    dr_outputs = create_stack(dr_stack_region, dr)
    assert dr_outputs == {"BucketName": dr_bucket}, "the DR stack creates only its bucket"
    apply_what_moto_ignores(dr_stack_region, dr, dr_bucket)
    roles = {**{who: outputs[f"{logical}Arn"] for who, logical in ROLE_RESOURCES.items()},
             **stages}
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
        [str(exe), "--regions", "us-east-1", "us-west-2", "--", str(TEMPLATE), str(STAGE_TEMPLATE)],
        check=False, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# The workflows each role's jobs run (job_workflow_ref), and their context.
SUITE_WORKFLOWS = {"build": ("vault-build.yml", "vault-record.yml"), "gate": ("vault-gate.yml",),
                   "dr": ("vault-dr-sync.yml",)}


def expected_subjects(who: str) -> list[str]:
    """The ``sub`` values each role trusts, as its template writes them (with parameters)."""
    env = "dr" if who == "dr" else "${Environment}"  # a stage role: its stack's Environment
    context = "ref:${MainRef}" if who in ("build", "gate") else f"environment:{env}"
    return [f"repo:${{GitHubOrg}}/${{GitHubRepo}}:{context}:job_workflow_ref:"
            f"${{SuiteRepository}}/.github/workflows/{workflow}@${{SuiteRef}}"
            for workflow in SUITE_WORKFLOWS.get(who, ("vault-stage.yml", "vault-rollback.yml"))]


def trust_statement(who: str) -> dict[str, Any]:
    if who in ROLE_RESOURCES:
        role = load_template()["Resources"][ROLE_RESOURCES[who]]
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        return dict(statement)
    role = load_template(STAGE_TEMPLATE)["Resources"]["DeployRole"]
    statement, operator = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert operator["Fn::If"][0] == "HasOperator"
    return dict(statement)


@pytest.mark.parametrize("who", ["build", "gate", "dr", "stage"])
def test_each_role_trusts_one_context_of_its_suite_workflows(who: str) -> None:
    statement = trust_statement(who)
    subjects = [{"Fn::Sub": sub} for sub in expected_subjects(who)]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        AUD: "sts.amazonaws.com", SUB: subjects if len(subjects) > 1 else subjects[0],
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
    "build/publish": github_subject("ref:refs/heads/main", suite_ref("vault-build.yml")),
    "record": github_subject("ref:refs/heads/main", suite_ref("vault-record.yml")),
    **{f"stage/{env}": github_subject(f"environment:{env}", suite_ref("vault-stage.yml"))
       for env in STAGES},
    "gate/decide": github_subject("ref:refs/heads/main", suite_ref("vault-gate.yml")),
    "dr-sync/dr": github_subject("environment:dr", suite_ref("vault-dr-sync.yml")),
    "stage in env dr": github_subject("environment:dr", suite_ref("vault-stage.yml")),
    "build workflow in env prod": github_subject("environment:prod", suite_ref("vault-build.yml")),
    "stage workflow on main": github_subject("ref:refs/heads/main", suite_ref("vault-stage.yml")),
    "gate workflow in env prod": github_subject("environment:prod", suite_ref("vault-gate.yml")),
    "the old release workflow": github_subject("ref:refs/heads/main",
                                               suite_ref("vault-release.yml")),
    "the repo's own workflow": github_subject(
        "ref:refs/heads/main", f"{ORG}/{REPO}/.github/workflows/evil.yml@refs/heads/main"),
    "suite at another ref": github_subject(
        "ref:refs/heads/main", suite_ref("vault-build.yml", "refs/heads/feature")),
    "default subject, main": github_subject("ref:refs/heads/main", None),
    "default subject, prod": github_subject("environment:prod", None),
}
ASSUMES = {"build/publish": "build", "record": "build", "gate/decide": "gate",
           "dr-sync/dr": "dr", **{f"stage/{env}": env for env in STAGES}}


def test_no_job_can_become_another_jobs_role(aws_env: MotoServer) -> None:
    """Finding 3: the build and gate roles trusted the same subject, so a build job could
    assume the gate role and record approvals. Each deployed role's trust policy, evaluated
    against the subject of every job: only its own jobs get in."""
    deployed = deploy_vault()
    iam = client("iam", "us-east-1")
    trusted: dict[str, set[str]] = {}
    for who, arn in deployed.roles.items():
        trust = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
        (statement,) = _document(trust)["Statement"]
        equals = statement["Condition"]["StringEquals"]
        assert set(statement["Condition"]) == {"StringEquals"}  # never StringLike
        assert equals[AUD] == "sts.amazonaws.com"
        for job, subject in JOBS.items():
            if subject in as_list(equals[SUB]):
                trusted.setdefault(job, set()).add(who)
    assert trusted == {job: {who} for job, who in ASSUMES.items()}


@pytest.mark.parametrize("who", ROLES)
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

    for folder in ROLES:
        assert may_put(f"ledger/v1.0.1/{folder}/20260301T100000000000Z-x.json") == (
            folder == who), (who, folder)
    assert not may_put("ledger/v1.0.1/20260301T100000000000Z-x.json")
    assert may_put("v1.0.1/manifest.json") == (who == "build")
    for env in ENVIRONMENTS:  # the live index: a deployer points only at its own deploys
        assert may_put(f"ledger/_index/live/{env}/x_1.0.1_y.json") == (env == who), (who, env)
    # the feed: every writer names its events there (names only, never believed)
    assert may_put("ledger/_index/feed/202612/98203869089862797_e_1.0.1_dev_x.ab")


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
    CloudFormation) a Python repr. moto's CloudFormation leaves a list item that is
    ``!Ref AWS::NoValue`` as null: dropped, as CloudFormation does."""
    if not isinstance(raw, str):
        document = dict(raw)
    else:
        try:
            document = dict(json.loads(raw))
        except json.JSONDecodeError:
            document = dict(ast.literal_eval(raw))
    document["Statement"] = [s for s in as_list(document["Statement"]) if s is not None]
    return document


def _filled(subject: str, env: str) -> str:
    return (subject.replace("${GitHubOrg}/${GitHubRepo}", f"{ORG}/{REPO}")
            .replace("${MainRef}", "refs/heads/main").replace("${Environment}", env)
            .replace("${SuiteRepository}", "vault-actions/vault-actions")
            .replace("${SuiteRef}", "refs/tags/v1"))


def test_deployed_roles_pin_the_subject_and_keep_least_privilege(
    aws_env: MotoServer,
) -> None:
    deployed = deploy_vault()
    iam = client("iam", "us-east-1")
    vault_versions = f"arn:aws:s3:::{deployed.vault_bucket}/v*"
    for who, arn in deployed.roles.items():
        role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
        trust = _document(role["AssumeRolePolicyDocument"])
        subjects = [_filled(sub, who) for sub in expected_subjects(who)]
        found = trust["Statement"][0]["Condition"]["StringEquals"][SUB]
        assert as_list(found) == subjects, who
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
    for policies, env in (
        (load_template()["Resources"]["DrRole"]["Properties"]["Policies"], "dr"),
        (load_template(STAGE_TEMPLATE)["Resources"]["DeployRole"]["Properties"]["Policies"],
         "${Environment}"),
    ):
        resources_ = [r["Fn::Sub"] for p in policies for st in p["PolicyDocument"]["Statement"]
                      if "Action" in st and st["Action"] == "s3:PutObject"
                      for r in as_list(st["Resource"])]
        assert f"arn:${{AWS::Partition}}:s3:::${{VaultBucketName}}/ledger/_index/live/{env}/*" in (
            resources_), env


# --- one AWS account per environment (issue 14, finding 2) --------------------------------

DEV_ACCOUNT, STAGING_ACCOUNT, PROD_ACCOUNT = "111111111111", "333333333333", "222222222222"
STAGE_ROLES = {
    "dev": f"arn:aws:iam::{DEV_ACCOUNT}:role/vault-dev",
    "staging": f"arn:aws:iam::{STAGING_ACCOUNT}:role/vault-staging",
    "prod": f"arn:aws:iam::{PROD_ACCOUNT}:role/deployers/vault-prod",
}


def grants(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if s["Effect"] == "Allow"]


def allowed(policy: dict[str, Any], principal: str, action: str, key: str, bucket: str) -> bool:
    """Does an Allow statement of the bucket policy grant ``principal`` ``action`` on
    ``key`` ('' for the bucket itself)?"""
    resource = f"{bucket}/{key}" if key else bucket
    return any(
        principal in as_list(s["Principal"]["AWS"]) and action in as_list(s["Action"])
        and any(_resource_matches(r, resource) for r in as_list(s["Resource"]))
        for s in grants(policy)
    )


def test_finding_2_the_vault_grants_exactly_the_listed_stage_roles_their_reads_and_folder() -> None:
    """Lambda can read its code from a bucket of another account of the same region only
    if the bucket policy grants the deployer: the vault's policy names exactly the stage
    roles of StageRoleArns (any environments, any accounts), each writing only its folder."""
    bucket = "acme-shop-vault"
    params = stack_parameters(bucket, "acme-shop-vault-dr", "primary", "vault", STAGE_ROLES)
    _, policy = bucket_config("us-east-1", params, bucket)
    principals = {p for s in grants(policy) for p in as_list(s["Principal"]["AWS"])}
    assert principals == set(STAGE_ROLES.values())
    outsider = "arn:aws:iam::444444444444:role/vault-dev"
    for env, role in STAGE_ROLES.items():
        for key in ("v1.0.0/orders.zip", "v1.0.0/manifest.json", "ledger/v1.0.0/build/e.json"):
            assert allowed(policy, role, "s3:GetObjectVersion", key, bucket)
            assert not allowed(policy, outsider, "s3:GetObject", key, bucket)
        assert allowed(policy, role, "s3:ListBucketVersions", "", bucket)
        assert not allowed(policy, role, "s3:PutObject", "v1.0.0/orders.zip", bucket)
        for other in (*STAGE_ROLES, "build", "gate", "dr"):
            for key in (f"ledger/v1.0.0/{other}/e.json", f"ledger/_index/live/{other}/p.json"):
                assert allowed(policy, role, "s3:PutObject", key, bucket) == (other == env), (
                    env, other)
        assert allowed(policy, role, "s3:PutObject", "ledger/_index/feed/202612/x", bucket)
    assert not any(a.startswith("s3:Delete") or a == "s3:*"
                   for s in grants(policy) for a in as_list(s["Action"]))


def test_without_stages_the_vault_grants_no_other_account_anything() -> None:
    params = stack_parameters("acme-shop-vault", "acme-shop-vault-dr", "primary", "vault")
    _, policy = bucket_config("us-east-1", params, "acme-shop-vault")
    assert grants(policy) == []
    assert {s["Sid"] for s in policy["Statement"]} == {
        "DenyInsecureTransport", "DenyObjectDeletes", "DenyUnconditionalWrites",
        "DenyCiRolesUnlocking"}


def test_finding_2_sse_kms_lets_exactly_the_stage_roles_decrypt_through_s3() -> None:
    params = {**stack_parameters("acme-shop-vault", "acme-shop-vault-dr", "primary", "vault",
                                 STAGE_ROLES), "Encryption": "aws:kms"}
    props, _ = bucket_config("us-east-1", params, "acme-shop-vault")
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"].startswith("arn:aws:kms:")
    admin, stage = key_policy("us-east-1", params)["Statement"]
    assert admin["Principal"]["AWS"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert set(stage["Principal"]["AWS"]) == set(STAGE_ROLES.values())
    assert set(stage["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert stage["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    default = stack_parameters("acme-shop-vault", "acme-shop-vault-dr", "primary", "vault")
    props, _ = bucket_config("us-east-1", default, "acme-shop-vault")
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_finding_2_the_stage_template_makes_an_accounts_deploy_role(aws_env: MotoServer) -> None:
    """infra/stage.yaml deployed in the dev account: a role vault-dev there, trusted only
    by dev's vault-stage.yml jobs, updating only that account's *-dev functions, reading the
    vault of the tools account and writing only ledger/…/dev/."""
    sts = client("sts", "us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/admin",
                            RoleSessionName="stack-admin")["Credentials"]
    import boto3

    def in_dev(service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name="us-east-1",
        ).client(service)

    outputs = create_stack("us-east-1", stage_parameters("dev", "acme-shop-vault"),
                           STAGE_TEMPLATE, cfn=in_dev("cloudformation"))
    assert outputs == {"RoleArn": f"arn:aws:iam::{DEV_ACCOUNT}:role/vault-dev",
                       "Environment": "dev"}
    iam = in_dev("iam")
    trust = _document(iam.get_role(RoleName="vault-dev")["Role"]["AssumeRolePolicyDocument"])
    (statement,) = trust["Statement"]  # no operator given: GitHub's dev jobs only
    assert statement["Condition"]["StringEquals"][SUB] == [
        github_subject("environment:dev", suite_ref(workflow))
        for workflow in ("vault-stage.yml", "vault-rollback.yml")]
    statements = _role_statements(iam, "vault-dev")
    lambda_arns = {r for s in statements if str(s["Action"]).count("lambda:")
                   for r in as_list(s["Resource"])}
    own = f"arn:aws:lambda:us-east-1:{DEV_ACCOUNT}:function:*-dev"
    assert lambda_arns == {own, f"{own}:*"}
    puts = {r for s in statements if "s3:PutObject" in as_list(s["Action"])
            for r in as_list(s["Resource"])}
    assert puts == {"arn:aws:s3:::acme-shop-vault/ledger/v*/dev/*",
                    "arn:aws:s3:::acme-shop-vault/ledger/_index/live/dev/*",
                    "arn:aws:s3:::acme-shop-vault/ledger/_index/feed/*"}
    reads = {r for s in statements if "s3:GetObjectVersion" in as_list(s["Action"])
             for r in as_list(s["Resource"])}
    assert reads == {"arn:aws:s3:::acme-shop-vault/v*", "arn:aws:s3:::acme-shop-vault/ledger/*"}
    assert not client("iam", "us-east-1").list_roles()["Roles"]  # nothing in the tools account


def test_finding_2_an_operator_may_assume_a_stage_role_only_when_named() -> None:
    template = load_template(STAGE_TEMPLATE)
    refs = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    refs |= {"AWS::Partition": "aws", "AWS::AccountId": DEV_ACCOUNT, "AWS::Region": "us-east-1",
             "Environment": "dev", "GitHubOrg": ORG, "GitHubRepo": REPO,
             "VaultBucketName": "acme-shop-vault", "CreateOidcProvider": "false"}
    trust = template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert len(_evaluate(trust, refs, _conditions(template, refs))["Statement"]) == 1
    operator = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
    refs["OperatorPrincipalArn"] = operator
    _, second = _evaluate(trust, refs, _conditions(template, refs))["Statement"]
    assert second == {"Sid": "OperatorForVaultDoctor", "Effect": "Allow",
                      "Principal": {"AWS": operator}, "Action": "sts:AssumeRole"}
