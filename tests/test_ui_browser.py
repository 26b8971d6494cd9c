"""The chat in a real browser (Debian's Chromium through Playwright) against the real Assistant.

Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest_ui import running
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from qa import Assistant
from ui import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"

# From the dev set qa is calibrated on: the article answers them.
ARABIC = "كم عدد الأشخاص الذين قتلوا في هجوم قاعة الحفلات في موسكو؟"
FOLLOW_UP = "ومن أعلن مسؤوليته عن الهجوم؟"
ENGLISH = "How many people were killed in the Moscow concert hall attack?"

REPLIES = ".sanad-msg:is(.sanad-answer, .sanad-abstained, .sanad-error)"

# Records every kind of message the chat has shown, so a test can tell that an answer was
# streamed (shown as pending first) and did not just appear whole.
_WATCH_MESSAGES = """
window.sanadKinds = new Set();
new MutationObserver(() => {
  document.querySelectorAll(".sanad-msg").forEach((m) => {
    m.classList.forEach((c) => window.sanadKinds.add(c));
  });
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


# Offered by the server, and unusable: nothing listens on the discard port.
UNREACHABLE = "openai:unreachable"


@pytest.fixture(scope="module")
def server(assistant: Assistant) -> Iterator[str]:
    bot = Assistant(
        assistant.settings.replace(llm_choices=UNREACHABLE, llm_base_url="http://127.0.0.1:9/v1")
    )
    with running(create_app(bot)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def chat_page(browser: Browser, url: str, width: int, height: int) -> Iterator[Page]:
    """A fresh browser context on the chat; fails the test if the page threw an error."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/")
    page.wait_for_selector("#sanad-input textarea")
    page.evaluate(_WATCH_MESSAGES)
    yield page
    context.close()
    assert errors == []


@pytest.fixture
def desktop(browser: Browser, server: str) -> Iterator[Page]:
    with chat_page(browser, server, 1280, 900) as page:
        yield page


@pytest.fixture
def phone(browser: Browser, server: str) -> Iterator[Page]:
    with chat_page(browser, server, 390, 844) as page:
        yield page


def send(page: Page, question: str) -> Locator:
    """Ask ``question`` and return the reply's message element, once it is final."""
    before = page.locator(REPLIES).count()
    box = page.locator("#sanad-input textarea")
    expect(box).to_be_editable()
    box.fill(question)
    box.press("Enter")
    return last_reply(page, before)


def last_reply(page: Page, before: int) -> Locator:
    page.wait_for_function(f"n => document.querySelectorAll('{REPLIES}').length > n", arg=before)
    expect(page.locator("#sanad-input textarea")).to_be_editable()
    replies = page.locator(REPLIES)
    return replies.nth(replies.count() - 1)  # pinned: .last would follow later replies


def direction(element: Locator) -> str:
    return element.evaluate("e => getComputedStyle(e).direction")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_conversation(desktop: Page) -> None:
    page = desktop

    page.screenshot(path=str(ARTIFACTS / "ui-desktop-start.png"))

    # An example question, in English, laid out left-to-right.
    page.locator("#sanad-chat .example", has_text=ENGLISH).click()
    english = last_reply(page, 0)
    expect(english).to_have_class(re.compile(r"\bsanad-answer\b"))
    assert direction(english) == "ltr"
    assert direction(page.locator(".sanad-msg.sanad-question").last) == "ltr"

    # An Arabic question: streamed, then final, right-to-left.
    arabic = send(page, ARABIC)
    expect(arabic).to_have_class(re.compile(r"\bsanad-answer\b"))
    assert "140" in arabic.inner_text()
    assert direction(arabic) == "rtl"
    assert direction(page.locator(".sanad-msg.sanad-question").last) == "rtl"
    assert page.evaluate("window.sanadKinds.has('sanad-pending')")

    # Its citation opens the passage in the Sources panel, evidence marked.
    arabic.locator("a.sanad-cite").first.click()
    card = page.locator(".sanad-source.active")
    expect(card).to_be_visible()
    evidence = squash(" ".join(card.locator("mark").all_inner_texts()))
    assert evidence
    assert evidence in squash(arabic.inner_text())
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-sources.png"))

    # A citation in the earlier English answer switches the panel back to that answer.
    english.locator("a.sanad-cite").first.click()
    expect(page.locator(".sanad-sources .sanad-for")).to_contain_text(ENGLISH)

    # A follow-up is understood in context.
    follow_up = send(page, FOLLOW_UP)
    expect(follow_up).to_have_class(re.compile(r"\bsanad-answer\b"))
    assert direction(follow_up) == "rtl"
    assert "الدولة الإسلامية" in follow_up.inner_text()
    expect(page.locator(".sanad-sources .sanad-query")).to_contain_text("موسكو")

    # The Article tab shows the whole article with the last answer's passages highlighted.
    page.get_by_role("tab", name=re.compile("Article")).click()
    article = page.locator(".sanad-article")
    expect(article).to_be_visible()
    assert direction(article) == "rtl"
    assert article.locator(".sanad-passage").count() >= 1
    marked = squash(" ".join(article.locator("mark").all_inner_texts()))
    assert marked and marked in squash(follow_up.inner_text())
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-article.png"))

    # Copying a message gives its text, not its HTML.
    page.locator("#sanad-chat button[aria-label='Copy message']").last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "<" not in copied
    assert squash(copied) == squash(follow_up.inner_text())


def test_phone_width(phone: Page) -> None:
    page = phone
    reply = send(page, ARABIC)
    assert direction(reply) == "rtl"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "ui-phone-chat.png"))
    reply.locator("a.sanad-cite").first.click()
    card = page.locator(".sanad-source.active")
    expect(card).to_be_in_viewport()
    assert card.locator("mark").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "ui-phone-source.png"))
    page.screenshot(path=str(ARTIFACTS / "ui-phone-full.png"), full_page=True)


def test_input_is_inert_and_errors_are_messages(desktop: Page) -> None:
    page = desktop
    box = page.locator("#sanad-input textarea")

    # Empty input does nothing.
    box.fill("   ")
    box.press("Enter")
    page.wait_for_timeout(1000)
    assert page.locator(".sanad-msg").count() == 0

    # Markup in a question is shown as text and never runs.
    attack = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> Moscow?'
    send(page, attack)
    question = page.locator(".sanad-msg.sanad-question").last
    assert squash(question.inner_text()) == squash(attack)
    assert page.evaluate("window.pwned") is None
    assert page.locator("#sanad-chat img[src=x]").count() == 0

    # The backends on offer are the operator's; one that cannot be reached is a friendly
    # reply, not a traceback.
    page.get_by_text("Settings · الإعدادات").click()
    backend = page.get_by_label("Answer backend")

    def choose(spec: str) -> None:
        backend.click()
        page.locator("[data-testid=dropdown-option]", has_text=spec).click()
        expect(backend).to_have_value(spec)

    choose(UNREACHABLE)
    error = send(page, ARABIC)
    expect(error).to_have_class(re.compile(r"\bsanad-error\b"))
    assert "cannot reach the LLM at http://127.0.0.1:9/v1" in error.inner_text()
    assert "Traceback" not in page.content()

    # Retry with the backend fixed answers the same question in place of the error.
    choose("extractive")
    replies = page.locator(REPLIES).count()
    old = error.get_attribute("class")
    page.locator("#sanad-chat button[aria-label='Retry']").click()
    page.wait_for_function(
        """([selector, old]) => {
            const messages = document.querySelectorAll("#sanad-chat .sanad-msg");
            const last = messages[messages.length - 1];
            return last && last.matches(selector) && last.className !== old;
        }""",
        arg=[REPLIES, old],
    )
    retried = page.locator(REPLIES).last
    expect(retried).to_have_class(re.compile(r"\bsanad-answer\b"))
    assert page.locator(REPLIES).count() == replies
    assert "140" in retried.inner_text()

    # Clear empties the chat and the Sources panel.
    page.locator("#sanad-chat button[aria-label='Clear']").click()
    expect(page.locator(".sanad-msg")).to_have_count(0)
    expect(page.locator(".sanad-source")).to_have_count(0)


@pytest.mark.parametrize(
    ("secrets", "user", "password"),
    [({"ui_auth": "ana:kalima"}, "ana", "kalima"), ({"api_token": "t0ken"}, "anyone", "t0ken")],
    ids=["chat login", "token as password"],
)
def test_the_login_page_opens_the_chat(
    browser: Browser, assistant: Assistant, secrets: dict[str, str], user: str, password: str
) -> None:
    """Everything the login page needs passes the access policy; the chat needs the login."""
    with running(create_app(assistant, assistant.settings.replace(**secrets))) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/")
        page.get_by_label("username").fill(user)
        page.get_by_label("password").fill("wrong")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
        page.get_by_label("username").fill(user)  # Gradio's form forgets it after a failure
        page.get_by_label("password").fill(password)
        page.keyboard.press("Enter")
        page.wait_for_selector("#sanad-input textarea")
        reply = send(page, ARABIC)
        expect(reply).to_have_class(re.compile(r"\bsanad-answer\b"))
        assert "140" in reply.inner_text()
        context.close()
        assert errors == []
