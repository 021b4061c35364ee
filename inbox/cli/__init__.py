"""The command line, one of the two faces: typer commands that call the desk's actions and
render its read models (main, and one module per command group)."""
