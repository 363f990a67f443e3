"""The send's statement writes fewer index entries (docs/architecture.md#the-one-statement):
no pattern (``_like``) indexes on IDs, which no query uses, and no index of a message's
conversation of its own, which ``message_by_conversation`` already leads with."""

import django.db.models.deletion
from django.db import migrations, models

from engium.postgresql.indexes import drop_pattern_indexes


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0008_message_in_flight'),
    ]

    operations = [
        drop_pattern_indexes(
            'conversations',
            [
                ('conversation', 'id'),
                ('conversation', 'integration'),
                ('message', 'id'),
                ('message', 'integration'),
                ('messagestatuschange', 'message'),
                ('idempotencykey', 'key'),
            ],
        ),
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
    ]
