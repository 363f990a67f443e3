"""The Celery app (`celery -A engium worker`, `celery -A engium beat`).

Tenant-aware: tenant-schemas-celery puts the sending connection's schema in the
`_schema_name` header of every task and switches the worker's connection to it
before the task runs. Code that enqueues outside a request passes it explicitly.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import before_task_publish, task_prerun
from tenant_schemas_celery.app import CeleryApp

from engium.logging import current_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engium.settings")

app = CeleryApp("engium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
