"""What agents do and see: every write an agent can make is one function in actions,
every screen's data one read model in views (the `--json` shapes the CLI prints and the
web desk will render), and the reports."""
