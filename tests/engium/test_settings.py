"""ENGIUM_ENV is development, test or production, and nothing else; the test settings are `test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parents[2]
READ = "from django.conf import settings; print(settings.ENGIUM_ENV, settings.PASSWORD_HASHERS[0])"


PRODUCTION_SECRETS = {
    "SECRET_KEY": "a-production-secret",
    "ALLOWED_HOSTS": "engium.example",
    "ENGIUM_PUBLIC_URL": "https://engium.example",
    "ENGIUM_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


def load_settings(
    module: str, *, read: str = READ, **environ: str
) -> subprocess.CompletedProcess[str]:
    """Import `module` as Django's settings in a fresh interpreter, with `environ` on top."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("ENGIUM_ENV", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")
    }
    env.update(environ, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", read], env=env, cwd=BASE_DIR, capture_output=True, text=True
    )


def test_test_settings_default_to_the_test_environment_and_a_fast_hasher() -> None:
    dotenv = BASE_DIR / ".env"
    if dotenv.exists() and "ENGIUM_ENV" in dotenv.read_text():
        pytest.skip("a local .env sets ENGIUM_ENV")
    loaded = load_settings("engium.settings.test")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["test", "django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize("value", ["development", "production"])
def test_test_settings_refuse_another_environment(value: str) -> None:
    loaded = load_settings("engium.settings.test", ENGIUM_ENV=value, **PRODUCTION_SECRETS)
    assert loaded.returncode != 0
    assert f"engium.settings.test runs with ENGIUM_ENV=test, not '{value}'" in loaded.stderr


@pytest.mark.parametrize("value", ["staging", "prod", "Production", ""])
def test_an_unknown_environment_is_refused(value: str) -> None:
    loaded = load_settings("engium.settings", ENGIUM_ENV=value)
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr
    assert f"ENGIUM_ENV must be one of development, test, production, not '{value}'" in (
        loaded.stderr
    )


def test_the_test_environment_runs_on_the_defaults() -> None:
    loaded = load_settings("engium.settings", ENGIUM_ENV="test")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[0] == "test"


def test_development_without_a_secret_key_needs_debug_on() -> None:
    # Fail closed: the key in the repository is only for a developer's own machine.
    refused = load_settings("engium.settings", ENGIUM_ENV="development")
    assert refused.returncode != 0
    assert "SECRET_KEY must be set" in refused.stderr
    assert load_settings("engium.settings", ENGIUM_ENV="development", DEBUG="1").returncode == 0
    given = load_settings("engium.settings", ENGIUM_ENV="development", SECRET_KEY="s3cret-k")
    assert given.returncode == 0, given.stderr


def test_production_is_strict_about_transport() -> None:
    read = (
        "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_PROXY_SSL_HEADER is None, s.STORAGES['staticfiles']['BACKEND'])"
    )
    loaded = load_settings(
        "engium.settings", read=read, ENGIUM_ENV="production", **PRODUCTION_SECRETS
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == [
        "31536000",
        "True",
        "True",
        "True",
        "True",  # forwarded headers are not trusted by default
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
    ]
    behind = load_settings(
        "engium.settings",
        read="from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)",
        ENGIUM_ENV="production",
        ENGIUM_BEHIND_PROXY="1",
        **PRODUCTION_SECRETS,
    )
    assert "HTTP_X_FORWARDED_PROTO" in behind.stdout


@pytest.mark.parametrize("bind", ["0.0.0.0:0", "[::]:0"])
def test_gunicorn_refuses_the_network_without_a_secret_key(bind: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    ran = subprocess.run(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            str(BASE_DIR / "deploy" / "gunicorn.conf.py"),
            "--bind",
            bind,
        ],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert "Refusing to listen on" in ran.stderr + ran.stdout


def test_production_starts_with_its_secrets_and_refuses_to_without() -> None:
    loaded = load_settings("engium.settings", ENGIUM_ENV="production", **PRODUCTION_SECRETS)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[0] == "production"
    missing = load_settings(
        "engium.settings", ENGIUM_ENV="production", **{**PRODUCTION_SECRETS, "SECRET_KEY": ""}
    )
    assert missing.returncode != 0
    assert "SECRET_KEY must be set" in missing.stderr


READ_MEDIA_STORAGE = (
    "import django; django.setup(); from django.core.files.storage import storages; "
    "s = storages['media']; "
    "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.location, s.default_acl, "
    "s.file_overwrite, s.url('ten_x/a.png').split('?')[0])"
)


def test_media_storage_on_s3_is_configured_from_the_environment() -> None:
    # given an S3-compatible service (MinIO-like: its own endpoint, path-style addressing)
    loaded = load_settings(
        "engium.settings",
        ENGIUM_ENV="test",
        read=READ_MEDIA_STORAGE,
        ENGIUM_MEDIA_STORAGE="s3",
        ENGIUM_MEDIA_S3_BUCKET="engium-media",
        ENGIUM_MEDIA_S3_ENDPOINT_URL="https://minio.internal:9000",
        ENGIUM_MEDIA_S3_REGION="eu-west-1",
        ENGIUM_MEDIA_S3_ACCESS_KEY_ID="AKIAEXAMPLE",
        ENGIUM_MEDIA_S3_SECRET_ACCESS_KEY="secret-example",
        ENGIUM_MEDIA_S3_ADDRESSING_STYLE="path",
    )
    # then django-storages' S3 backend holds it: private objects under the `media` prefix,
    # signed (query-string) object URLs on that endpoint; nothing reached the network
    assert loaded.returncode == 0, loaded.stderr
    backend, bucket, endpoint, location, acl, overwrite, url = loaded.stdout.split()
    assert (backend, bucket, endpoint) == (
        "S3Storage",
        "engium-media",
        "https://minio.internal:9000",
    )
    assert (location, acl, overwrite) == ("media", "None", "False")
    assert url == "https://minio.internal:9000/engium-media/media/ten_x/a.png"


def test_media_storage_defaults_to_the_file_system_and_refuses_what_it_does_not_know() -> None:
    loaded = load_settings(
        "engium.settings",
        ENGIUM_ENV="test",
        read="from django.conf import settings; print(settings.STORAGES['media']['BACKEND'])",
    )
    assert loaded.stdout.strip() == "django.core.files.storage.FileSystemStorage", loaded.stderr
    no_bucket = load_settings("engium.settings", ENGIUM_ENV="test", ENGIUM_MEDIA_STORAGE="s3")
    assert no_bucket.returncode != 0 and "ENGIUM_MEDIA_S3_BUCKET" in no_bucket.stderr
    unknown = load_settings("engium.settings", ENGIUM_ENV="test", ENGIUM_MEDIA_STORAGE="ftp")
    assert unknown.returncode != 0
    assert "ENGIUM_MEDIA_STORAGE must be `filesystem` or `s3`" in unknown.stderr


def test_webhook_host_answers_are_read_and_must_be_addresses() -> None:
    read = (
        "from django.conf import settings; print(sorted(settings.ENGIUM_WEBHOOKS_RESOLVE.items()))"
    )
    loaded = load_settings(
        "engium.settings",
        read=read,
        ENGIUM_ENV="test",
        ENGIUM_WEBHOOKS_RESOLVE="Hooks.Example=127.0.0.1,v6.example=::1",
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[('hooks.example', '127.0.0.1'), ('v6.example', '::1')]"
    refused = load_settings(
        "engium.settings", ENGIUM_ENV="test", ENGIUM_WEBHOOKS_RESOLVE="hooks.example=localhost"
    )
    assert refused.returncode != 0
    assert "ENGIUM_WEBHOOKS_RESOLVE: 'localhost' (for 'hooks.example') is not an IP address" in (
        refused.stderr
    )
