"""The embedded AWS: a moto server, and HTTP servers that run what Lambda has deployed.

``EmbeddedAws`` runs ``moto_server`` on 127.0.0.1 so that every ``vault`` command (and
boto3 in general) can point at it through ``AWS_ENDPOINT_URL``. moto stores Lambda code
but never runs it without Docker, so ``FunctionServer`` plays API Gateway in front of one
environment's functions: a request for ``/<service>/<rest>`` resolves the environment's
alias to a function version, takes that version's ``CodeSha256``, fetches exactly those
bytes from the vault (checking the digest), and runs the handler in a fresh Python
subprocess. A smoke test against it is a verdict about the bytes actually deployed.

One piece (over 400 lines): the moto server's life cycle and the function servers that
run the deployed bytes are the one embedded AWS the demo and the tests start.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from vault_actions.errors import ConfigError, VaultActionsError
from vault_actions.integrations import aws
from vault_actions.store.manifest import ArtifactRecord
from vault_actions.store.vault import b64_sha256

if TYPE_CHECKING:
    from vault_actions.store.vault import Vault

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
START_ATTEMPTS = 3
STOP_TIMEOUT_SECONDS = 10.0
FAKE_CREDENTIAL = "testing"
DEFAULT_HANDLER_TIMEOUT = 3.0
POLL_SECONDS = 0.05  # how soon close() stops the server loop
ERROR_TAIL_CHARS = 2000
INSTALL_HINT = "install the demo extra: pip install 'vault-actions[demo]'"

# Runs one handler invocation: argv = code folder, Handler ("module.function"),
# function name, version, ARN, timeout seconds; the event on stdin, the response on stdout.
# The handler's own prints go to stderr, like its logs in Lambda.
_RUNNER = """\
import contextlib, importlib, json, sys, time, types, uuid
code, handler, name, version, arn, timeout = sys.argv[1:7]
deadline = time.monotonic() + float(timeout)
event = json.loads(sys.stdin.buffer.read())
sys.path.insert(0, code)
module_name, _, function_name = handler.rpartition(".")
context = types.SimpleNamespace(
    function_name=name, function_version=version, invoked_function_arn=arn,
    aws_request_id=str(uuid.uuid4()),
    get_remaining_time_in_millis=lambda: max(int((deadline - time.monotonic()) * 1000), 0),
)
with contextlib.redirect_stdout(sys.stderr):
    result = getattr(importlib.import_module(module_name), function_name)(event, context)
sys.stdout.buffer.write(json.dumps(result).encode())
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def moto_command(port: int) -> list[str]:
    """``moto_server`` next to this Python, else ``python -m moto.server``."""
    if importlib.util.find_spec("moto") is None:
        raise ConfigError("the embedded AWS needs moto[server], which is not installed",
                          INSTALL_HINT)
    exe = Path(sys.executable).parent / "moto_server"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    return [*base, "-H", HOST, "-p", str(port)]


class EmbeddedAws:
    """A moto server on 127.0.0.1 and a free port; a context manager that stops it.

    ``detach=True`` starts it in its own session so that it outlives this process
    (``vault demo --keep``); ``close(keep=True)`` then leaves it running.
    """

    def __init__(self, log_path: Path, *, region: str = "us-east-1", detach: bool = False) -> None:
        self.log_path = log_path
        self.region = region
        self.detach = detach
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id (0 before ``start``; kept after ``close``)."""
        return self.process.pid if self.process else 0

    def start(self) -> EmbeddedAws:
        """Start the server and wait until it answers; a taken port is retried."""
        for _ in range(START_ATTEMPTS):
            port = free_port()
            self.url = f"http://{HOST}:{port}"
            with self.log_path.open("ab") as out:
                self.process = subprocess.Popen(
                    moto_command(port), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=self.detach,
                )
            try:
                up = self._wait_until_up()
            except BaseException:
                self.close()
                raise
            if up:
                log.debug("moto server %s up (pid %d)", self.url, self.pid)
                return self
        raise self._failed(f"exited at start ({START_ATTEMPTS} attempts)")

    def _wait_until_up(self) -> bool:
        """True once the server answers; False when it exited (e.g. its port was taken)."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310
                    return True
            except OSError:
                time.sleep(0.05)
        self.close()
        raise self._failed(f"did not answer within {START_TIMEOUT_SECONDS:g} s")

    def _failed(self, what: str) -> VaultActionsError:
        return VaultActionsError(
            f"the embedded AWS (moto server) {what}; its log is {self.log_path}",
            f"read the log; if moto itself is broken, {INSTALL_HINT}",
        )

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (and the AWS CLI) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            aws.EMBEDDED_ENV: self.url,  # vault doctor: what moto cannot prove is "not checkable"
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIAL,
            "AWS_SESSION_TOKEN": FAKE_CREDENTIAL,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def close(self, *, keep: bool = False) -> None:
        """Stop the server (terminate, then kill); ``keep`` leaves it running."""
        process = self.process
        if process is None or keep or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Refused(Exception):
    """A request the emulator answers with an error status instead of running code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Deployed:
    """What an alias serves: the function version's configuration."""

    function: str
    version: str
    arn: str
    code_sha256: str
    handler: str
    timeout: float
    variables: dict[str, str]


@dataclass(frozen=True)
class Response:
    """An HTTP response: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(payload).encode()
        return cls(status, {"content-type": "application/json", **(headers or {})}, body)


@dataclass
class _CodeCache:
    """Unzipped, verified code by CodeSha256, and the vault's records by CodeSha256."""

    root: Path
    folders: dict[str, Path] = field(default_factory=dict)
    records: dict[str, ArtifactRecord] = field(default_factory=dict)
    manifests_seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FunctionServer:
    """API Gateway for one environment, running the code its alias serves.

    ``functions`` maps service → function name (an environment's ``functions``);
    ``lambda_`` is a Lambda client in the functions' region; ``vault`` is the vault the
    releases were built into (for a DR mirror too: its copies are the same bytes).
    ``GET /price-fetcher/health`` invokes the handler of ``price-fetcher``'s function as of
    its ``alias`` with the event's ``rawPath`` ``/health``. Every request reads the alias
    again, so a deploy shows at once.
    """

    def __init__(
        self,
        name: str,
        functions: Mapping[str, str],
        lambda_: Any,
        vault: Vault,
        *,
        alias: str = "live",
    ) -> None:
        self.name = name
        self.functions = dict(functions)
        self.lambda_ = lambda_
        self.vault = vault
        self.alias = alias
        self._cache = _CodeCache(Path(tempfile.mkdtemp(prefix=f"vault-fn-{name}-")))
        self._server = ThreadingHTTPServer((HOST, 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,),
            name=f"function-server-{name}", daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving and remove the unzipped code."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT_SECONDS)
        shutil.rmtree(self._cache.root, ignore_errors=True)

    def __enter__(self) -> FunctionServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request: run the deployed handler, or say why it cannot run."""
        parts = urlsplit(target)
        service, _, rest = parts.path.lstrip("/").partition("/")
        try:
            function = self._function(service)
            deployed = self._deployed(function)
            code = self._code(deployed)
            event = _event(method, "/" + rest, parts.query, headers, body)
            result = self._invoke(deployed, code, event)
            response = _to_response(result, deployed)
        except _Refused as refused:
            log.warning("%s %s in %s: %s", method, target, self.name, refused.message)
            return Response.json(refused.status, {"message": refused.message})
        extra = {"x-lambda-function-version": deployed.version,
                 "x-code-sha256": deployed.code_sha256}
        return Response(response.status, {**response.headers, **extra}, response.body)

    def _function(self, service: str) -> str:
        function = self.functions.get(service)
        if function is None:
            known = ", ".join(f"/{s}/" for s in sorted(self.functions))
            raise _Refused(404, f"no service {service!r} in {self.name}; paths start with {known}")
        return function

    def _deployed(self, function: str) -> _Deployed:
        """The function version the alias points at, and its configuration."""
        from botocore.exceptions import ClientError

        try:
            version = self.lambda_.get_alias(FunctionName=function, Name=self.alias)[
                "FunctionVersion"
            ]
            config = self.lambda_.get_function(FunctionName=function, Qualifier=version)[
                "Configuration"
            ]
        except ClientError as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                raise _Refused(
                    502, f"nothing is deployed to {self.name}: function {function!r} has no "
                    f"alias {self.alias!r} ({aws.describe(exc)})"
                ) from None
            raise _Refused(502, f"reading function {function!r}: {aws.describe(exc)}") from None
        return _Deployed(
            function=function,
            version=str(version),
            arn=str(config["FunctionArn"]),
            code_sha256=str(config["CodeSha256"]),
            handler=str(config.get("Handler") or ""),
            timeout=float(config.get("Timeout") or DEFAULT_HANDLER_TIMEOUT),
            variables=dict(config.get("Environment", {}).get("Variables", {})),
        )

    def _code(self, deployed: _Deployed) -> Path:
        """The unzipped code whose digest is the deployed CodeSha256 (fetched once)."""
        cache = self._cache
        with cache.lock:
            folder = cache.folders.get(deployed.code_sha256)
            if folder is not None:
                return folder
            record = self._record(deployed)
            data = self._download(record, deployed)
            folder = cache.root / base64.urlsafe_b64decode(deployed.code_sha256).hex()
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(folder)
            cache.folders[deployed.code_sha256] = folder
            return folder

    def _record(self, deployed: _Deployed) -> ArtifactRecord:
        """The vault artifact whose manifest recorded this CodeSha256."""
        if deployed.code_sha256 not in self._cache.records:
            try:
                self._index()
            except VaultActionsError as exc:
                raise _Refused(502, exc.message) from None
        record = self._cache.records.get(deployed.code_sha256)
        if record is None:
            raise _Refused(
                502, f"{deployed.function} version {deployed.version} runs code with CodeSha256 "
                f"{deployed.code_sha256} that no release in s3://{self.vault.bucket} recorded"
            )
        return record

    def _index(self) -> None:
        """Read the manifests of releases not read yet: their artifacts by CodeSha256."""
        cache = self._cache
        for version in self._versions():
            manifest = self.vault.manifest(version)
            if manifest is None:  # not complete (yet)
                continue
            cache.manifests_seen.add(version)
            for artifact in manifest.artifacts:
                cache.records.setdefault(artifact.code_sha256, artifact)

    def _versions(self) -> list[str]:
        """Release folders (``v1.2.3/``) of the vault not read yet."""
        from botocore.exceptions import ClientError

        try:
            pages = self.vault.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.vault.bucket, Delimiter="/"
            )
            folders = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", ())]
        except ClientError as exc:
            raise self.vault.explain(exc, "listing", "") from None
        versions = [f[1:-1] for f in folders if f.startswith("v")]
        return [v for v in versions if v not in self._cache.manifests_seen]

    def _download(self, record: ArtifactRecord, deployed: _Deployed) -> bytes:
        """The recorded object version's bytes; refused unless their digest is CodeSha256."""
        from botocore.exceptions import ClientError

        where = f"{self.vault.uri(record.key)} (version {record.version_id})"
        try:
            data: bytes = self.vault.s3.get_object(
                Bucket=self.vault.bucket, Key=record.key, VersionId=record.version_id
            )["Body"].read()
        except ClientError as exc:
            raise _Refused(502, f"reading {where}: {aws.describe(exc)}") from None
        actual = b64_sha256(data)
        if actual != deployed.code_sha256:
            raise _Refused(
                502, f"refusing to run {where}: its SHA-256 is {actual}, but "
                f"{deployed.function} version {deployed.version} was deployed with CodeSha256 "
                f"{deployed.code_sha256}; the vault object was tampered with"
            )
        return data

    def _invoke(self, deployed: _Deployed, code: Path, event: dict[str, Any]) -> Any:
        """Run the handler in a fresh Python; its JSON result."""
        if "." not in deployed.handler:
            raise _Refused(502, f"{deployed.function}: handler {deployed.handler!r} is not "
                           "'module.function'")
        region = deployed.arn.split(":")[3]
        env = {
            **deployed.variables,
            "AWS_LAMBDA_FUNCTION_NAME": deployed.function,
            "AWS_LAMBDA_FUNCTION_VERSION": deployed.version,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": str(code),
        }
        argv = [sys.executable, "-I", "-B", "-c", _RUNNER, str(code), deployed.handler,
                deployed.function, deployed.version, deployed.arn, str(deployed.timeout)]
        try:
            done = subprocess.run(
                argv, input=json.dumps(event).encode(), capture_output=True, env=env,
                cwd=code, timeout=deployed.timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise _Refused(
                504, f"{deployed.function} version {deployed.version} did not answer within "
                f"its {deployed.timeout:g} s timeout"
            ) from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-ERROR_TAIL_CHARS:]
            raise _Refused(502, f"{deployed.function} version {deployed.version} failed: {tail}")
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise _Refused(502, f"{deployed.function} returned no JSON result") from None


def _event(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) proxy event."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": params or None,
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": HOST},
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def _to_response(result: Any, deployed: _Deployed) -> Response:
    """The handler's result as API Gateway would answer it (payload format 2.0)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response.json(200, result)
    status = result["statusCode"]
    body = result.get("body") or ""
    if not isinstance(status, int) or not isinstance(body, str):
        raise _Refused(502, f"{deployed.function} returned a malformed response: statusCode "
                       f"{status!r}, body of type {type(body).__name__}")
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return Response(status, headers, data)


def _handler_class(server: FunctionServer) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to ``server``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            response = server.handle(self.command, self.path, dict(self.headers), body)
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s: " + format, server.name, *args)

    return Handler

