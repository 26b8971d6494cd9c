"""Adding an article in the chat, in Debian's Chromium: upload a file, see the header switch to
its title and size, ask it a question and get the answer from it; then switch back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_ui import running
from playwright.sync_api import Browser, Page, expect
from test_registry import LIBRARY
from test_ui_browser import ARTIFACTS, browser, chat_page, send

from qa import Assistant
from ui import create_app

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with test_ui_browser


@pytest.fixture
def page(browser: Browser, assistant: Assistant, tmp_path: Path) -> Iterator[Page]:
    settings = assistant.settings.replace(documents_dir=tmp_path / "documents")
    with running(create_app(assistant, settings)) as url, chat_page(browser, url, 1280, 900) as p:
        yield p


def test_upload_switch_and_ask(page: Page, assistant: Assistant, tmp_path: Path) -> None:
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
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-uploaded.png"))

    # Back to the packaged article: its header, its examples, a new conversation.
    page.locator("#sanad-document input").click()
    page.get_by_role("option", name=re.compile(re.escape(packaged[:20]))).click()
    expect(header).to_contain_text(packaged)
    expect(page.locator("#sanad-chat .example")).not_to_have_count(0)
    expect(page.locator(".sanad-msg")).to_have_count(0)
