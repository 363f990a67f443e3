"""The Celery app (`celery -A engium worker`, `celery -A engium beat`).

Tenant-aware: tenant-schemas-celery puts the sending connection's schema in the
`_schema_name` header of every task and switches the worker's connection to it
before the task runs. Code that enqueues outside a request passes it explicitly.
"""

from __future__ import annotations

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engium.settings")

app = CeleryApp("engium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
