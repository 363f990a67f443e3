"""No pattern (``_like``) index on an event's ID: no query uses it, and every send that
raises an event wrote an entry to it."""

from django.db import migrations

from engium.postgresql.indexes import drop_pattern_indexes


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0002_endpoints_deliveries_attempts'),
    ]

    operations = [drop_pattern_indexes('webhooks', [('event', 'id')])]
