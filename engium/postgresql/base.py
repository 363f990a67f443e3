"""django-tenants' PostgreSQL backend with a health check that costs no round trip, and
prepared statements for the statements every request runs.

**Health check.** With ``CONN_HEALTH_CHECKS``, Django checks a persistent connection before
each request uses it; its check is a ``SELECT 1``: one round trip per request. Here an idle
connection is checked by looking at its socket: a server that ended the session (restart,
``pg_terminate_backend``, idle timeout) has sent an error or closed the socket, which makes
it readable. A closed or broken connection is unusable; an idle one with nothing to read is
usable; anything else (something to read, a transaction left open) gets Django's
``SELECT 1``, as before. So the first request after a database restart still gets a fresh
connection rather than an error.

**Prepared statements.** Django binds values on the client and never prepares, so
PostgreSQL parses and plans every statement anew. `DatabaseWrapper.prepared_cursor` gives a
cursor that binds on the server and prepares its statements on their first use per
connection (psycopg keeps them, at most ``prepared_max``); Django's own cursors still never
prepare. It is one cursor per connection, kept from one request to the next, so that
psycopg's adapters for the statement's values and result columns are looked up once (a new
cursor per request cost the send about 0.1 ms of CPU); a statement's rows must therefore be
fetched before the next `prepared_cursor` runs one. A prepared statement follows the
tenant: PostgreSQL analyses it again whenever ``search_path`` has changed since, so it
never runs against another schema's tables. A connection pooler must use session pooling
(as the ``search_path`` already requires).
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base as django_postgresql
from django.db.backends.utils import CursorWrapper
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls
from psycopg import errors
from psycopg.pq import ConnStatus, TransactionStatus


class PreparingCursor(django_postgresql.ServerBindingCursor):  # type: ignore[name-defined]
    """Binds values on the server, and prepares every statement given values."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if params is not None:
            kwargs.setdefault("prepare", True)
        return super().execute(query, params, **kwargs)


class _KeptCursor(PreparingCursor):
    """The connection's cursor for prepared statements, kept from one use to the next: its
    adapters stay set up for the statement's values and result (psycopg caches them per
    cursor), where a new cursor per request looked them all up again. Closing it (what a
    Django cursor's ``with`` block does at its end) drops the statement's values and result,
    so a long-lived connection holds no message's text, and keeps it for the next use; it
    goes with its connection."""

    def close(self) -> None:
        self._reset()
        self._tx.set_pgresult(None)


class DatabaseOperations(TenantDatabaseWrapper.ops_class):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str | None:
        # What the debug cursor logs (DEBUG, `assertNumQueries`): psycopg keeps no text of
        # a statement executed by its prepared name.
        if isinstance(cursor, PreparingCursor):
            try:
                return str(self.compose_sql(sql, params))
            except errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


#: psycopg prepares a statement run this often; so in effect only when asked to.
_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


class DatabaseWrapper(TenantDatabaseWrapper):
    ops_class = DatabaseOperations
    _kept_cursor: _KeptCursor | None = None

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:
            # Django turns preparing off (None), which `prepare=True` cannot override.
            params["prepare_threshold"] = _PREPARE_ONLY_WHEN_ASKED
        return params

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        pgconn = connection.pgconn
        if pgconn.status != ConnStatus.OK or pgconn.transaction_status != TransactionStatus.IDLE:
            return bool(super().is_usable())
        poll = select.poll()
        poll.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        try:
            ready = poll.poll(0)
        except OSError:
            return False
        return True if not ready else bool(super().is_usable())

    def prepared_cursor(self) -> CursorWrapper:
        """A cursor whose statements are bound on the server and prepared (module docstring)."""
        # What Django's own cursor does first: the health check (once per request), the
        # connection, the tenant's search_path (django-tenants). When the connection is open
        # and on the tenant's search_path already (the warm case), only the health check is
        # left to do; otherwise Django's cursor does it all.
        self.close_if_health_check_failed()
        if self.connection is None or not (get_limit_set_calls() and self.search_path_set_schemas):
            self.cursor().close()
        cursor = self._kept_cursor
        if cursor is None or cursor.connection is not self.connection:
            cursor = self._kept_cursor = _KeptCursor(self.connection)
        return self._prepare_cursor(cursor)
