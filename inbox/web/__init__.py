"""The agents' desk in the browser: a Starlette app, pages rendered on the server.

`create_app` (app.py) builds it from what the runtime hands over (`WebContext`, and the
webhook endpoints of channels that receive by HTTP); the daemon serves it with uvicorn
in its own event loop (server.py). Every response carries the security headers of
security.py; every asset is vendored and served by us under a versioned name
(assets.py). This package sits below inbox.runtime, as inbox.ingest does: it is given
what it needs and builds nothing long-lived itself.
"""
