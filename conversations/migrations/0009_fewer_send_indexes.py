"""The send's statement writes fewer index entries (docs/architecture.md#the-one-statement):
no pattern (``_like``) indexes on IDs, which no query uses, and no index of a message's
conversation of its own, which ``message_by_conversation`` already leads with.

Outside a transaction, so that the indexes go with ``DROP INDEX CONCURRENTLY``
(`engium.postgresql.indexes`): sends go on meanwhile."""

import django.db.models.deletion
from django.db import migrations, models

from engium.postgresql.indexes import PATTERN, PLAIN, drop_indexes


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('conversations', '0008_message_in_flight'),
    ]

    operations = [
        drop_indexes(
            'conversations',
            [
                ('conversation', 'id', PATTERN),
                ('conversation', 'integration', PATTERN),
                ('message', 'id', PATTERN),
                ('message', 'integration', PATTERN),
                ('message', 'conversation', PLAIN),
                ('message', 'conversation', PATTERN),
                ('messagestatuschange', 'message', PATTERN),
                ('idempotencykey', 'key', PATTERN),
            ],
        ),
        # The model says so too; its indexes went above, without AlterField's plain DROP.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='message',
                    name='conversation',
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name='messages',
                        to='conversations.conversation',
                    ),
                ),
            ],
        ),
    ]
