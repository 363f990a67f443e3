from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from engium.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The ceiling: a plain Django view through the same middleware and gunicorn."""
    return JsonResponse({"id": "sess_bench", "status": "active", "channel": "whatsapp"}, status=201)


urlpatterns = [path("bench/bare", bare), *product_urlpatterns]
