"""GitHub Deployments: one per deploy, with an in-progress and a final status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from vault_actions.integrations.github.client import call

if TYPE_CHECKING:
    from github import Github

DeploymentState = Literal["in_progress", "success", "failure", "error", "inactive"]


@dataclass(frozen=True)
class Deployment:
    """A GitHub Deployment: its id and API URL."""

    id: int
    url: str


def start_deployment(
    gh: Github,
    repository: str,
    *,
    tag: str,
    environment: str,
    version: str,
    production: bool,
    log_url: str | None,
) -> Deployment:
    """Create a Deployment of ``tag`` to ``environment`` and mark it in progress."""
    repo = gh.get_repo(repository)
    created = call(
        f"creating a deployment of {tag} to {environment} in {repository}",
        lambda: repo.create_deployment(
            ref=tag,
            task="deploy",
            auto_merge=False,
            required_contexts=[],
            payload={"version": version},
            environment=environment,
            description=f"{tag} → {environment}",
            transient_environment=False,
            production_environment=production,
        ),
    )
    deployment = Deployment(created.id, created.url)
    set_status(gh, deployment, "in_progress", log_url=log_url,
               description=f"deploying {tag} to {environment}")
    return deployment


def set_status(
    gh: Github,
    deployment: Deployment,
    state: DeploymentState,
    *,
    log_url: str | None,
    description: str,
    environment_url: str | None = None,
) -> None:
    """Post a deployment status (``log_url`` links the run, ``environment_url`` the app)."""
    body: dict[str, Any] = {"state": state, "description": description[:140]}
    if log_url:
        body["log_url"] = log_url
    if environment_url:
        body["environment_url"] = environment_url
    call(
        f"setting deployment {deployment.id} to {state}",
        lambda: gh.requester.requestJsonAndCheck(
            "POST", f"{deployment.url}/statuses", input=body
        ),
    )
