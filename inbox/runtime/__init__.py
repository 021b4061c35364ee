"""Wiring: builds every long-lived object (app), the configured connectors (the only
package that names concrete channels), new deployments, and the daemon that runs them."""
