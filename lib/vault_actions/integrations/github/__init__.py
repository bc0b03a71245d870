"""GitHub through PyGithub: client, gates, deployments, releases, environments."""
