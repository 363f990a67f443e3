"""The developer portal's pages: Markdown files in ``portal/pages/``, rendered on the server.

A file ``NN-slug.md`` is the page ``/docs/slug/`` (``NN`` orders the sidebar); its first
``# `` heading is its title. Code blocks whose info string ends in `` run`` (as in
```` ```python run ```` or ```` ```sh run ````) are *examples*: the test suite runs every one
of them against a live server (tests/e2e/sdk/test_portal_examples.py), so none can go
stale. They are written with the placeholders below, which a page shows replaced by the
reader's real base URL, and which the tests replace with a live tenant's values.

This module imports no Django, so the tests can read the examples without a configured app.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import markdown  # type: ignore[import-untyped]  # no stubs shipped or mirrored

PAGES_DIR = Path(__file__).resolve().parent / "pages"

#: Placeholders the examples are written with.
EXAMPLE_BASE_URL = "https://engium.example.com"
PLACEHOLDERS = (
    "YOUR_API_KEY",
    "YOUR_TENANT_ID",
    "YOUR_MESSAGE_ID",
    "YOUR_ENDPOINT_ID",
    "YOUR_INTEGRATION_ID",
)

_FILE_NAME = re.compile(r"^(?P<order>\d+)-(?P<slug>[a-z0-9-]+)\.md$")
_FENCE = re.compile(
    r"^```(?P<language>[\w-]*)(?P<run>[ \t]+run)?[ \t]*\n(?P<code>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_TITLE = re.compile(r"^# (?P<title>.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    """A runnable code block of a page."""

    page: str
    number: int
    language: str  # "python" or "sh"
    code: str

    @property
    def name(self) -> str:
        return f"{self.page}-{self.number}-{self.language}"


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    #: The Markdown with the `` run`` markers taken out (what is rendered).
    source: str
    examples: tuple[Example, ...]

    @property
    def url(self) -> str:
        return f"/docs/{self.slug}/"


def _read(path: Path) -> Page:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name}: portal pages are named NN-slug.md")
    slug = match["slug"]
    text = path.read_text(encoding="utf-8")
    title = _TITLE.search(text)
    if title is None:
        raise ValueError(f"{path.name}: a page starts with a '# Title' heading")
    examples: list[Example] = []
    for fence in _FENCE.finditer(text):
        if fence["run"]:
            if fence["language"] not in ("python", "sh"):
                raise ValueError(f"{path.name}: runnable examples are python or sh")
            examples.append(Example(slug, len(examples) + 1, fence["language"], fence["code"]))
    source = _FENCE.sub(lambda m: f"```{m['language']}\n{m['code']}```", text)
    return Page(slug, title["title"].strip(), source, tuple(examples))


@functools.cache
def all_pages() -> tuple[Page, ...]:
    """Every page, in sidebar order."""
    paths = sorted(PAGES_DIR.glob("*.md"), key=lambda p: int(p.name.split("-", 1)[0]))
    return tuple(_read(path) for path in paths)


def find_page(slug: str) -> Page | None:
    return next((page for page in all_pages() if page.slug == slug), None)


def all_examples() -> list[Example]:
    return [example for page in all_pages() for example in page.examples]


@functools.lru_cache(maxsize=64)
def render_page(slug: str, base_url: str) -> str:
    """The page's HTML, its examples showing ``base_url``. Pages are the repository's own
    files (trusted), so their HTML is rendered as written."""
    page = find_page(slug)
    if page is None:
        raise KeyError(slug)
    source = page.source.replace(EXAMPLE_BASE_URL, base_url.rstrip("/"))
    return markdown.markdown(
        source,
        extensions=["fenced_code", "tables", "toc"],
        extension_configs={"toc": {"permalink": "#"}},
        output_format="html",
    )
