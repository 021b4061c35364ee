"""What every layer may use and none of them owns: the settings (config), the closed
vocabularies, reference tokens, the route decision's data types and the errors. Nothing
here touches the database (no SQLAlchemy), so the CLI's light commands stay fast."""
