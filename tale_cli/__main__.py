"""Entry point for `python -m tale_cli`."""

from tale_cli.cli.app import main

main()
