"""The developer portal at /docs/: its pages, sidebar, examples and base URL."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from portal.pages import EXAMPLE_BASE_URL, all_examples, all_pages

SECTIONS = [
    "Getting Started",
    "Authentication",
    "Endpoints",
    "First Message",
    "Message Templates",
    "Media Files",
    "SDKs",
    "Webhooks",
    "System Status",
    "Changelog",
]


def test_the_portal_has_every_section_in_order() -> None:
    assert [page.title for page in all_pages()] == SECTIONS


@pytest.mark.parametrize("page", all_pages(), ids=lambda p: p.slug)
def test_every_section_has_runnable_curl_and_python_examples(page: object) -> None:
    languages = {example.language for example in page.examples}  # type: ignore[attr-defined]
    assert languages == {"sh", "python"}
    for example in page.examples:  # type: ignore[attr-defined]
        if example.language == "sh":
            assert "curl" in example.code


def test_every_python_block_compiles_shown_ones_too() -> None:
    # The receivers for Flask and FastAPI are shown, not run (the frameworks are not
    # installed here); they must at least be valid Python.
    from portal.pages import PAGES_DIR

    for path in PAGES_DIR.glob("*.md"):
        for code in re.findall(r"^```python(?: run)?\n(.*?)^```", path.read_text(), re.M | re.S):
            compile(code, str(path), "exec")


def test_docs_redirects_to_getting_started(client: Client) -> None:
    answer = client.get("/docs/")
    assert answer.status_code == 302
    assert answer["Location"] == "/docs/getting-started/"


@pytest.mark.parametrize("page", all_pages(), ids=lambda p: p.slug)
def test_every_page_renders_with_the_sidebar(client: Client, page: object) -> None:
    answer = client.get(page.url)  # type: ignore[attr-defined]
    assert answer.status_code == 200
    html = answer.content.decode()
    assert f"<title>{page.title} · Engium Docs</title>" in html  # type: ignore[attr-defined]
    for other in all_pages():
        assert f'href="{other.url}"' in html
    assert 'aria-current="page"' in html
    assert "/static/portal/portal.css" in html
    # no CDN: every stylesheet and script is our own
    assert not re.search(r'(src|href)="https?://(?!www\.standardwebhooks)', html)
    # the run markers are not shown
    assert "```" not in html and "python run" not in html


def test_examples_show_the_deployments_public_url(client: Client, settings: object) -> None:
    settings.ENGIUM_PUBLIC_URL = "https://messaging.acme.test"  # type: ignore[attr-defined]
    html = client.get("/docs/first-message/").content.decode()
    assert "https://messaging.acme.test/api/v1/conversations/send" in html
    assert EXAMPLE_BASE_URL not in html


def test_without_a_public_url_examples_show_the_readers_host(
    client: Client, settings: object
) -> None:
    settings.ENGIUM_PUBLIC_URL = ""  # type: ignore[attr-defined]
    settings.ALLOWED_HOSTS = ["docs.acme.test"]  # type: ignore[attr-defined]
    html = client.get("/docs/first-message/", HTTP_HOST="docs.acme.test").content.decode()
    assert "http://docs.acme.test/api/v1/conversations/send" in html


def test_the_portal_links_the_api_reference_and_the_status_page(client: Client) -> None:
    endpoints = client.get("/docs/endpoints/").content.decode()
    assert 'href="/api/docs/"' in endpoints
    status = client.get("/docs/system-status/").content.decode()
    assert 'href="/status"' in status


def test_an_unknown_page_is_a_404(client: Client) -> None:
    assert client.get("/docs/no-such-page/").status_code == 404


def test_the_first_message_page_carries_the_public_page() -> None:
    first = next(page for page in all_pages() if page.slug == "first-message")
    for text in (
        "Prerequisites",
        "Request parameters",
        "Message tracking",
        "Rate limits",
        "Free tier: 100 outbound messages per minute. Starter: 500/min. Pro: 2 000/min",
        "conversation.message.delivered",
        "9 supported languages",
    ):
        assert text in first.source
    assert len(all_examples()) >= 20
