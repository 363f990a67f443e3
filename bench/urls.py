from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from engium.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The ceiling: a plain Django view through the same middleware and gunicorn."""
    return JsonResponse({"id": "sess_bench", "status": "active", "channel": "whatsapp"}, status=201)


#: The durable-insert arm's table (public schema), made and dropped by `bench.run`.
DURABLE_TABLE = "bench_durable_insert"


@csrf_exempt
def durable(request: HttpRequest) -> JsonResponse:
    """The floor of "accepted and will not be lost": one durable INSERT of the body, then 201.

    Autocommit: one round trip, and the answer waits for the WAL flush, as the send's does.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DURABLE_TABLE} (body) VALUES (%s)",  # noqa: S608 (a constant)
            [request.body.decode()],
        )
    return JsonResponse({"id": "sess_bench", "status": "active", "channel": "whatsapp"}, status=201)


urlpatterns = [
    path("bench/bare", bare),
    path("bench/durable", durable),
    *product_urlpatterns,
]
