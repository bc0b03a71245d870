"""``vault init``'s scaffold: a vault.yml for the repository it reads.

The vault.yml lists the services found in ``services/*``, ``packages/*``, ``apps/*`` (or
the repository itself) with their build commands and dist folders; what cannot be known
is written as a placeholder that ``vault validate`` refuses until it is filled in. The
caller workflows are generated from that vault.yml (``setup.pipeline``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from vault_actions.config import PLACEHOLDER
from vault_actions.setup.pipeline import Pins

_FUNCTIONS = re.compile(r"__FUNCTIONS:([a-z0-9-]+)__")
SERVICE_FOLDERS = ("services", "packages", "apps")
BUCKET_MAX = 63


@dataclass(frozen=True)
class Found:
    """A service found in the repository: where, how it builds, what ships, and why."""

    name: str
    path: str
    build: str
    dist: str
    evidence: str

    def yaml(self) -> str:
        """Its entry under ``services:`` (strings JSON-quoted: valid YAML, always)."""
        return (
            f"  - name: {self.name}    # {self.evidence}\n"
            f"    path: {json.dumps(self.path)}\n"
            f"    build: {json.dumps(self.build)}\n"
            f"    dist: {json.dumps(self.dist)}"
        )


UNKNOWN = Found("app", ".", PLACEHOLDER, "dist",
                "no service found: name the command that fills dist/ with the Lambda's code")


def discover(root: Path) -> tuple[Found, ...]:
    """Services in services/*, packages/*, apps/*; else the repository itself, if it builds."""
    folders = [
        child
        for parent in SERVICE_FOLDERS
        if (root / parent).is_dir()
        for child in sorted((root / parent).iterdir())
        if child.is_dir() and not child.name.startswith(".")
    ]
    found = [s for s in (recognise(root, f) for f in folders) if s is not None]
    if not found and (itself := recognise(root, root)) is not None:
        found = [itself]
    return _unique_names(found)


def recognise(root: Path, folder: Path) -> Found | None:
    """How ``folder`` builds: a Makefile's build target, package.json's build script, a
    Python project, or a Go module (in that order: a Makefile is the team's own entry)."""
    path = folder.relative_to(root).as_posix() if folder != root else "."
    name = _service_name(folder.name)
    for probe in (_make, _npm, _python, _go):
        found = probe(folder)
        if found is not None:
            build, dist, evidence = found
            return Found(name, path, build, dist, evidence)
    return None


def _service_name(folder: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", folder.lower()).strip("-")
    return (name or "app")[:64]


def _unique_names(found: list[Found]) -> tuple[Found, ...]:
    """Two folders with one name (services/api, apps/api) get their parent as prefix."""
    names = [s.name for s in found]
    return tuple(
        replace(s, name=_service_name(s.path.replace("/", "-"))) if names.count(s.name) > 1
        else s
        for s in found
    )


_COMMON_OUTPUTS = ("dist", "build", "out", "lib")


def _existing_output(folder: Path, default: str = "dist") -> str:
    return next((d for d in _COMMON_OUTPUTS if (folder / d).is_dir()), default)


def _make(folder: Path) -> tuple[str, str, str] | None:
    makefile = next((folder / n for n in ("GNUmakefile", "makefile", "Makefile")
                     if (folder / n).is_file()), None)
    if makefile is None:
        return None
    text = makefile.read_text(encoding="utf-8", errors="replace")
    if not re.search(r"^build\s*:(?!=)", text, re.MULTILINE):
        return None
    named = next((d for d in _COMMON_OUTPUTS if re.search(rf"\b{d}/", text)), None)
    return "make build", named or _existing_output(folder), f"{makefile.name}: build target"


def _npm(folder: Path) -> tuple[str, str, str] | None:
    manifest = folder / "package.json"
    if not manifest.is_file():
        return None
    try:
        scripts = json.loads(manifest.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, AttributeError):
        return None
    script = scripts.get("build") if isinstance(scripts, dict) else None
    if not isinstance(script, str):
        return None
    if (folder / "pnpm-lock.yaml").is_file():
        build = "pnpm install --frozen-lockfile && pnpm run build"
    elif (folder / "yarn.lock").is_file():
        build = "yarn install --frozen-lockfile && yarn build"
    elif (folder / "package-lock.json").is_file():
        build = "npm ci && npm run build"
    else:
        build = "npm install && npm run build"
    return build, _npm_output(folder, script), "package.json: build script"


def _npm_output(folder: Path, script: str) -> str:
    """The folder the build script writes: --outDir/--outdir/-o, tsconfig's outDir, or a
    common output folder that exists."""
    flag = re.search(r"(?:--out-?dir|--outfile|-o)[ =]([\w./-]+)", script, re.IGNORECASE)
    if flag:
        out = flag.group(1).removeprefix("./")
        return out.split("/")[0] if "--outfile" in flag.group(0).lower() else out.rstrip("/")
    try:
        tsconfig = json.loads((folder / "tsconfig.json").read_text(encoding="utf-8"))
        out_dir = tsconfig.get("compilerOptions", {}).get("outDir")
    except (OSError, ValueError, AttributeError):
        out_dir = None
    if isinstance(out_dir, str) and out_dir.strip("./"):
        return out_dir.removeprefix("./").rstrip("/")
    return _existing_output(folder)


def _python(folder: Path) -> tuple[str, str, str] | None:
    fresh = "rm -rf dist && mkdir dist && "
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file() and "[project]" in pyproject.read_text(encoding="utf-8"):
        return (f"{fresh}python3 -m pip install --target dist .", "dist",
                "pyproject.toml: installed with its dependencies into dist")
    if not (folder / "requirements.txt").is_file():
        return None
    build = f"{fresh}python3 -m pip install -r requirements.txt --target dist"
    sources = _python_sources(folder)
    if sources:
        build += f" && cp -R {' '.join(sources)} dist/"
    return build, "dist", "requirements.txt: dependencies and sources into dist"


def _python_sources(folder: Path) -> list[str]:
    if (folder / "src").is_dir():
        return ["src/."]
    return sorted(
        p.name for p in folder.iterdir()
        if (p.suffix == ".py" and p.is_file() and not p.name.startswith(("test_", "setup.")))
        or (p.is_dir() and (p / "__init__.py").is_file() and p.name not in ("tests", "test"))
    )


def _go(folder: Path) -> tuple[str, str, str] | None:
    if not (folder / "go.mod").is_file():
        return None
    return (
        "GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -tags lambda.norpc -o dist/bootstrap .",
        "dist",
        "go.mod: a bootstrap for the provided.al2023 runtime",
    )


def propose_bucket(repo: str, account: str | None, region: str) -> str:
    """``<repo>-vault-<account>-<region>`` (S3 names are global: the account makes it
    unique); a placeholder that ``vault validate`` refuses when the account is unknown."""
    if account is None:
        return f"{PLACEHOLDER.lower()}-vault-bucket"
    suffix = f"-vault-{account}-{region}"
    stem = re.sub(r"[^a-z0-9-]+", "-", repo.lower()).strip("-")[: BUCKET_MAX - len(suffix)]
    return f"{stem.rstrip('-') or 'app'}{suffix}"


@dataclass(frozen=True)
class Settings:
    """What the vault.yml is filled in with (``pins``: the suite it trusts)."""

    pins: Pins
    region: str
    dr_region: str
    bucket: str
    dr_bucket: str = ""
    services: tuple[Found, ...] = ()


def _template(name: str) -> str:
    return resources.files("vault_actions.setup").joinpath(f"templates/{name}").read_text()


def render(settings: Settings) -> str:
    """The starter vault.yml with the settings filled in."""
    services = settings.services or (UNKNOWN,)
    values = {
        "__SUITE__": settings.pins.suite,
        "__REGION__": settings.region,
        "__DR_REGION__": settings.dr_region,
        "__DR_BUCKET__": settings.dr_bucket or f"{settings.bucket}-dr",
        "__BUCKET__": settings.bucket,
        "__SERVICES__": "\n".join(s.yaml() for s in services),
    }
    text = _template("vault.yml")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return _FUNCTIONS.sub(
        lambda m: ", ".join(f"{s.name}: {s.name}-{m.group(1)}" for s in services), text
    )


def write(files: dict[Path, str], *, force: bool) -> tuple[list[Path], list[Path]]:
    """Write the files; without ``force`` an existing file is kept. Returns (written, kept)."""
    written, kept = [], []
    for path, text in files.items():
        if path.exists() and not force:
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written, kept
