"""The Celery app (`celery -A engium worker`, `celery -A engium beat`).

Tenant-aware: tenant-schemas-celery puts the sending connection's schema in the
`_schema_name` header of every task and switches the worker's connection to it
before the task runs. Code that enqueues outside a request passes it explicitly.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.db import close_old_connections
from tenant_schemas_celery.app import CeleryApp, switch_schema

from engium.logging import current_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engium.settings")

app = CeleryApp("engium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery's Django fixup closes every database connection before and after each task, unless
# `CELERY_DB_REUSE_MAX` (settings) says otherwise, so each task paid for a new PostgreSQL
# session, two when it switched tenants. Tasks treat their connections as Django treats a
# request's instead: kept for `CONN_MAX_AGE`, closed when unusable or after an error, checked
# (`CONN_HEALTH_CHECKS`) before their first use.
def _refresh_connections(task: Any = None, **kwargs: Any) -> None:
    # Django's own `request_started`/`request_finished` handler; not for a task run eagerly
    # inside its caller (whose connection, perhaps in a transaction, is not the task's).
    if not getattr(getattr(task, "request", None), "is_eager", False):
        close_old_connections()


# Before tenant-schemas-celery's `switch_schema`, whose tenant lookup uses the connection.
task_prerun.disconnect(dispatch_uid="tenant_schemas_switch_schema")
task_prerun.connect(_refresh_connections, dispatch_uid="engium_refresh_connections")
task_prerun.connect(switch_schema, dispatch_uid="tenant_schemas_switch_schema")
task_postrun.connect(_refresh_connections, dispatch_uid="engium_refresh_connections_after")


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A task enqueued while serving a request logs with that request's ID."""
    request_id = current_request_id.get()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect
def _restore_request_id(task: Any = None, **kwargs: Any) -> None:
    request = getattr(task, "request", None)
    headers = getattr(request, "headers", None) or {}
    current_request_id.set(getattr(request, "request_id", None) or headers.get("request_id"))
