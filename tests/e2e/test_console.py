"""The console in a real Chromium against the real stack (web, worker, beat, broker).

Playwright (sync API) drives Debian's ``chromium`` (`.ci/run` installs it); the tests never
download a browser. Each page visited is screenshotted to ``.artifacts/browser/`` and
checked with axe-core (vendored in ``static/vendor/axe-core``): no serious or critical
violation. Users and tenants are made by a `manage.py shell` of the stack, so that they are
committed (and the test process makes no database call while Playwright's loop runs).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenants.keys import VISIBLE_CHARS
from tests.e2e.conftest import Stack, wait_until
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db]

BASE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = BASE_DIR / ".artifacts" / "browser"
AXE = BASE_DIR / "static" / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "console e2e password"

if not CHROMIUM.exists():  # pragma: no cover - .ci/run installs it
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class ConsoleTenant:
    tenant_id: str
    name: str
    api_key: str
    owner: str
    viewer: str


#: Run by `manage.py shell` in the stack's environment: its rows are committed, so the
#: stack's processes see them (the test process's own writes sit in the test's transaction).
MAKE_TENANT = """
import json
from tenants.models import Role
from tenants.services import add_member, create_tenant
tenant, issued = create_tenant(name=NAME)
for role in ("owner", "viewer"):
    add_member(tenant, email=f"{role}-{SLUG}@example.com", password=PASSWORD, role=role)
print(json.dumps({"tenant_id": tenant.public_id, "api_key": issued.raw_key}))
"""


@pytest.fixture
def console_tenant(stack: Stack, request: pytest.FixtureRequest) -> ConsoleTenant:
    """A tenant with an owner and a viewer."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"e2e console {slug}"
    script = f"NAME, SLUG, PASSWORD = {name!r}, {slug!r}, {PASSWORD!r}\n" + MAKE_TENANT
    output = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        env=stack.env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    created = json.loads(output.strip().splitlines()[-1])
    return ConsoleTenant(
        tenant_id=created["tenant_id"],
        name=name,
        api_key=created["api_key"],
        owner=f"owner-{slug}@example.com",
        viewer=f"viewer-{slug}@example.com",
    )


class Visit:
    """A page of the console, with a screenshot and an accessibility check per step."""

    def __init__(self, page: Any, base_url: str, folder: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.folder = folder
        self.shots = 0

    def go(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def check(self, name: str) -> None:
        """Screenshot the page, and fail on any serious or critical axe-core violation."""
        self.shots += 1
        self.page.screenshot(path=str(self.folder / f"{self.shots:02d}-{name}.png"), full_page=True)
        self.page.add_script_tag(path=str(AXE))
        violations = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations
                    .filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => `${v.id} (${v.impact}): `
                        + v.nodes.map(n => n.target.join(" ")).join(", "));
            }"""
        )
        assert violations == [], f"{name}: {violations}"

    def login(self, email: str, password: str = PASSWORD) -> None:
        self.go("/console/login/")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()


@pytest.fixture
def visit(stack: Stack, request: pytest.FixtureRequest) -> Iterator[Visit]:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-gpu",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            yield Visit(page, stack.base_url, folder)
        finally:
            context.close()
            browser.close()


def test_an_owner_goes_from_login_to_a_message_read(
    stack: Stack, console_tenant: ConsoleTenant, visit: Visit
) -> None:
    page = visit.page
    expect = sync_api.expect

    # Log in: the only tenant opens at once, on the overview.
    visit.login(console_tenant.owner)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".topbar")).to_contain_text(console_tenant.name)
    visit.check("overview-empty")

    # Settings → Integrations: connect WhatsApp through the sandbox.
    page.get_by_role("link", name="Integrations").click()
    visit.check("integrations-empty")
    page.get_by_label("Channel").select_option("whatsapp")
    page.get_by_label("Provider").select_option("sandbox")
    page.get_by_role("button", name="Continue").click()
    visit.check("integration-new")
    page.get_by_label("Name").fill("WhatsApp sandbox")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_test_id("integration-status")).to_have_text("Active")
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_test_id("verification")).to_have_text("Verified")
    visit.check("integration-detail")

    with ScriptedServer() as receiver:
        # Settings → Webhooks: an endpoint on a local receiver, and a test event.
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("URL").fill(f"{receiver.url}/engium")
        page.get_by_label("Description").fill("Local receiver")
        page.get_by_label("Every event (*)").check()
        visit.check("webhooks-new")
        page.get_by_role("button", name="Add endpoint").click()
        page.get_by_role("button", name="Reveal secret").click()
        expect(page.get_by_label("Signing secret")).to_have_value(re.compile(r"^whsec_"))
        page.get_by_role("button", name="Send test event").click()
        wait_until(lambda: receiver.received, 30, "the test event at the receiver")

        def test_event_logged() -> bool:
            page.reload()
            row = page.locator('li.delivery[data-event-type="webhook.test"]')
            return row.count() == 1 and row.get_attribute("data-status") == "succeeded"

        wait_until(test_event_logged, 30, "the test event in the delivery log", interval=1)
        expect(page.locator("li.delivery table.attempts")).to_contain_text("200")
        visit.check("webhook-detail")
        page.get_by_label("Status").select_option("failed")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("li.delivery")).to_have_count(0)

        # API keys: create one (shown once), use it, revoke it.
        page.get_by_role("link", name="API keys").click()
        page.get_by_label("Name").fill("Browser test")
        page.get_by_role("button", name="Create key").click()
        raw_key = page.get_by_label("New API key").input_value()
        assert raw_key.startswith("egk_")
        visit.check("api-key-created")
        page.get_by_role("link", name="API keys").click()
        assert raw_key not in page.content()  # shown once

        api = httpx.Client(
            base_url=f"{stack.base_url}/api/v1/",
            headers={"Authorization": f"Bearer {raw_key}", "X-Tenant-ID": console_tenant.tenant_id},
            timeout=20,
        )
        answer = api.post(
            "conversations/send",
            json={
                "recipient": "+15550102999",
                "channel": "whatsapp",
                "message": {"text": "Hello from Engium! How can we help you today?"},
            },
        )
        assert answer.status_code == 201, answer.text
        conversation_id, message_id = answer.json()["id"], answer.json()["message"]["id"]

        # The conversation page follows the message live, from queued to read.
        page.get_by_role("link", name="Conversations").click()
        visit.check("conversations")
        page.get_by_role("link", name=conversation_id).click()
        bubble = page.locator(f"li#{message_id}")
        expect(bubble).to_be_visible()
        expect(bubble).to_have_attribute("data-status", "read", timeout=30_000)
        expect(bubble.locator(".history li")).to_have_count(
            5
        )  # queued, sending, sent, delivered, read
        visit.check("conversation-read")
        assert receiver.received  # and the read event went out too

        # Revoke the key: the API refuses it from now on.
        page.get_by_role("link", name="API keys").click()
        row = page.locator(f'tr[data-key="{raw_key[:VISIBLE_CHARS]}"]')
        row.get_by_role("button", name="Revoke Browser test").click()
        expect(row).to_contain_text("revoked")
        wait_until(
            lambda: api.get("conversations").status_code == 401, 10, "the revoked key refused"
        )
        api.close()

    # Members: invite a teammate as developer.
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email").fill("teammate@example.com")
    page.locator("#id_role").select_option("developer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invited teammate@example.com as Developer")
    visit.check("members")
    page.get_by_role("link", name="Change password").click()
    visit.check("password-change")
    page.get_by_role("link", name="Back to the console").click()

    # Templates: one with an English and an Arabic body (right to left), in the list.
    page.get_by_role("link", name="Templates", exact=True).click()
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("order_ready")
    page.get_by_label("Category").select_option("utility")
    page.get_by_label("English body").fill("Hi {{first_name}}, your order is ready.")
    page.get_by_role("tab", name="English").press("ArrowRight")  # keyboard: the next tab
    expect(page.get_by_role("tab", name="Spanish")).to_be_focused()
    expect(page.get_by_label("English body")).to_be_hidden()
    page.get_by_role("tab", name="Arabic").click()
    page.get_by_label("Arabic body").fill("مرحبا {{first_name}}، طلبك جاهز.")
    preview = page.locator('#panel-ar [data-preview][dir="rtl"][lang="ar"]')
    expect(preview.locator("mark")).to_have_text("{{first_name}}")
    expect(page.locator("#panel-ar [data-variables]")).to_have_text("first_name")
    visit.check("template-new")
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("status")).to_contain_text("Template order_ready created.")
    page.get_by_role("link", name="Templates", exact=True).click()
    row = page.locator('tr[data-template="order_ready"]')
    expect(row).to_contain_text("ar · Approved")
    expect(row).to_contain_text("en · Approved")
    visit.check("templates")

    # Agent roles: one with a knowledge entry; the first role is the default.
    page.get_by_role("link", name="Agent roles", exact=True).click()
    page.get_by_role("link", name="New agent role").click()
    page.get_by_label("Name").fill("Support")
    page.get_by_label("Instructions").fill("Answer questions about orders, briefly.")
    page.get_by_label("Hand-off keywords").fill("human\nagent")
    page.get_by_label("Question 1", exact=True).fill("When do you open?")
    page.get_by_label("Answer 1", exact=True).fill("Every day at nine.")
    page.get_by_role("button", name="Add an entry").click()
    expect(page.get_by_label("Question 3", exact=True)).to_be_focused()
    visit.check("agent-role-new")
    page.get_by_role("button", name="Create agent role").click()
    expect(page.get_by_role("status")).to_contain_text("Agent role Support created")
    expect(page.get_by_label("Question 1", exact=True)).to_have_value("When do you open?")
    page.get_by_role("link", name="Agent roles", exact=True).click()
    expect(page.locator('tr[data-role="Support"]')).to_contain_text("default")
    visit.check("agent-roles")

    # The overview now charts the send.
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("figure.chart").first).to_contain_text("1 sends")
    visit.check("overview")

    # Log out.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    visit.check("login")


def test_a_viewer_cannot_change_settings(
    stack: Stack, console_tenant: ConsoleTenant, visit: Visit
) -> None:
    page = visit.page
    expect = sync_api.expect
    visit.login(console_tenant.viewer)

    # The pages offer no change ...
    visit.go("/console/settings/integrations/")
    expect(page.get_by_text("Your role (viewer) can read integrations")).to_be_visible()
    expect(page.get_by_role("button", name="Continue")).to_have_count(0)
    visit.check("integrations-as-viewer")
    visit.go("/console/settings/api-keys/")
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)

    # ... the form page refuses ...
    answer = visit.go("/console/settings/integrations/new/?channel=sms&provider=sandbox")
    assert answer.status == 403

    # ... and so does a forged POST carrying a valid CSRF token.
    visit.go("/console/settings/integrations/")
    statuses = page.evaluate(
        """async () => {
            const token = document.cookie.split("; ")
                .find(c => c.startsWith("csrftoken=")).split("=")[1];
            const post = async (url, fields) => {
                const body = new URLSearchParams({csrfmiddlewaretoken: token, ...fields});
                const answer = await fetch(url, {method: "POST", body, credentials: "same-origin"});
                return answer.status;
            };
            const settings = "/console/settings/";
            return [
                await post(settings + "integrations/new/", {channel: "sms", provider: "sandbox"}),
                await post(settings + "webhooks/", {url: "http://127.0.0.1:9/x", events: "*"}),
                await post(settings + "api-keys/", {name: "forged"}),
                await post(settings + "members/", {email: "x@example.com", role: "owner"}),
                await post(settings + "templates/", {name: "forged", category: "utility",
                                                     body_en: "Hi"}),
                await post(settings + "agent-roles/", {name: "forged", instructions: "x",
                                                       language: "en"}),
            ];
        }"""
    )
    assert statuses == [403] * 6
    visit.go("/console/settings/api-keys/")
    expect(page.get_by_text("forged")).to_have_count(0)

    # At a phone's width the sidebar folds behind a menu button.
    page.set_viewport_size({"width": 390, "height": 844})
    visit.go("/console/")
    expect(page.locator("#sidebar")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Conversations")).to_be_visible()
    visit.check("overview-phone")


def test_the_login_locks_after_repeated_bad_passwords(
    stack: Stack, console_tenant: ConsoleTenant, visit: Visit
) -> None:
    page = visit.page
    visit.login(console_tenant.owner, "not the password")
    sync_api.expect(page.get_by_role("alert")).to_contain_text("correct email")
    visit.check("login-failed")
    for _ in range(4):
        visit.login(console_tenant.owner, "not the password")
    sync_api.expect(page.get_by_role("heading")).to_have_text("Too many failed logins")
    # the right password does not get through any more
    visit.login(console_tenant.owner)
    sync_api.expect(page.get_by_role("heading")).to_have_text("Too many failed logins")
    visit.check("locked")
