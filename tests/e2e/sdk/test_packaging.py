"""The SDK as a package: installable, self-contained, generated parts up to date."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.e2e.sdk.conftest import SDK_DIR, SDK_PACKAGE, SdkRunner


def test_the_sdk_imports_only_relatively_inside_its_package() -> None:
    # What lets the server's tests load it as `engium_sdk` beside the server's `engium`.
    offenders = []
    for module in SDK_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [f"{module.name}: {n}" for n in names if n.split(".")[0] == "engium"]
    assert offenders == []


def test_the_async_resources_are_generated_from_the_sync_ones() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/generate_async.py", "--check"],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_built_wheel_installs_a_package_engium_that_is_the_sdk(sdk_runner: SdkRunner) -> None:
    result = sdk_runner.run(
        "import engium, engium.webhooks\n"
        "from engium import AsyncEngium, Engium, EngiumError\n"
        "print(engium.__file__)\n"
        "print(engium.__version__)\n",
        env={},
    )
    assert result.returncode == 0, result.stderr
    location, version = result.stdout.split()
    assert location.startswith(str(sdk_runner.site))
    assert version == "0.1.0"


def test_a_client_without_a_key_says_what_to_set(sdk_runner: SdkRunner) -> None:
    result = sdk_runner.run(
        "import engium\n"
        "try:\n"
        "    engium.Engium()\n"
        "except engium.EngiumError as error:\n"
        "    print(error.code)\n",
        env={"ENGIUM_API_KEY": "", "ENGIUM_TENANT_ID": ""},
    )
    assert result.stdout.strip() == "no_api_key", result.stderr
