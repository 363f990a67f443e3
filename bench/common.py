"""What the benchmarks share: their environment, `manage.py` calls and percentiles."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def bench_environment(services: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's processes: its settings, a cache prefix of its own,
    and a secret key (the settings refuse to start without one)."""
    return {
        **os.environ,
        **(services or {}),
        "PYTHONPATH": str(BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "ENGIUM_CACHE_PREFIX": "engium-bench",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        **extra,
    }


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.99 for p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
