"""Adding an article in the chat, in Debian's Chromium at desktop and phone width: upload a
file, see the header switch to its title and size, ask it questions in Arabic and English and get
the answers from it, find the conversation (and its article) again after a reload; then switch
back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest_ui import running
from playwright.sync_api import Browser, Page, expect
from test_registry import LIBRARY
from test_ui_browser import ARTIFACTS, browser, chat_page, send

from qa import Assistant
from ui import create_app

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with test_ui_browser


@pytest.fixture(params=[(1280, 900), (390, 844)], ids=["desktop", "phone"])
def page(
    request: pytest.FixtureRequest, browser: Browser, assistant: Assistant, tmp_path: Path
) -> Iterator[Page]:
    settings = assistant.settings.replace(documents_dir=tmp_path / "documents")
    app = create_app(assistant, settings)
    with running(app) as url, chat_page(browser, url, *request.param) as p:
        yield p


def test_upload_switch_and_ask(page: Page, assistant: Assistant, tmp_path: Path) -> None:
    shot = "desktop" if (page.viewport_size or {}).get("width", 0) > 600 else "phone"
    header = page.locator(".sanad-header")
    packaged = assistant.document.text.splitlines()[0].strip()
    expect(header).to_contain_text(packaged)
    expect(page.locator("#sanad-chat .example")).not_to_have_count(0)

    article = tmp_path / "library.txt"
    article.write_text(LIBRARY, encoding="utf-8")
    page.get_by_text("Add an article").click()
    page.locator("#sanad-upload input[type=file]").set_input_files(article)
    title = LIBRARY.splitlines()[0]
    expect(header).to_contain_text(title, timeout=60_000)
    expect(header).to_contain_text(f"{len(LIBRARY):,} characters")
    expect(header).not_to_contain_text("library.txt")
    expect(page.locator(".sanad-upload-status")).to_contain_text(title)
    # Curated examples are the packaged article's; this one has none rather than wrong ones.
    expect(page.locator("#sanad-chat .example")).to_have_count(0)
    page.get_by_role("tab", name=re.compile("Article")).click()
    expect(page.locator(".sanad-article")).to_contain_text("ركن للكتب الرقمية")

    reply = send(page, "كم كلفت المكتبة؟")
    expect(reply).to_have_class(re.compile(r"\bsanad-answer\b"))
    assert "ثلاثة ملايين دينار" in reply.inner_text()
    reply.locator("a.sanad-cite").first.click()
    marks = page.locator(".sanad-source.active mark")
    expect(marks.first).to_be_visible()
    evidence = " ".join(marks.all_inner_texts())
    assert evidence.strip() and " ".join(evidence.split()) in " ".join(LIBRARY.split())
    page.screenshot(path=str(ARTIFACTS / f"ui-{shot}-uploaded.png"))

    english = send(page, "How much did the library cost?")
    expect(english).to_have_class(re.compile(r"\bsanad-answer\b"))
    assert "3 million [1]" in english.inner_text() and "ثلاثة ملايين دينار" in english.inner_text()

    # The conversation is kept in the browser with its article: after a reload both are back.
    page.reload()
    expect(header).to_contain_text(title, timeout=30_000)
    expect(page.locator(".sanad-msg.sanad-answer")).to_have_count(2)
    expect(page.locator("#sanad-chat")).to_contain_text("3 million")
    page.screenshot(path=str(ARTIFACTS / f"ui-{shot}-uploaded-reloaded.png"))

    # Back to the packaged article: its header, its examples, a new conversation.
    page.locator("#sanad-document input").click()
    page.get_by_role("option", name=re.compile(re.escape(packaged[:20]))).click()
    expect(header).to_contain_text(packaged)
    expect(page.locator("#sanad-chat .example")).not_to_have_count(0)
    expect(page.locator(".sanad-msg")).to_have_count(0)


def test_articles_added_elsewhere_are_listed_when_the_list_opens(
    browser: Browser, assistant: Assistant, tmp_path: Path
) -> None:
    settings = assistant.settings.replace(documents_dir=tmp_path / "documents")
    with (
        running(create_app(assistant, settings)) as url,
        chat_page(browser, url, 1280, 900) as page,
    ):
        header = page.locator(".sanad-header")
        expect(header).to_contain_text(assistant.document.text.splitlines()[0].strip())
        # Added after the page loaded, as from another tab or a script.
        r = requests.post(f"{url}/api/documents", json={"text": LIBRARY, "name": "x"}, timeout=60)
        assert r.status_code == 201
        title = LIBRARY.splitlines()[0]
        page.locator("#sanad-document input").click()
        option = page.get_by_role("option", name=re.compile(re.escape(title[:20])))
        expect(option).to_be_visible()
        option.click()
        expect(header).to_contain_text(title)
