"""``python -m vault_actions``: the same as the ``vault`` command."""

from vault_actions.cli import main

raise SystemExit(main())
