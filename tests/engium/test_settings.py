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


def load_settings(module: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Import `module` as Django's settings in a fresh interpreter, with `environ` on top."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("ENGIUM_ENV", "DJANGO_SETTINGS_MODULE")
    }
    env.update(environ, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", READ], env=env, cwd=BASE_DIR, capture_output=True, text=True
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


@pytest.mark.parametrize("value", ["development", "test"])
def test_development_and_test_run_on_the_defaults(value: str) -> None:
    loaded = load_settings("engium.settings", ENGIUM_ENV=value)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[0] == value


def test_production_starts_with_its_secrets_and_refuses_to_without() -> None:
    loaded = load_settings("engium.settings", ENGIUM_ENV="production", **PRODUCTION_SECRETS)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[0] == "production"
    missing = load_settings(
        "engium.settings", ENGIUM_ENV="production", **{**PRODUCTION_SECRETS, "SECRET_KEY": ""}
    )
    assert missing.returncode != 0
    assert "SECRET_KEY must be set when ENGIUM_ENV=production" in missing.stderr
