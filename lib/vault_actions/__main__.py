"""``python -m vault_actions``: the same as the ``vault`` command."""

from vault_actions.cli.main import main

raise SystemExit(main())
