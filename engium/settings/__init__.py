"""Engium settings, all read from the environment (12-factor) through django-environ.

``ENGIUM_ENV`` is ``development`` (the default), ``test`` (the test suite, whose settings are
`engium.settings.test`) or ``production``. Every setting has a default that works for the
embedded run (`make run`); with ``ENGIUM_ENV=production`` the secrets must be given or start-up
fails.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from engium.broker import broker_url_for

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STATE_DIR = BASE_DIR / ".engium"

env = environ.Env()
# `.env` at the repository root wins over the file the embedded launcher writes.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
environ.Env.read_env(STATE_DIR / "services.env", overwrite=False)

# ------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------
ENGIUM_ENVS = ("development", "test", "production")
# The test suite's settings build on these ones: with them, the environment is `test`.
_TEST_SETTINGS = os.environ.get("DJANGO_SETTINGS_MODULE") == "engium.settings.test"
ENGIUM_ENV = env.str("ENGIUM_ENV", default="test" if _TEST_SETTINGS else "development")
if ENGIUM_ENV not in ENGIUM_ENVS:
    raise ImproperlyConfigured(
        f"ENGIUM_ENV must be one of {', '.join(ENGIUM_ENVS)}, not {ENGIUM_ENV!r}"
    )
PRODUCTION = ENGIUM_ENV == "production"
DEBUG = env.bool("DEBUG", default=False)

# Fail closed: without a SECRET_KEY of its own, a process only starts for the test suite or
# for local development with DEBUG on (and `deploy/gunicorn.conf.py` refuses to serve such
# a process on anything but loopback). `make run` generates and keeps its own keys.
_DEV_SECRET_KEY = "engium-development-secret-key-not-for-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
SECRET_KEY_IS_SET = bool(SECRET_KEY)
if not SECRET_KEY:
    if PRODUCTION or not (DEBUG or ENGIUM_ENV == "test"):
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (DEBUG=1 allows a development key on a local machine; "
            "`make run` generates one for itself)"
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
ENGIUM_PUBLIC_URL = env.str(
    "ENGIUM_PUBLIC_URL", default="" if PRODUCTION else "http://localhost:8000"
).rstrip("/")
if PRODUCTION and not (ALLOWED_HOSTS and ENGIUM_PUBLIC_URL):
    raise ImproperlyConfigured("ALLOWED_HOSTS and ENGIUM_PUBLIC_URL must be set in production")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[ENGIUM_PUBLIC_URL])

# ------------------------------------------------------------------------------
# Apps: public schema (SHARED_APPS) and one schema per tenant (TENANT_APPS)
# ------------------------------------------------------------------------------
SHARED_APPS = [
    # Ours first, so that its `create_tenant` command is the one manage.py runs.
    "tenants",
    "django_tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_htmx",
    # The tenant console (/console/) and the support admin of tenants' data; no models.
    "console",
    # The developer portal at /docs/ (no models).
    "portal",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "agents",
    "integrations",
    "message_templates",
    "conversations",
    "webhooks",
    "media",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# One `SET search_path` per connection and tenant switch instead of one per cursor.
TENANT_LIMIT_SET_CALLS = True
# New tenants' schemas are cloned from this schema, which `migrate_schemas` keeps migrated
# (tenants/provisioning.py); without it they are migrated one by one.
ENGIUM_TENANT_TEMPLATE_SCHEMA = env.str("ENGIUM_TENANT_TEMPLATE_SCHEMA", default="tenant_template")
# Tenants `migrate_schemas` migrates at once (processes); 0: min(4, CPUs).
ENGIUM_MIGRATION_PROCESSES = env.int("ENGIUM_MIGRATION_PROCESSES", default=0)
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    # Outermost, so that every answer carries the security headers, including the 401 and
    # 413 that the middleware below answer before any view runs.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "engium.middleware.RequestIDMiddleware",
    "engium.middleware.ApiGuardMiddleware",
    "tenants.middleware.TenantHeaderMiddleware",
    # The pages' own (sessions, signed-in users, messages, htmx): Django's and django-htmx's,
    # passed over by API requests (`console.middleware`).
    "console.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "console.middleware.AuthenticationMiddleware",
    "console.middleware.MessageMiddleware",
    "console.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "engium.urls"
WSGI_APPLICATION = "engium.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database, cache, broker
# ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/engium"),
}
# django-tenants' backend, with a health check without a round trip and prepared statements
# for the send (`engium.postgresql.base`).
DATABASES["default"]["ENGINE"] = "engium.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# Without a health check, the first request on a connection that a database restart broke
# fails once per process. It costs no round trip on an idle, healthy connection
# (`engium.postgresql.base`).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "engium.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("ENGIUM_CACHE_PREFIX", default="engium"),
        "TIMEOUT": 300,
        # A cache that hangs would hang every request: fail fast and fall back (engium.cache).
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


# Celery's own closing of database connections around each task is off; `engium.celery`
# handles them as Django handles a request's (CONN_MAX_AGE, health checks).
CELERY_DB_REUSE_MAX = 2**62
# tenant-schemas-celery looks up the task's tenant by its schema name once per this many
# seconds per worker process, not before every task (a tenant's default language, which
# Voice speaks in, reaches the workers that much later).
CELERY_TASK_TENANT_CACHE_SECONDS = env.int("CELERY_TASK_TENANT_CACHE_SECONDS", default=30)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=broker_url_for(REDIS_URL))
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Declared, so that a plain `celery -A engium worker` consumes every queue.
CELERY_TASK_QUEUES = [Queue(name) for name in ("delivery", "webhooks", "agents", "default")]
CELERY_TASK_ROUTES = {
    "conversations.deliver_message": {"queue": "delivery"},
    "conversations.deliver_messages": {"queue": "delivery"},
    "conversations.dispatch_messages": {"queue": "delivery"},
    "conversations.apply_status_report": {"queue": "delivery"},
    "conversations.process_callback": {"queue": "delivery"},
    "conversations.answer_inbound": {"queue": "agents"},
    "webhooks.*": {"queue": "webhooks"},
    "agents.*": {"queue": "agents"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish must fail fast when the broker is down: the outbox sweep re-sends later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Workers log through Django's LOGGING (one JSON object per line) like the web processes.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# How often beat checks database, broker and workers for `/status` (served from the cache).
ENGIUM_STATUS_REFRESH_SECONDS = env.float("ENGIUM_STATUS_REFRESH_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {
        "task": "conversations.sweep_undelivered",
        "schedule": env.float("ENGIUM_OUTBOX_SWEEP_SECONDS", default=5.0),
    },
    "close-idle-conversations": {
        "task": "conversations.close_idle_conversations",
        "schedule": 60.0,
    },
    "purge-provider-log": {
        "task": "conversations.purge_provider_log",
        "schedule": 3600.0,
    },
    "purge-idempotency-keys": {
        "task": "conversations.purge_idempotency_keys",
        "schedule": 3600.0,
    },
    # WhatsApp's template review: statuses read from Graph, lost submissions made again.
    "sync-templates": {
        "task": "message_templates.sync_templates",
        "schedule": env.float("ENGIUM_TEMPLATE_SYNC_SECONDS", default=600.0),
    },
    "refresh-status": {
        "task": "engium.refresh_status",
        "schedule": ENGIUM_STATUS_REFRESH_SECONDS,
    },
    # Due webhook deliveries (new ones whose publish was lost, and retries) go out from here.
    "sweep-webhooks": {
        "task": "webhooks.sweep_deliveries",
        "schedule": env.float("ENGIUM_WEBHOOK_SWEEP_SECONDS", default=1.0),
    },
    "purge-webhook-attempts": {
        "task": "webhooks.purge_deliveries",
        "schedule": 3600.0,
    },
}
# Tasks outside the apps' `tasks` modules.
CELERY_IMPORTS = ["engium.health"]


# ------------------------------------------------------------------------------
# Security
# ------------------------------------------------------------------------------
def _dev_encryption_key() -> str:
    digest = hashlib.sha256(("engium-encryption:" + SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Comma-separated Fernet keys; the first encrypts, all decrypt (key rotation).
ENGIUM_ENCRYPTION_KEYS = env.list(
    "ENGIUM_ENCRYPTION_KEY", default=[] if PRODUCTION else [_dev_encryption_key()]
)
if not ENGIUM_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("ENGIUM_ENCRYPTION_KEY must be set when ENGIUM_ENV=production")
for _key in ENGIUM_ENCRYPTION_KEYS:
    try:
        Fernet(_key.encode())
    except ValueError as _exc:
        raise ImproperlyConfigured(
            "ENGIUM_ENCRYPTION_KEY holds a key that is not a Fernet key (32 url-safe base64 bytes)"
        ) from _exc

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
# In production the console's cookies are `__Host-` cookies: HTTPS only, this host only
# (never a parent domain), whole site.
if PRODUCTION:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
# Forwarded headers are trusted only when a proxy that overwrites them stands in front
# (`deploy/nginx.conf`); a client could set them otherwise.
ENGIUM_BEHIND_PROXY = env.bool("ENGIUM_BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if ENGIUM_BEHIND_PROXY else None
USE_X_FORWARDED_HOST = False
# Production is HTTPS only: redirect plain HTTP (but the probes), and tell browsers so.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Console and admin logins (docs/operations.md#console-logins): django-axes counts failed
# logins per user name and client address and locks that pair out for a while.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked.html"
# The client's address: nginx (deploy/nginx.conf) overwrites X-Forwarded-For with it; without
# a proxy in front, a client could set that header, so only the socket's address counts.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if ENGIUM_BEHIND_PROXY else ("REMOTE_ADDR",)
)
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
# Password reset and member invitations. EMAIL_URL, e.g. smtp+tls://user:password@host:587;
# the default prints mails on the web process's standard output.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Engium <no-reply@localhost>")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 86400)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# ------------------------------------------------------------------------------
# API
# ------------------------------------------------------------------------------
ENGIUM_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = ENGIUM_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["engium.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "engium.api.errors.handle_exception",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # ASCII JSON: an answer that echoes a lone surrogate of the request still encodes.
    "UNICODE_JSON": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Engium API",
    "DESCRIPTION": (
        "WhatsApp, SMS and Voice conversations behind one REST API.\n\n"
        "Every request carries `Authorization: Bearer <API key>` and `X-Tenant-ID`. Bodies are "
        "JSON (`Content-Type: application/json`, at most 1 MiB), but a media upload's "
        "(`multipart/form-data`, up to 100 MB). Every error answer is "
        '`{"error": {"code", "message", "field"?, "details"?}}`; besides the statuses listed '
        "per operation, a method a path does not offer answers 405 (`method_not_allowed`, with "
        "`Allow`) and an `Accept` header without JSON answers 406 (`not_acceptable`). Every "
        "answer carries an `X-Request-ID` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # A field that refuses "" says so (`minLength: 1`): the schema is as strict as the API.
    "ENFORCE_NON_BLANK_FIELDS": True,
    # Security schemes come from `engium.api.openapi.ApiKeyAuthenticationScheme`.
    # Choice labels equal their values: a "* `x` - x" list would only repeat the enum.
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Enums shared by several fields named alike get one name each.
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "integrations.models.Channel.values",
        "ConversationStatusEnum": "conversations.models.ConversationStatus.values",
        "MessageStatusEnum": "conversations.models.MessageStatus.values",
        "MessageDirectionEnum": "conversations.models.MessageDirection.values",
        "IntegrationStatusEnum": "integrations.models.IntegrationStatus.values",
        "LanguageEnum": "tenants.models.Language.values",
    },
}

# ------------------------------------------------------------------------------
# Product behaviour
# ------------------------------------------------------------------------------
# Outbound messages per minute by plan; a tenant's own `rate_limit` overrides it.
ENGIUM_PLAN_RATE_LIMITS = {"free": 100, "starter": 500, "pro": 2000}
ENGIUM_CONVERSATION_IDLE_SECONDS = env.int("ENGIUM_CONVERSATION_IDLE_SECONDS", default=24 * 3600)
# A due message whose task was published but has not claimed it this long is re-dispatched
# (its task was lost with a broker or a worker). A failed publish is re-dispatched at once.
ENGIUM_REDISPATCH_AFTER_SECONDS = env.float("ENGIUM_REDISPATCH_AFTER_SECONDS", default=300.0)
# How long a worker owns a message it is sending before another may take it over.
ENGIUM_DELIVERY_LEASE_SECONDS = env.float("ENGIUM_DELIVERY_LEASE_SECONDS", default=120.0)
ENGIUM_DELIVERY_MAX_ATTEMPTS = env.int("ENGIUM_DELIVERY_MAX_ATTEMPTS", default=8)
# An attempt whose outcome was lost (its worker died while the provider answered) is looked
# up at the provider before anything is sent again. Where the provider cannot be asked
# (WhatsApp Cloud), `fail` fails the message with `delivery_outcome_unknown` (never twice;
# a later report from the provider still moves it on) and `resend` sends it again.
ENGIUM_DELIVERY_UNKNOWN_OUTCOME = env.str("ENGIUM_DELIVERY_UNKNOWN_OUTCOME", default="fail")
if ENGIUM_DELIVERY_UNKNOWN_OUTCOME not in {"fail", "resend"}:
    raise ImproperlyConfigured("ENGIUM_DELIVERY_UNKNOWN_OUTCOME must be `fail` or `resend`")
ENGIUM_DELIVERY_BACKOFF_BASE_SECONDS = env.float(
    "ENGIUM_DELIVERY_BACKOFF_BASE_SECONDS", default=5.0
)
ENGIUM_DELIVERY_BACKOFF_MAX_SECONDS = env.float(
    "ENGIUM_DELIVERY_BACKOFF_MAX_SECONDS", default=600.0
)
# Fair delivery (docs/architecture.md#fair-delivery-across-tenants): at most this many of one
# tenant's messages are in flight at once (in a task on the queue, or being sent); the rest
# wait in the database and are dispatched as the tenant's earlier ones finish. A lone tenant
# keeps every worker busy while IN_FLIGHT / BATCH ≥ the worker processes on `delivery`.
ENGIUM_DELIVERY_TENANT_IN_FLIGHT = env.int("ENGIUM_DELIVERY_TENANT_IN_FLIGHT", default=100)
# Messages per delivery task: a worker sends one batch, in order, then dispatches the next.
ENGIUM_DELIVERY_BATCH = env.int("ENGIUM_DELIVERY_BATCH", default=5)
# Threads per worker process that call providers whose send is only HTTP (Twilio, WhatsApp
# Cloud): a batch's messages go out at once, each on one of them.
ENGIUM_DELIVERY_SENDERS = env.int("ENGIUM_DELIVERY_SENDERS", default=32)
# Publish delivery tasks from a background thread, batched (off the send request's path).
ENGIUM_DISPATCH_IN_BACKGROUND = env.bool("ENGIUM_DISPATCH_IN_BACKGROUND", default=True)
ENGIUM_DISPATCH_WINDOW_MS = env.float("ENGIUM_DISPATCH_WINDOW_MS", default=25.0)
# Webhooks (docs/operations.md#webhooks).
ENGIUM_WEBHOOKS_ALLOW_PRIVATE = env.bool("ENGIUM_WEBHOOKS_ALLOW_PRIVATE", default=False)
# The certificate authorities trusted for https endpoints: a PEM file; empty is certifi's bundle.
ENGIUM_WEBHOOKS_CA_BUNDLE = env.str("ENGIUM_WEBHOOKS_CA_BUNDLE", default="")
# Fixed answers for endpoint host names, "name=address,…" (as curl's --resolve): the address
# is used instead of DNS and still passes the SSRF check (development and tests).
ENGIUM_WEBHOOKS_RESOLVE = {
    name.lower(): address
    for name, address in env.dict("ENGIUM_WEBHOOKS_RESOLVE", default={}).items()
}
for _name, _address in ENGIUM_WEBHOOKS_RESOLVE.items():
    try:
        ipaddress.ip_address(_address)
    except ValueError:
        raise ImproperlyConfigured(
            f"ENGIUM_WEBHOOKS_RESOLVE: {_address!r} (for {_name!r}) is not an IP address"
        ) from None
ENGIUM_WEBHOOK_TIMEOUT_SECONDS = env.float("ENGIUM_WEBHOOK_TIMEOUT_SECONDS", default=15.0)
ENGIUM_WEBHOOK_RETRY_SCHEDULE = [
    float(s)
    for s in env.list(
        "ENGIUM_WEBHOOK_RETRY_SCHEDULE",
        default=[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
    )
]
ENGIUM_WEBHOOK_RETRY_AFTER_MAX_SECONDS = env.float(
    "ENGIUM_WEBHOOK_RETRY_AFTER_MAX_SECONDS", default=86400.0
)
ENGIUM_WEBHOOK_DISABLE_AFTER_SECONDS = env.float(
    "ENGIUM_WEBHOOK_DISABLE_AFTER_SECONDS", default=5 * 86400.0
)
ENGIUM_WEBHOOK_LEASE_SECONDS = env.float("ENGIUM_WEBHOOK_LEASE_SECONDS", default=60.0)
ENGIUM_WEBHOOK_REDISPATCH_AFTER_SECONDS = env.float(
    "ENGIUM_WEBHOOK_REDISPATCH_AFTER_SECONDS", default=30.0
)
ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY = env.int("ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY", default=20)
# Deliveries a worker process has started and not yet recorded; past it, its tasks wait.
ENGIUM_WEBHOOK_WORKER_IN_FLIGHT = env.int("ENGIUM_WEBHOOK_WORKER_IN_FLIGHT", default=100)
ENGIUM_WEBHOOK_RETENTION_DAYS = env.int("ENGIUM_WEBHOOK_RETENTION_DAYS", default=90)
ENGIUM_PROVIDER_TIMEOUT_SECONDS = env.float("ENGIUM_PROVIDER_TIMEOUT_SECONDS", default=15.0)
ENGIUM_PROVIDERS = {
    "sandbox": "integrations.providers.sandbox.SandboxProvider",
    "twilio": "integrations.providers.twilio.TwilioProvider",
    "whatsapp_cloud": "integrations.providers.whatsapp_cloud.WhatsAppCloudProvider",
}
# How long the per-message provider log (requests and answers, secrets redacted) is kept.
ENGIUM_PROVIDER_LOG_DAYS = env.int("ENGIUM_PROVIDER_LOG_DAYS", default=30)
# Per-process memo in front of Redis for tenants, keys and routing (0 turns it off).
ENGIUM_LOCAL_CACHE_SECONDS = env.float("ENGIUM_LOCAL_CACHE_SECONDS", default=1.0)
# Agent roles (docs/operations.md#agents). With ENGIUM_LLM_URL set, agents answer through
# that OpenAI-compatible API (`{url}/chat/completions`); without it, the built-in agent does.
ENGIUM_LLM_URL = env.str("ENGIUM_LLM_URL", default="").rstrip("/")
ENGIUM_LLM_MODEL = env.str("ENGIUM_LLM_MODEL", default="gpt-4o-mini")
ENGIUM_LLM_API_KEY = env.str("ENGIUM_LLM_API_KEY", default="")
ENGIUM_LLM_TIMEOUT = env.float("ENGIUM_LLM_TIMEOUT", default=20.0)
# How many of a conversation's latest messages the model is shown.
ENGIUM_AGENT_HISTORY_MESSAGES = env.int("ENGIUM_AGENT_HISTORY_MESSAGES", default=12)
# An inbound message not answered within this long (workers down) is left for a person.
ENGIUM_AGENT_REPLY_MAX_AGE_SECONDS = env.float("ENGIUM_AGENT_REPLY_MAX_AGE_SECONDS", default=3600.0)

# ------------------------------------------------------------------------------
# Media files (docs/operations.md#media)
# ------------------------------------------------------------------------------
# Where uploaded and inbound media live: `filesystem` (under ENGIUM_MEDIA_ROOT, the default)
# or `s3` (any S3-compatible service, through django-storages). Every process that serves
# `/media/…` or stores media must see the same storage: on more than one host, use S3 or a
# shared volume.
ENGIUM_MEDIA_STORAGE = env.str("ENGIUM_MEDIA_STORAGE", default="filesystem")
ENGIUM_MEDIA_ROOT = env.str("ENGIUM_MEDIA_ROOT", default=str(STATE_DIR / "media"))
if ENGIUM_MEDIA_STORAGE == "filesystem":
    MEDIA_STORAGE: dict[str, object] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Never served by URL from the storage: only through signed `/media/{token}` URLs.
        "OPTIONS": {"location": ENGIUM_MEDIA_ROOT, "base_url": None},
    }
elif ENGIUM_MEDIA_STORAGE == "s3":
    MEDIA_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("ENGIUM_MEDIA_S3_BUCKET"),
            "endpoint_url": env.str("ENGIUM_MEDIA_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("ENGIUM_MEDIA_S3_REGION", default=None),
            # Unset: boto3's own chain (AWS_* variables, instance or task role).
            "access_key": env.str("ENGIUM_MEDIA_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("ENGIUM_MEDIA_S3_SECRET_ACCESS_KEY", default=None),
            "location": env.str("ENGIUM_MEDIA_S3_PREFIX", default="media"),
            "addressing_style": env.str("ENGIUM_MEDIA_S3_ADDRESSING_STYLE", default=None),
            # Private objects: they are read by Engium and served through signed URLs.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured("ENGIUM_MEDIA_STORAGE must be `filesystem` or `s3`")
# How long a signed media URL works (7 days); every answer and delivery signs a fresh one.
ENGIUM_MEDIA_URL_MAX_AGE_SECONDS = env.int("ENGIUM_MEDIA_URL_MAX_AGE_SECONDS", default=7 * 86400)
# The largest media file (WhatsApp's document limit); an upload's body may exceed it by the
# multipart framing and form fields (ENGIUM_MAX_BODY_BYTES).
ENGIUM_MEDIA_MAX_BYTES = env.int("ENGIUM_MEDIA_MAX_BYTES", default=100_000_000)
ENGIUM_MEDIA_MAX_UPLOAD_BYTES = ENGIUM_MEDIA_MAX_BYTES + ENGIUM_MAX_BODY_BYTES
# Per channel and media type, in bytes (media.limits; decimal megabytes, as providers count).
ENGIUM_MEDIA_CHANNEL_LIMITS = {
    "whatsapp": {
        "image": 5_000_000,
        "audio": 16_000_000,
        "video": 16_000_000,
        "document": 100_000_000,
    },
    "sms": {"image": 5_000_000, "audio": 5_000_000, "video": 5_000_000, "document": 5_000_000},
    "voice": {},
}
# Inbound media fetched from providers: attempts before giving up, and the first retry delay.
ENGIUM_MEDIA_FETCH_MAX_ATTEMPTS = env.int("ENGIUM_MEDIA_FETCH_MAX_ATTEMPTS", default=6)
ENGIUM_MEDIA_FETCH_BACKOFF_SECONDS = env.float("ENGIUM_MEDIA_FETCH_BACKOFF_SECONDS", default=30.0)

# ------------------------------------------------------------------------------
# Static files, i18n
# ------------------------------------------------------------------------------
STATIC_URL = "/static/"
# Where `collectstatic` gathers files for production; elsewhere nothing is collected.
STATIC_ROOT = env.str("STATIC_ROOT", default=str(STATE_DIR / "staticfiles") if PRODUCTION else None)
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files in every run mode. Production serves what `collectstatic`
# gathered, compressed and with hashed names (cached forever); elsewhere files are served
# straight from the apps, with no collect step.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    "media": MEDIA_STORAGE,
}
WHITENOISE_USE_FINDERS = not PRODUCTION
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ------------------------------------------------------------------------------
# Logging: one JSON object per line, each with the request ID
# ------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "engium.logging.RequestIDFilter"},
        "redact": {"()": "engium.logging.RedactingFilter"},
        "client_errors": {"()": "engium.logging.ClientErrorFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "client_errors", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "WARNING"},
        # django-axes logs its start and every login at INFO; lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}
