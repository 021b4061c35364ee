"""`python -m inbox` is the `inbox` command."""

from inbox.cli.main import main

main()
