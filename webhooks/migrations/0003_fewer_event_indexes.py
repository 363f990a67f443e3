"""No pattern (``_like``) indexes on an event's ID nor on a delivery's event and endpoint:
no query uses them, and a send that raises an event wrote an entry to each
(`engium.postgresql.indexes`, outside a transaction: ``DROP INDEX CONCURRENTLY``)."""

from django.db import migrations

from engium.postgresql.indexes import PATTERN, drop_indexes


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('webhooks', '0002_endpoints_deliveries_attempts'),
    ]

    operations = [
        drop_indexes(
            'webhooks',
            [('event', 'id', PATTERN), ('delivery', 'event', PATTERN), ('delivery', 'endpoint', PATTERN)],
        ),
    ]
