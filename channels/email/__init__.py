"""The e-mail channel: IMAP in, SMTP out, MIME parsed, mail files read; connector.py puts
them behind the `Connector` protocol."""
