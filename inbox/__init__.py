"""inbox: a self-hosted omnichannel inbox processor (core package, no network code)."""

__version__ = "0.1.0"
