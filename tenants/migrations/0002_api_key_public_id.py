"""API keys get public IDs (``key_…``) instead of integers, so the API can name them.

Existing keys keep their order: they are numbered in order of creation. Nothing refers to
an API key's ID (no foreign key), so the column changes type in place. Irreversible.
"""

from django.db import migrations, models

import tenants.models
from engium.ids import new_id


def number_existing_keys(apps, schema_editor):
    # `new_id` increases within a process, so the new IDs sort as the keys were created.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id FROM tenants_apikey ORDER BY created_at, id::bigint")
        old_ids = [row[0] for row in cursor.fetchall()]
        for old_id in old_ids:
            cursor.execute(
                "UPDATE tenants_apikey SET id = %s WHERE id = %s", [new_id("key"), old_id]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apikey",
            options={"ordering": ["-id"], "verbose_name": "API key"},
        ),
        migrations.AlterField(
            model_name="apikey",
            name="id",
            field=models.CharField(
                default=tenants.models.new_api_key_id,
                editable=False,
                max_length=40,
                primary_key=True,
                serialize=False,
            ),
        ),
        migrations.RunPython(number_existing_keys, migrations.RunPython.noop, elidable=False),
    ]
