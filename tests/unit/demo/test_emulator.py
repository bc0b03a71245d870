"""The embedded AWS and the function servers that run the bytes Lambda has deployed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from vault_actions.config import Environment
from vault_actions.deliver.lambdas import deploy_release
from vault_actions.demo.emulator import EmbeddedAws, FunctionServer
from vault_actions.integrations import aws
from vault_actions.store.manifest import ArtifactRecord, Manifest, artifact_key
from vault_actions.store.vault import Vault, b64_sha256

REGION = "us-east-1"

HANDLER = """\
import json, os, time
VERSION = {version!r}

def handler(event, context):
    path = event["rawPath"]
    if path == "/boom":
        raise RuntimeError("the handler blew up")
    if path == "/slow":
        time.sleep(5)
    if path == "/plain":
        return {{"plain": VERSION}}
    print("a log line that must not end up in the response")
    body = {{
        "version": VERSION,
        "path": path,
        "method": event["requestContext"]["http"]["method"],
        "query": event["queryStringParameters"],
        "body": event["body"],
        "function": context.function_name,
        "stage": os.environ.get("STAGE"),
    }}
    return {{"statusCode": 201 if path == "/created" else 200,
             "headers": {{"content-type": "application/json", "x-handler": VERSION}},
             "body": json.dumps(body)}}
"""


def handler_zip(version: str) -> bytes:
    """The same bytes for the same version (a fixed timestamp)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("app.py", (2026, 1, 1, 0, 0, 0)),
                         HANDLER.format(version=version))
    return buffer.getvalue()


@dataclass
class World:
    """A vault, a Lambda client, one function per test and an environment for it."""

    s3: Any
    lambda_: Any
    vault: Vault
    function: str
    tmp_path: Path

    @property
    def env(self) -> Environment:
        return Environment(name="qa", region=REGION, bucket=self.vault.bucket,
                           functions={"svc": self.function})

    def release(self, version: str, data: bytes | None = None) -> Manifest:
        """A complete release of service svc: its zip, then the manifest."""
        data = data if data is not None else handler_zip(version)
        path = self.tmp_path / f"svc-{version}.zip"
        path.write_bytes(data)
        record = self.vault.store_artifact(
            version, "svc", artifact_key(version, "svc"), path, hashlib.sha256(data).hexdigest()
        )
        return self.manifest(version, record)

    def manifest(self, version: str, record: ArtifactRecord) -> Manifest:
        manifest = Manifest(
            version=version, tag=f"v{version}", commit="c0ffee" * 6 + "abcd",
            built_at="2026-11-28T00:00:00+00:00", built_by="octocat", run_url=None,
            bucket=self.vault.bucket, region=REGION, artifacts=(record,),
        )
        self.vault.store_manifest(manifest)
        return manifest

    def deploy(self, version: str) -> None:
        assert deploy_release(self.lambda_, self.vault, self.env, version).ok


@pytest.fixture
def world(s3: Any, vault_bucket: str, tmp_path: Path) -> World:
    lambda_ = aws.client("lambda", REGION)
    iam = aws.client("iam", REGION)
    role = iam.create_role(RoleName=f"fn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")
    function = f"svc-qa-{uuid.uuid4().hex[:8]}"
    lambda_.create_function(
        FunctionName=function, Runtime="python3.12", Role=role["Role"]["Arn"],
        Handler="app.handler", Code={"ZipFile": handler_zip("placeholder")},
        Environment={"Variables": {"STAGE": "qa"}}, Timeout=10,
    )
    return World(s3, lambda_, Vault(s3, vault_bucket, REGION), function, tmp_path)


@pytest.fixture
def server(world: World) -> Iterator[FunctionServer]:
    with FunctionServer("qa", world.env.functions, world.lambda_, world.vault) as running:
        yield running


def get(server: FunctionServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(server.url + path, timeout=30, **kwargs)


def test_serves_the_bytes_the_alias_points_at(world: World, server: FunctionServer) -> None:
    world.release("1.0.0")
    world.release("1.1.0")
    world.deploy("1.0.0")

    first = get(server, "/svc/hello/world?symbol=ACME&x=")
    assert first.status_code == 200
    assert first.json() == {
        "version": "1.0.0", "path": "/hello/world", "method": "GET",
        "query": {"symbol": "ACME", "x": ""}, "body": None,
        "function": world.function, "stage": "qa",
    }
    assert first.headers["x-handler"] == "1.0.0"
    assert first.headers["x-code-sha256"] == b64_sha256(handler_zip("1.0.0"))
    assert first.headers["x-lambda-function-version"] == "1"

    world.deploy("1.1.0")
    second = get(server, "/svc/hello")
    assert second.json()["version"] == "1.1.0"
    assert second.headers["x-lambda-function-version"] == "2"

    # Rolling the alias back serves the old bytes again, without any restart.
    world.lambda_.update_alias(FunctionName=world.function, Name="live", FunctionVersion="1")
    assert get(server, "/svc/hello").json()["version"] == "1.0.0"


def test_methods_bodies_statuses_and_plain_results(world: World, server: FunctionServer) -> None:
    world.release("1.0.0")
    world.deploy("1.0.0")

    posted = requests.post(server.url + "/svc/created", data=b'{"a": 1}', timeout=30)
    assert posted.status_code == 201
    assert posted.json()["method"] == "POST"
    assert posted.json()["body"] == '{"a": 1}'
    assert requests.head(server.url + "/svc/hello", timeout=30).status_code == 200

    plain = get(server, "/svc/plain")
    assert plain.status_code == 200
    assert plain.json() == {"plain": "1.0.0"}


def test_undeployed_function_and_unknown_service(world: World, server: FunctionServer) -> None:
    undeployed = get(server, "/svc/health")
    assert undeployed.status_code == 502
    assert f"nothing is deployed to qa: function {world.function!r} has no alias 'live'" \
        in undeployed.json()["message"]

    unknown = get(server, "/nope/health")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "no service 'nope' in qa; paths start with /svc/"


def test_tampered_vault_bytes_are_refused(world: World, server: FunctionServer) -> None:
    """The manifest records the deployed CodeSha256, but the object holds other bytes."""
    deployed = handler_zip("9.9.9")
    other = handler_zip("evil")
    path = world.tmp_path / "evil.zip"
    path.write_bytes(other)
    stored = world.vault.store_artifact(
        "9.9.9", "svc", artifact_key("9.9.9", "svc"), path, hashlib.sha256(other).hexdigest()
    )
    forged = ArtifactRecord(
        service="svc", key=stored.key, size=len(deployed),
        sha256=hashlib.sha256(deployed).hexdigest(), code_sha256=b64_sha256(deployed),
        version_id=stored.version_id,
    )
    world.manifest("9.9.9", forged)
    world.lambda_.update_function_code(FunctionName=world.function, ZipFile=deployed)
    version = world.lambda_.publish_version(FunctionName=world.function)["Version"]
    world.lambda_.create_alias(FunctionName=world.function, Name="live", FunctionVersion=version)

    response = get(server, "/svc/hello")

    assert response.status_code == 502
    message = response.json()["message"]
    assert f"its SHA-256 is {b64_sha256(other)}" in message
    assert f"deployed with CodeSha256 {b64_sha256(deployed)}" in message
    assert "tampered" in message


def test_code_that_is_no_release_is_refused(world: World, server: FunctionServer) -> None:
    world.release("1.0.0")
    world.lambda_.update_function_code(FunctionName=world.function, ZipFile=handler_zip("adhoc"))
    version = world.lambda_.publish_version(FunctionName=world.function)["Version"]
    world.lambda_.create_alias(FunctionName=world.function, Name="live", FunctionVersion=version)

    response = get(server, "/svc/hello")

    assert response.status_code == 502
    assert f"runs code with CodeSha256 {b64_sha256(handler_zip('adhoc'))} that no release in " \
        f"s3://{world.vault.bucket} recorded" in response.json()["message"]


def test_handler_errors_and_timeouts(world: World, server: FunctionServer) -> None:
    world.release("1.0.0")
    world.deploy("1.0.0")
    world.lambda_.update_function_configuration(FunctionName=world.function, Timeout=1)
    version = world.lambda_.publish_version(FunctionName=world.function)["Version"]
    world.lambda_.update_alias(FunctionName=world.function, Name="live", FunctionVersion=version)

    boom = get(server, "/svc/boom")
    assert boom.status_code == 502
    assert "RuntimeError: the handler blew up" in boom.json()["message"]

    started = time.monotonic()
    slow = get(server, "/svc/slow")
    assert slow.status_code == 504
    assert "did not answer within its 1 s timeout" in slow.json()["message"]
    assert time.monotonic() - started < 4


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_embedded_aws_starts_answers_and_stops(tmp_path: Path) -> None:
    with EmbeddedAws(tmp_path / "moto.log") as embedded:
        pid = embedded.pid
        env = embedded.env()
        assert env["AWS_ENDPOINT_URL"] == embedded.url
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        with urllib.request.urlopen(f"{embedded.url}/moto-api/", timeout=5) as response:
            assert response.status == 200
    assert not _alive(pid)


def test_kept_embedded_aws_outlives_its_process(tmp_path: Path) -> None:
    """--keep: started detached by a process that exits, the server keeps answering."""
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from vault_actions.demo.emulator import EmbeddedAws
        embedded = EmbeddedAws(Path({str(tmp_path / 'moto.log')!r}), detach=True).start()
        embedded.close(keep=True)
        print(json.dumps({{"pid": embedded.pid, "url": embedded.url}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    kept = json.loads(done.stdout)
    try:
        assert _alive(kept["pid"])
        with urllib.request.urlopen(f"{kept['url']}/moto-api/", timeout=5) as response:
            assert response.status == 200
    finally:
        os.kill(kept["pid"], signal.SIGTERM)
