from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from conversations.views import SendMessageView
from engium.ratelimit import MovingWindowLimiter, Pending, Permit
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


class NoLimiter(MovingWindowLimiter):
    """Accepts every request without asking Redis: the send with its rate limiter off.

    Its permit carries a remaining count and a reset, so that the answer has the same
    three ``X-RateLimit-*`` headers as the limited send's: only the limiter differs.
    """

    def __init__(self) -> None:
        super().__init__("bench:unlimited")

    def ask(self, subject: str, *, limit: int) -> Pending:
        return Pending.answered(self, self.take(subject, limit=limit))

    def take(self, subject: str, *, limit: int) -> Permit:
        return Permit(accepted=True, limit=limit, remaining=limit - 1, reset_seconds=60)

    def give_back(self, permit: Permit) -> None:
        return None


class UnlimitedSendView(SendMessageView):
    """The send exactly as the API serves it, but for its rate limiter (under /api/v1/, so
    authentication and the tenant's schema work as for the send)."""

    limiter = NoLimiter()


urlpatterns = [
    path("bench/bare", bare),
    path("bench/durable", durable),
    path("api/v1/bench/send-unlimited", UnlimitedSendView.as_view()),
    *product_urlpatterns,
]
