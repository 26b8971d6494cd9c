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
from ui.feedback import FeedbackStore

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
def feedback_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "feedback.sqlite"


@pytest.fixture(scope="module")
def server(assistant: Assistant, feedback_db: Path) -> Iterator[str]:
    bot = Assistant(
        assistant.settings.replace(
            llm_choices=UNREACHABLE, llm_base_url="http://127.0.0.1:9/v1", feedback_db=feedback_db
        )
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


# WCAG's contrast ratio of an element's text (or its placeholder) against the first opaque
# background behind it.
_CONTRAST_JS = """([selector, pseudo]) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let e = document.querySelector(selector);
  const fg = rgb(getComputedStyle(e, pseudo).color);
  let bg = [255, 255, 255];
  for (; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length < 4 || c[3] === 1) { bg = c.slice(0, 3); break; }
  }
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_conversation(desktop: Page) -> None:
    page = desktop

    page.screenshot(path=str(ARTIFACTS / "ui-desktop-start.png"))
    # The instruction line (the box's placeholder) and the header's line are readable.
    assert page.evaluate(_CONTRAST_JS, ["#sanad-input textarea", "::placeholder"]) >= 4.5
    assert page.evaluate(_CONTRAST_JS, [".sanad-header p", None]) >= 4.5
    # Gradio's own footer settings are gone; only the API link is left.
    expect(page.locator("footer").get_by_text("Settings")).to_have_count(0)

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
    # The cited passage comes first, numbered as in the answer and tinted; the others follow
    # under their own heading, plain and unnumbered; the labels are Arabic, as the question.
    panel = page.locator(".sanad-sources")
    cited = [f"[{n}]" for n in re.findall(r"\[(\d+)\]", arabic.inner_text())]
    headers = panel.locator(".sanad-source.sanad-cited header b").all_inner_texts()
    assert headers == sorted(set(cited))
    assert page.locator(".sanad-source").first.get_attribute("class").split()[1] == "sanad-cited"
    others = panel.locator(".sanad-source.sanad-other")
    assert others.count() >= 1
    assert others.locator(".sanad-passage, mark, header").count() == 0
    assert (
        panel.locator(".sanad-cited .sanad-passage").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        != "rgba(0, 0, 0, 0)"
    )
    expect(panel.locator(".sanad-for")).to_contain_text("المصادر:")
    expect(panel.locator(".sanad-also")).to_have_text("ورد أيضًا في البحث")
    # Arabic is set in the web font the app serves, not in the system's.
    assert page.evaluate(
        """() => [...document.fonts].some(
            (f) => f.family.replace(/"/g, "") === "Noto Naskh Arabic" && f.status === "loaded")"""
    )
    assert page.evaluate(
        """() => performance.getEntriesByType("resource").some(
            (r) => r.name.endsWith("/fonts/NotoNaskhArabic-Regular.ttf"))"""
    )
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
    # It has scrolled to the quoted passage, which flashes.
    expect(article.locator(".sanad-focus").first).to_be_in_viewport()
    expect(article.locator(".sanad-focus.sanad-flash").first).to_be_attached()
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
    # The panel grows with the page rather than scrolling inside it.
    panel = page.locator(".sanad-sources")
    assert panel.evaluate("e => e.scrollHeight <= e.clientHeight + 1")
    page.screenshot(path=str(ARTIFACTS / "ui-phone-source.png"))
    # And back to the answer the citation was in.
    card.locator("a.sanad-back").click()
    expect(reply).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "ui-phone-back.png"))
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


def test_an_over_long_question_is_refused_as_it_stands(desktop: Page) -> None:
    page = desktop
    box = page.locator("#sanad-input textarea")
    counter = page.locator("#sanad-count .sanad-count")
    box.fill("ما " * 450)  # 1,349 characters once trimmed: no counter yet
    expect(counter).to_be_hidden()
    box.fill("كلمة " * 340)  # 1,700 characters
    expect(counter).to_have_text("1,699 / 2,000")
    pasted = "كلمة " * 600  # 3,000 characters
    box.fill(pasted)
    expect(counter).to_contain_text("السؤال 2,999 حرفاً والحد 2,000")
    expect(counter).to_have_class(re.compile(r"\bover\b"))
    box.press("Enter")
    expect(page.get_by_text("السؤال 2,999 حرفاً والحد 2,000: اختصره ليمكن إرساله")).to_be_visible()
    assert box.input_value() == pasted  # nothing cut
    assert page.locator(".sanad-msg").count() == 0
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-too-long.png"))

    # A long question that fits is sent, and shown collapsed in its bubble and the panel.
    long = ENGLISH + " Please answer briefly." * 30
    reply = send(page, long)
    expect(reply).to_have_class(re.compile(r"\bsanad-answer\b"))
    bubble = page.locator(".sanad-msg.sanad-question").last
    expect(bubble.locator("details summary")).to_have_text(re.compile(r"Show all \(\d"))
    assert bubble.locator(".sanad-clip").inner_text().endswith("…")
    expect(page.locator(".sanad-sources .sanad-for details")).to_have_count(1)
    bubble.locator("details summary").click()
    expect(bubble.locator(".sanad-clip")).to_be_hidden()
    assert squash(bubble.locator("details > span").inner_text()) == squash(long)


def test_a_conversation_survives_a_reload_and_a_thumbs_down_is_stored(
    desktop: Page, feedback_db: Path
) -> None:
    page = desktop
    reply = send(page, ARABIC)
    expect(reply).to_have_class(re.compile(r"\bsanad-answer\b"))
    answer = squash(reply.inner_text())
    rows = len(list(FeedbackStore(feedback_db).rows()))

    # Thumbs down, then a comment: both reach the server's store.
    page.locator("#sanad-chat button[aria-label='Dislike']").last.click()
    comment = page.locator("#sanad-feedback textarea")
    expect(comment).to_be_visible()
    comment.fill("الرقم غير صحيح")
    comment.press("Enter")
    expect(comment).to_be_hidden()
    stored = list(FeedbackStore(feedback_db).rows())
    assert len(stored) == rows + 1
    assert stored[-1]["verdict"] == "down" and stored[-1]["comment"] == "الرقم غير صحيح"
    assert stored[-1]["question"] == ARABIC and "140" in stored[-1]["answer"]
    assert any(s["cited"] and s["text"] in answer for s in stored[-1]["sources"])

    # A reload brings the conversation back, sources and all.
    page.reload()
    expect(page.locator(".sanad-msg.sanad-answer")).to_have_count(1)
    assert squash(page.locator(".sanad-msg.sanad-answer").inner_text()) == answer
    expect(page.locator(".sanad-sources .sanad-for")).to_contain_text(ARABIC)
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-reloaded.png"))

    # The thumbs-down shows again, and changing it changes that row, not a new one.
    expect(page.locator("#sanad-chat button[aria-label='Disliked']")).to_have_count(1)
    page.locator("#sanad-chat button[aria-label='Like']").last.click()
    expect(comment).to_be_visible()
    expect(page.locator("#sanad-chat button[aria-label='Liked']")).to_have_count(1)
    again = list(FeedbackStore(feedback_db).rows())
    assert len(again) == rows + 1 and again[-1]["verdict"] == "up"
    assert again[-1]["comment"] == "الرقم غير صحيح"

    # A new conversation, then back to the first from the list.
    page.get_by_text("Conversations · المحادثات").click()
    page.locator("#sanad-new").click()
    expect(page.locator(".sanad-msg")).to_have_count(0)
    english = send(page, ENGLISH)
    expect(english).to_have_class(re.compile(r"\bsanad-answer\b"))
    chooser = page.locator("#sanad-conversation-list input")
    chooser.click()
    options = page.locator("[data-testid=dropdown-option]")
    expect(options).to_have_count(2)
    options.filter(has_text=ARABIC[:20]).click()
    expect(page.locator(".sanad-msg.sanad-question")).to_have_text([ARABIC])
    expect(page.locator(".sanad-msg.sanad-answer")).to_have_count(1)
    assert squash(page.locator(".sanad-msg.sanad-answer").inner_text()) == answer

    # Exported as Markdown, with the cited passage quoted.
    with page.expect_download() as download:
        page.get_by_role("button", name="⤓ Markdown").click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# ") and f"## {ARABIC}" in markdown
    assert "**المصادر**" in markdown and "\n> " in markdown
