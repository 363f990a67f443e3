"""The Python SDK (clients/python) against the real stack.

The SDK's package is named `engium`, like the server's. The two never meet in one import
name: this test process (the server's checkout on sys.path) loads the SDK's source as
`engium_sdk` (the SDK imports only relatively inside its package, `test_packaging.py` checks
it), and code meant for SDK users (the portal's examples) runs in a subprocess where the built
wheel is installed and the checkout is not on sys.path (`sdk_runner`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.conftest import Stack, Tenant

BASE_DIR = Path(__file__).resolve().parents[3]
SDK_DIR = BASE_DIR / "clients" / "python"
SDK_PACKAGE = SDK_DIR / "src" / "engium"


def load_sdk() -> ModuleType:
    """The SDK's source as the module `engium_sdk` (the server's `engium` stays untouched)."""
    if "engium_sdk" in sys.modules:
        return sys.modules["engium_sdk"]
    spec = importlib.util.spec_from_file_location(
        "engium_sdk",
        SDK_PACKAGE / "__init__.py",
        submodule_search_locations=[str(SDK_PACKAGE)],
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["engium_sdk"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sdk() -> ModuleType:
    return load_sdk()


@dataclass
class Credentials:
    base_url: str
    tenant_id: str
    api_key: str

    def client(self, sdk: ModuleType, **options: Any) -> Any:
        options.setdefault("backoff_base", 0.05)
        return sdk.Engium(
            api_key=self.api_key, tenant_id=self.tenant_id, base_url=self.base_url, **options
        )


def sandbox_tenant(stack: Stack, name: str) -> Tenant:
    """A new tenant of the running stack, with a sandbox integration on every channel."""
    tenant = Tenant(stack, stack.create_tenant(name))
    for channel in ("whatsapp", "sms", "voice"):
        answer = tenant.client.post(
            "integrations", json={"channel": channel, "provider": "sandbox"}
        )
        assert answer.status_code == 201, answer.text
    return tenant


@pytest.fixture(scope="module")
def credentials(stack: Stack, request: pytest.FixtureRequest) -> Iterator[Credentials]:
    """One tenant for a module's tests (each test uses recipients or filters of its own)."""
    tenant = sandbox_tenant(stack, f"e2e {request.module.__name__}")
    key = tenant.client.headers["Authorization"].removeprefix("Bearer ")
    yield Credentials(stack.base_url, tenant.id, key)
    tenant.client.close()


@dataclass
class SdkRunner:
    """Runs Python code with the SDK installed from its wheel, as a user's program would."""

    site: Path
    workdir: Path

    def run(
        self, code: str, env: dict[str, str], timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        script = self.workdir / "example.py"
        script.write_text(code)
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")
        }
        environment.update(env)
        environment["PYTHONPATH"] = str(self.site)
        return subprocess.run(
            [sys.executable, str(script)],
            cwd=self.workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def sdk_runner() -> Iterator[SdkRunner]:
    """`pip wheel ./clients/python`, installed into a folder of its own (httpx comes from the
    venv, the SDK's only dependency). Built with the venv's hatchling (a dev dependency): no
    index is needed."""
    with tempfile.TemporaryDirectory(prefix="engium-sdk-") as tmp:
        root = Path(tmp)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run(
            [
                *pip,
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                str(root / "dist"),
                str(SDK_DIR),
            ],
            check=True,
            capture_output=True,
        )
        (wheel,) = (root / "dist").glob("engium_sdk-*.whl")
        subprocess.run(
            [*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)],
            check=True,
            capture_output=True,
        )
        workdir = root / "work"
        workdir.mkdir()
        yield SdkRunner(root / "site", workdir)
