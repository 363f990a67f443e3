"""`bench.settings` plus the probe tenant app, whose migrations `bench.tenants` writes into
the module named by ``BENCH_PROBE_MIGRATIONS`` (a folder on ``PYTHONPATH``)."""

import os

from bench.settings import *  # noqa: F403

TENANT_APPS = [*TENANT_APPS, "bench.probe"]  # noqa: F405
INSTALLED_APPS = [*INSTALLED_APPS, "bench.probe"]  # noqa: F405
MIGRATION_MODULES = {"probe": os.environ.get("BENCH_PROBE_MIGRATIONS", "bench_probe_migrations")}
