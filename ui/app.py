"""The Gradio chat: ask the article in Arabic or English, read the cited passages beside it.

Every chat message is HTML that this module builds from escaped text, so nothing a user types
or the article says can become markup. Each message is a ``<div>`` with its own direction
(``rtl``/``ltr`` from an answer's language, ``auto`` for what the user typed), so an Arabic
message reads right-to-left and an English one left-to-right, one message at a time, which
Chatbot's all-or-nothing ``rtl`` cannot do.

A message carries its turn id as a ``sanad-t-<id>`` class. The plain question and the ``Answer``
behind it live in a per-session ``gr.State`` under that id, so the conversation history sent to
the assistant is the plain text, never the HTML, and a citation link can name the answer it
belongs to.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr

from index import ConfigError, detect_language
from qa import (
    Answer,
    BackendError,
    DocumentInfo,
    DocumentNotFoundError,
    Documents,
    QuestionError,
    Source,
)

from . import conversations
from .conversations import CITATION, cited
from .feedback import FeedbackError, FeedbackStore, store_for

if TYPE_CHECKING:
    from qa import Assistant, Settings

log = logging.getLogger(__name__)

EXAMPLES = [
    "كم عدد القتلى في هجوم موسكو؟",
    "Who is Caleb Weiss?",
    "أين توسع تنظيم داعش في السنوات الأخيرة؟",
    "How many people were killed in the Moscow concert hall attack?",
]

FONT_STACK = '"Noto Naskh Arabic", "Noto Sans Arabic", "Amiri", "Segoe UI", Tahoma, sans-serif'

# The chat's own parts: cited and other sources, long questions, the counter, the conversation
# list, feedback, the Arabic web font and the contrast of secondary text.
_CHAT_CSS = """
@font-face {
  font-family: "Noto Naskh Arabic"; font-weight: 400; font-display: swap;
  src: url("fonts/NotoNaskhArabic-Regular.ttf") format("truetype");
  unicode-range: U+0600-06FF, U+0750-077F, U+08A0-08FF, U+FB50-FDFF, U+FE70-FEFF;
}
@font-face {
  font-family: "Noto Naskh Arabic"; font-weight: 700; font-display: swap;
  src: url("fonts/NotoNaskhArabic-Bold.ttf") format("truetype");
  unicode-range: U+0600-06FF, U+0750-077F, U+08A0-08FF, U+FB50-FDFF, U+FE70-FEFF;
}
/* Gradio's subdued grey is about 2:1 on white; these are 4.5:1 or more, light and dark. */
.gradio-container { --body-text-color-subdued: #57575f; --block-info-text-color: #57575f; }
.dark .gradio-container, .gradio-container.dark, .dark.gradio-container {
  --body-text-color-subdued: #b4b4bd; --block-info-text-color: #b4b4bd;
}
#sanad-chat .placeholder, #sanad-chat .placeholder * { color: var(--body-text-color-subdued); }
.sanad-source.sanad-cited { border-inline-start: 4px solid #eab308; }
.sanad-source.sanad-other { border-style: dashed; }
.sanad-source header b { color: var(--body-text-color); }
.sanad-also {
  font-size: .9em; font-weight: 600; margin: 1.1em 0 .5em; padding-top: .6em;
  border-top: 1px solid var(--border-color-primary); color: var(--body-text-color-subdued);
}
a.sanad-back { display: none; margin-inline-start: .8em; color: var(--color-accent); }
.sanad-long details summary {
  cursor: pointer; color: var(--color-accent); font-size: .85em; font-weight: 400;
}
.sanad-long:has(details[open]) .sanad-clip { display: none; }
.sanad-for .sanad-long details summary { margin-top: .2em; }
.sanad-focus.sanad-flash { animation: sanad-flash 1.2s ease-in-out 2; }
@keyframes sanad-flash { 50% { background: #facc15; box-shadow: 0 0 0 3px #facc15; } }
#sanad-count .sanad-count { font-size: .85em; color: var(--body-text-color-subdued);
  margin: .2em .4em 0; text-align: end; }
#sanad-count .sanad-count.over { color: #b91c1c; font-weight: 600; text-align: start; }
.dark #sanad-count .sanad-count.over { color: #fca5a5; }
#sanad-input textarea::placeholder { color: #6b6b73; opacity: 1; }
.dark #sanad-input textarea::placeholder { color: #a1a1aa; }
#sanad-feedback { border: 1px solid var(--border-color-primary); border-radius: .5rem; }
@media (max-width: 640px) {
  a.sanad-back { display: inline; }
}
"""

#: Page CSS; Gradio 6 takes it at mount/launch time, not in ``gr.Blocks``.
CSS = (
    f"""
.gradio-container {{ --sanad-font: {FONT_STACK}; }}
.gradio-container, .gradio-container .prose, .gradio-container textarea,
.gradio-container button {{ font-family: var(--sanad-font); }}
/* Gradio scopes rules inside @media to its content area; the page margin is outside it, so
   it shrinks with the viewport instead. */
.gradio-container .main {{ padding-inline: clamp(.5rem, 2.5vw, 2rem) !important; }}
.sanad-header h1 {{ margin: 0; font-size: 1.5rem; }}
.sanad-header p {{ margin: .2rem 0 0; color: var(--body-text-color-subdued); }}
/* Example questions come in both languages: each one lines up by its own text. */
#sanad-chat .example-content, #sanad-chat .example-text-content {{ width: 100%; }}
#sanad-chat .example-text-content {{ unicode-bidi: plaintext; text-align: start; }}
.sanad-msg {{ text-align: start; line-height: 1.75; overflow-wrap: anywhere; }}
.sanad-msg p {{ margin: 0 0 .4em; }}
.sanad-msg p:last-child {{ margin-bottom: 0; }}
.sanad-msg.sanad-abstained, .sanad-msg.sanad-error {{ color: var(--body-text-color-subdued); }}
/* In an English answer an Arabic quote gets its own right-to-left block: inline, its lines
   would interleave with the English ones. */
.sanad-msg[dir="ltr"] bdi {{ display: block; margin: .2em 0; }}
.sanad-msg .sanad-note {{ font-size: .85em; color: var(--body-text-color-subdued); }}
.sanad-cursor::after {{ content: "▍"; animation: sanad-blink 1s steps(2) infinite; }}
@keyframes sanad-blink {{ 50% {{ opacity: 0; }} }}
a.sanad-cite {{
  display: inline-block; min-width: 1.8em; padding: 0 .3em; margin: 0 .1em;
  border-radius: .6em; background: var(--color-accent-soft); color: var(--color-accent);
  font-weight: 600; font-size: .85em; line-height: 1.6; text-align: center;
  text-decoration: none; cursor: pointer; direction: ltr; unicode-bidi: isolate;
}}
a.sanad-cite:hover, a.sanad-cite:focus-visible {{
  background: var(--color-accent); color: var(--button-primary-text-color, #fff);
}}
.sanad-panel {{ max-height: 70vh; overflow-y: auto; padding: .25rem; }}
.sanad-empty {{ color: var(--body-text-color-subdued); }}
.sanad-for {{ font-weight: 600; margin: 0 0 .6em; }}
.sanad-query {{ font-size: .85em; color: var(--body-text-color-subdued); margin: -.4em 0 .6em; }}
.sanad-source {{
  border: 1px solid var(--border-color-primary); border-radius: .5rem;
  padding: .5em .8em; margin: 0 0 .7em; scroll-margin: .5rem;
}}
.sanad-source.active {{
  border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft);
}}
.sanad-source header {{ font-size: .85em; color: var(--body-text-color-subdued); }}
.sanad-source p, .sanad-article p {{ margin: .3em 0; line-height: 1.9; }}
.sanad-passage {{ background: rgba(250, 204, 21, .18); border-radius: 2px; }}
.sanad-panel mark {{ background: #fde047; color: #1c1917; padding: 0 .1em; border-radius: 2px; }}
.sanad-num {{
  display: inline-block; min-width: 1.5em; padding: 0 .3em; margin: 0 .2em;
  border-radius: .6em; background: var(--color-accent); color: #fff; font-weight: 700;
  font-size: .8em; line-height: 1.5; text-align: center; vertical-align: .35em;
}}
.sanad-gap {{ text-align: center; color: var(--body-text-color-subdued); }}
.sanad-upload {{ display: grid; gap: .5rem; }}
.sanad-upload textarea {{
  width: 100%; min-height: 5rem; font: inherit; padding: .4em; border-radius: .4rem;
  border: 1px solid var(--border-color-primary); background: var(--input-background-fill);
  color: var(--body-text-color);
}}
.sanad-upload button {{
  justify-self: start; padding: .3em 1em; border-radius: .4rem; cursor: pointer;
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color);
  border: none;
}}
.sanad-upload button:disabled {{ opacity: .6; cursor: wait; }}
.sanad-upload-status {{ min-height: 1.4em; margin: 0; }}
/* Gradio's error text colour is meant for a red background; on the page's own, these read. */
.sanad-upload-status[data-kind="error"] {{ color: #b91c1c; }}
.dark .sanad-upload-status[data-kind="error"] {{ color: #fca5a5; }}
@media (max-width: 640px) {{
  #sanad-chat .message-row.bubble {{ max-width: calc(100% - 1rem) !important; }}
  .sanad-header h1 {{ font-size: 1.2rem; }}
  /* One scroll area besides the page: the panel grows instead of scrolling inside it. */
  .sanad-panel {{ max-height: none; overflow-y: visible; }}
  #sanad-chat {{ height: 62vh !important; }}
}}
"""
    + _CHAT_CSS
)

# Runs once when the page loads (as the header's ``js_on_load``, which is where Gradio 6 hands
# out ``trigger``). Citation links sit inside Chatbot messages, whose HTML cannot carry event
# handlers, so one capturing listener on the document turns their clicks into a "click" event
# with data on the header component.
_BRIDGE_JS = r"""
const cite = (event) => {
  const link = event.target.closest && event.target.closest("a.sanad-cite");
  if (!link) return;
  const m = /^#sanad-([0-9a-f]{12})-(\d+)$/.exec(link.getAttribute("href") || "");
  if (!m) return;
  event.preventDefault();
  event.stopPropagation();
  trigger("click", {turn: m[1], source: Number(m[2])});
};
if (window.sanadCite) document.removeEventListener("click", window.sanadCite, true);
window.sanadCite = cite;
document.addEventListener("click", cite, true);

// Chatbot's copy buttons copy a message's raw value, which here is HTML: give the clipboard
// the text a reader sees instead. Both the Clipboard API and the execCommand fallback that
// Gradio uses outside secure contexts (where navigator.clipboard is missing) are covered.
const asText = (value) => {
  if (typeof value !== "string" || !value.includes("sanad-msg")) return value;
  const doc = new DOMParser().parseFromString(value.replace(/<br>/g, "\n"), "text/html");
  doc.querySelectorAll(".sanad-clip, .sanad-long summary").forEach((e) => e.remove());
  doc.querySelectorAll(".sanad-msg p").forEach((p) => p.append("\n"));
  return doc.body.textContent.replace(/\n{3,}/g, "\n\n").trim();
};
if (!window.sanadCopy) {
  window.sanadCopy = true;
  if (navigator.clipboard) {
    const write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = (text) => write(asText(text));
  }
  document.addEventListener("copy", (event) => {
    const box = event.target instanceof HTMLTextAreaElement ? event.target : document.activeElement;
    if (!(box instanceof HTMLTextAreaElement) || !box.value.includes("sanad-msg")) return;
    event.clipboardData.setData("text/plain", asText(box.value));
    event.preventDefault();
  });
}

// The question box follows what is typed in it: Arabic right-to-left, English left-to-right.
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("#sanad-input textarea")) {
    event.target.setAttribute("dir", "auto");
  }
});
"""

_SCROLL_TO_ACTIVE_JS = r"""
watch("value", () => {
  const card = element.querySelector(".sanad-source.active");
  if (card) card.scrollIntoView({block: "nearest"});
});
"""

# The Article tab scrolls to the passage in focus (the clicked one, or the first cited) and
# flashes it: at once if the tab is showing, else when it is next shown (its size changes).
_ARTICLE_JS = r"""
let pending = true;
const focus = () => {
  const spans = element.querySelectorAll(".sanad-focus");
  if (!spans.length || !element.offsetParent) return !spans.length;
  spans[0].scrollIntoView({block: "center"});
  spans.forEach((span) => {
    span.classList.remove("sanad-flash");
    void span.offsetWidth;  // restarts the animation
    span.classList.add("sanad-flash");
  });
  return true;
};
watch("value", () => { pending = !focus(); });
new ResizeObserver(() => { if (pending) pending = !focus(); }).observe(element);
"""

# On the counter's load: "back to the answer" links in the Sources panel (a phone shows the
# panel below the chat), and the conversation export, which arrives as a data: link to click.
_CHAT_JS = r"""
const back = (event) => {
  const link = event.target.closest && event.target.closest("a.sanad-back");
  if (!link) return;
  event.preventDefault();
  const turn = link.dataset.turn || "";
  if (!/^[0-9a-f]{12}$/.test(turn)) return;
  const replies = document.querySelectorAll(
    `#sanad-chat .sanad-msg.sanad-t-${turn}:not(.sanad-question)`);
  if (replies.length) replies[replies.length - 1].scrollIntoView({block: "center"});
};
if (window.sanadBack) document.removeEventListener("click", window.sanadBack, true);
window.sanadBack = back;
document.addEventListener("click", back, true);
"""

# The counter under the question box, run in the browser on every change of the box (typed,
# pasted or cleared): from 80% of the limit it counts, past the limit it says so in the
# question's language. The server refuses an over-long question too; nothing is cut.
_COUNT_JS = r"""
(question) => {
  const box = document.querySelector("#sanad-count .sanad-count");
  if (!box) return;
  const text = (question || "").trim();
  const limit = Number(box.dataset.limit);
  const n = Array.from(text).length;
  const arabic = (text.match(/[\u0600-\u06FF]/g) || []).length
    > (text.match(/[A-Za-z]/g) || []).length;
  const f = (x) => x.toLocaleString("en-US");
  box.hidden = n < 0.8 * limit;
  box.classList.toggle("over", n > limit);
  box.dir = arabic ? "rtl" : "ltr";
  const area = document.querySelector("#sanad-input textarea");
  if (area) area.setAttribute("aria-invalid", String(n > limit));
  if (n <= limit) box.textContent = `${f(n)} / ${f(limit)}`;
  else if (arabic) box.textContent =
    `السؤال ${f(n)} حرفاً والحد ${f(limit)}: اختصره ${f(n - limit)} حرفاً ليمكن إرساله.`;
  else box.textContent =
    `${f(n)} / ${f(limit)} characters: too long to send. Shorten it by ${f(n - limit)}.`;
}
"""

# The export arrives as a fresh data: link; clicking it downloads the file with no server
# route: the access policy refuses Gradio's file routes.
_EXPORT_JS = r"""
watch("value", () => {
  const link = element.querySelector("a[download][data-fresh]");
  if (!link) return;
  link.removeAttribute("data-fresh");
  link.click();
});
"""

_NO_SOURCES = (
    '<div class="sanad-panel sanad-empty" dir="auto">'
    "<p>Ask a question: the passages behind the answer appear here, with the quoted words "
    'highlighted.</p><p dir="rtl">اطرح سؤالاً لتظهر هنا المقاطع التي يستند إليها الجواب، '
    "مع تظليل الكلمات المقتبسة.</p></div>"
)

#: Above this size the Article tab shows only the cited paragraphs: the whole text would be
#: sent to the browser again with every answer.
ARTICLE_MAX_CHARS = 200_000
#: Characters of context shown around a passage in the Sources panel, within its paragraph.
CONTEXT_CHARS = 400

_FAILED = {
    "ar": "تعذّر الإجابة عن هذا السؤال بسبب خطأ داخلي. حاول مرة أخرى.",
    "en": "Something went wrong while answering. Please try again.",
}
# BackendError messages are one line and fit to show (qa writes them so): they tell the user
# what to fix in Settings, e.g. an unknown backend name.
_BACKEND_FAILED = {
    "ar": "تعذّر الحصول على جواب من خدمة الإجابة: {}. "
    "حاول لاحقاً، أو اختر «extractive» في الإعدادات.",
    "en": 'The answer backend failed: {}. Try again later, or choose "extractive" in Settings.',
}

_TURN_CLASS = re.compile(r"\bsanad-t-([0-9a-f]{12})\b")
_PARAGRAPH = re.compile(r"[^\n]*\S[^\n]*")
_QUOTE = re.compile(r"«[^«»]*»?")
_DIRECTION = {"ar": "rtl", "en": "ltr"}

#: A question longer than this (characters, or ``LONG_LINES`` lines) is shown collapsed: in
#: its chat bubble past ``BUBBLE_CHARS``, in the Sources heading past ``HEADING_CHARS``.
BUBBLE_CHARS = 280
HEADING_CHARS = 140
LONG_LINES = 6

# The Sources panel speaks the question's language.
_LABELS = {
    "ar": {
        "sources": "المصادر",
        "closest": "أقرب المقاطع",
        "also": "ورد أيضًا في البحث",
        "retrieved": "ما وجده البحث",
        "searched": "بحثنا عن",
        "quoted": "مقتبس",
        "back": "↑ العودة إلى الجواب",
        "more": "عرض النص كاملاً ({} حرفاً)",
    },
    "en": {
        "sources": "Sources",
        "closest": "Closest passages",
        "also": "Also retrieved",
        "retrieved": "Retrieved passages",
        "searched": "Searched for",
        "quoted": "quoted",
        "back": "↑ Back to the answer",
        "more": "Show all ({} characters)",
    },
}


def _label(language: str, key: str) -> str:
    return _LABELS.get(language, _LABELS["en"])[key]


@dataclass(frozen=True)
class _Turn:
    question: str
    answer: Answer | None = None  # None while it streams, and after an error
    document: str | None = None  # the id of the article asked about


Turns = dict[str, _Turn]


# --- HTML ----------------------------------------------------------------------------------


def _lines(text: str) -> str:
    """Escaped text with line breaks kept. No raw newline survives: a blank line would end
    the HTML block in Chatbot's Markdown renderer and spill the rest out as Markdown."""
    return html.escape(text.strip()).replace("\r", "").replace("\n", "<br>")


def _prose(text: str) -> str:
    """Like ``_lines``, with each «quote» in its own bidi isolate: an Arabic quote inside an
    English answer then reads right-to-left as a whole instead of scrambling the sentence."""
    return _QUOTE.sub(r"<bdi>\g<0></bdi>", _lines(text))


def _message(tid: str, kind: str, body: str, direction: str = "auto") -> str:
    return f'<div class="sanad-msg sanad-{kind} sanad-t-{tid}" dir="{direction}">{body}</div>'


def _collapsed(text: str, language: str, limit: int, *, isolate: bool = True) -> str:
    """``text`` escaped; past ``limit`` characters or ``LONG_LINES`` lines, its beginning and a
    <details> that opens the whole of it, so that a pasted page does not fill the chat.
    ``isolate`` puts it in <bdi>s, for text beside a label; a message left to find its own
    direction (``dir="auto"``) must not have them, as ``auto`` looks past isolated text."""
    tag = "bdi" if isolate else "span"
    lines = text.strip().splitlines()
    if len(text.strip()) <= limit and len(lines) <= LONG_LINES:
        return f"<{tag}>{_lines(text)}</{tag}>" if isolate else _lines(text)
    head = "\n".join(lines[:LONG_LINES])[:limit].rstrip()
    label = _label(language, "more").format(f"{len(text.strip()):,}")
    return (
        f'<span class="sanad-long"><{tag} class="sanad-clip">{_lines(head)}…</{tag}>'
        f"<details><summary>{label}</summary><{tag}>{_lines(text)}</{tag}></details></span>"
    )


def user_html(tid: str, question: str) -> str:
    body = _collapsed(question, detect_language(question[:2000]), BUBBLE_CHARS, isolate=False)
    # A <div>: a <p> cannot hold the <details> of a long question (the parser would end it).
    return _message(tid, "question", f"<div>{body}</div>")


def pending_html(tid: str, text: str, language: str) -> str:
    """An answer still streaming. Its direction is the question's language, which the answer
    shares: ``auto`` would skip the isolated quotes, and an answer may open with one."""
    body = f'<p>{_prose(text) if text.strip() else ""}<span class="sanad-cursor"></span></p>'
    return _message(tid, "pending", body, _DIRECTION.get(language, "auto"))


def error_html(tid: str, text: str) -> str:
    return _message(tid, "error", f"<p>{_lines(text)}</p>")


def _cite(tid: str, n: int) -> str:
    return f'<a class="sanad-cite" href="#sanad-{tid}-{n}" title="Show source {n}">[{n}]</a>'


def answer_html(tid: str, answer: Answer) -> str:
    """The final answer, its [n] citations turned into links that open source n."""
    count = len(answer.sources)

    def link(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
        if not all(1 <= n <= count for n in numbers):
            return m.group(0)
        return "".join(_cite(tid, n) for n in numbers)

    paragraphs = [p for p in re.split(r"\n\s*\n", answer.answer.strip()) if p.strip()]
    body = "".join(f"<p>{CITATION.sub(link, _prose(p))}</p>" for p in paragraphs)
    if not answer.grounded and answer.reason:
        body += f'<p class="sanad-note" dir="auto">{_lines(answer.reason)}</p>'
    kind = "abstained" if answer.abstained else "answer"
    return _message(tid, kind, body, _DIRECTION.get(answer.language, "auto"))


def _paragraphs(text: str, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the non-blank lines of ``text`` that overlap [lo, hi), clipped to it."""
    for m in _PARAGRAPH.finditer(text):
        if m.end() <= lo:
            continue
        if m.start() >= hi:
            break
        yield max(m.start(), lo), min(m.end(), hi)


def _marked(
    text: str,
    lo: int,
    hi: int,
    passages: Sequence[tuple[int, int, int]],
    evidence: Sequence[tuple[int, int]],
    *,
    numbered: bool,
    focus: int | None = None,
) -> str:
    """``text[lo:hi]`` escaped, passages (start, end, n) in a span, evidence in <mark>; the
    spans of passage ``focus`` carry ``sanad-focus``, for the Article tab to scroll to."""
    cuts = {lo, hi}
    for start, end in [*((s, e) for s, e, _ in passages), *evidence]:
        cuts.update(x for x in (start, end) if lo < x < hi)
    out = []
    for a, b in pairwise(sorted(cuts)):
        if numbered:
            out += [f'<sup class="sanad-num">{n}</sup>' for s, _, n in passages if s == a]
        piece = html.escape(text[a:b])
        if any(s <= a and b <= e for s, e in evidence):
            piece = f"<mark>{piece}</mark>"
        inside = [n for s, e, n in passages if s <= a and b <= e]
        if inside:
            kind = "sanad-passage sanad-focus" if focus in inside else "sanad-passage"
            piece = f'<span class="{kind}">{piece}</span>'
        out.append(piece)
    return "".join(out)


def _context(text: str, source: Source) -> tuple[int, int]:
    """The paragraph(s) around a passage, cut to ``CONTEXT_CHARS`` on either side."""
    passage = text[source.start : source.end]
    start = source.start + len(passage) - len(passage.lstrip())
    end = source.end - len(passage) + len(passage.rstrip())
    paragraph_end = text.find("\n", end)
    return (
        max(text.rfind("\n", 0, start) + 1, start - CONTEXT_CHARS),
        min(len(text) if paragraph_end < 0 else paragraph_end, end + CONTEXT_CHARS),
    )


def _direction(text: str) -> str:
    return _DIRECTION.get(detect_language(text[:2000]), "auto")


def _card(
    text: str, tid: str, n: int, source: Source, *, tinted: bool, active: bool, language: str
) -> str:
    """One passage in its paragraph. A cited one is tinted, numbered as in the answer and has
    its evidence marked; any other is plain, so the tint means "the answer rests on this"."""
    lo, hi = _context(text, source)
    paragraphs = []
    for a, b in _paragraphs(text, lo, hi):
        cut_before = a == lo and a > 0 and text[a - 1] != "\n"
        cut_after = b == hi and b < len(text) and text[b] != "\n"
        marked = _marked(
            text,
            a,
            b,
            [(source.start, source.end, n)] if tinted else [],
            source.highlights if tinted else [],
            numbered=False,
        )
        paragraphs.append(f'<p dir="auto">{"…" * cut_before}{marked}{"…" * cut_after}</p>')
    header = ""
    if tinted:
        quoted = f" · {_label(language, 'quoted')}" if source.highlights else ""
        back = f'<a class="sanad-back" href="#" data-turn="{tid}">{_label(language, "back")}</a>'
        header = f"<header><b>[{n}]</b>{quoted}{back}</header>"
    kind = "sanad-cited" if tinted else "sanad-other"
    return (
        f'<article class="sanad-source {kind}{" active" if active else ""}" '
        f'id="sanad-source-{n}">{header}'
        f'<div dir="{_direction(source.text)}">{"".join(paragraphs)}</div></article>'
    )


def sources_html(text: str, tid: str, answer: Answer, active: int | None = None) -> str:
    """The answer's sources: the cited ones first, numbered as in the answer, with the quoted
    evidence marked; then, apart and plain, the others the search found. A refusal has only
    the closest passages, plain. Labels are in the question's language."""
    if not answer.sources:
        return _NO_SOURCES
    language = answer.language if answer.language in _LABELS else "en"
    numbers = cited(answer)

    def cards(which: Sequence[int], *, tinted: bool) -> str:
        return "".join(
            _card(
                text,
                tid,
                n,
                answer.sources[n - 1],
                tinted=tinted,
                active=n == active,
                language=language,
            )
            for n in which
        )

    rest = [n for n in range(1, len(answer.sources) + 1) if n not in numbers]
    heading = _label(language, "closest" if answer.abstained else "sources")
    body = cards(numbers, tinted=True)
    if rest and numbers:
        body += f'<h3 class="sanad-also">{_label(language, "also")}</h3>'
    elif rest and not answer.abstained:
        body += f'<h3 class="sanad-also">{_label(language, "retrieved")}</h3>'
    body += cards(rest, tinted=False)
    searched = ""
    if answer.query and answer.query != answer.question:
        # A follow-up is searched for with its context; showing that explains the passages.
        query = _collapsed(answer.query, language, HEADING_CHARS)
        searched = (
            f'<div class="sanad-query" dir="auto">{_label(language, "searched")}: {query}</div>'
        )
    question = _collapsed(answer.question, language, HEADING_CHARS)
    return (
        f'<div class="sanad-panel sanad-sources sanad-t-{tid}" dir="{_DIRECTION[language]}">'
        f'<div class="sanad-for" dir="auto">{heading}: {question}</div>'
        f"{searched}{body}</div>"
    )


def article_html(text: str, answer: Answer | None = None, active: int | None = None) -> str:
    """The whole article, with the passages the answer cites numbered and their evidence
    marked; passage ``active`` (default: the first cited) is the one the tab scrolls to."""
    numbers = cited(answer) if answer else []
    sources = {n: answer.sources[n - 1] for n in numbers} if answer else {}
    passages = [(s.start, s.end, n) for n, s in sources.items()]
    evidence = [h for s in sources.values() for h in s.highlights]
    focus = active if active in sources else next(iter(sources), None)
    shown = list(_paragraphs(text, 0, len(text)))
    if len(text) > ARTICLE_MAX_CHARS:
        shown = [(a, b) for a, b in shown if any(s < b and a < e for s, e, _ in passages)]
    parts = []
    previous_end = 0
    for a, b in shown:
        if len(text) > ARTICLE_MAX_CHARS and text[previous_end:a].strip():
            parts.append('<p class="sanad-gap">…</p>')
        marked = _marked(text, a, b, passages, evidence, numbered=True, focus=focus)
        parts.append(f"<p>{marked}</p>")
        previous_end = b
    if not parts:
        parts.append('<p class="sanad-gap">Ask a question to see its passages here.</p>')
    return f'<div class="sanad-panel sanad-article" dir="{_direction(text)}">{"".join(parts)}</div>'


# --- conversation --------------------------------------------------------------------------


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return ""


def _turn_id(message: dict[str, Any]) -> str | None:
    m = _TURN_CLASS.search(_text(message))
    return m.group(1) if m else None


def history_of(chat: Sequence[dict[str, Any]], turns: Turns) -> list[dict[str, str]]:
    """The answered turns still in the chat, as plain-text messages for the assistant."""
    history: list[dict[str, str]] = []
    seen: set[str] = set()
    for message in chat:
        tid = _turn_id(message)
        if tid is None or tid in seen:
            continue
        seen.add(tid)
        turn = turns.get(tid)
        if turn is not None and turn.answer is not None:
            history += [
                {"role": "user", "content": turn.question},
                {"role": "assistant", "content": turn.answer.answer},
            ]
    return history


# --- articles: the header, the articles dropdown, adding one -------------------------------

#: Runs once on load, as the upload form's ``js_on_load``. The article goes to
#: ``POST /api/documents``, the route the access policy sizes for articles (Gradio's own upload
#: route stays refused), with upload and indexing progress shown; then a "submit" event with
#: the new id switches the chat to it.
_UPLOAD_JS = r"""
const form = element.querySelector("form.sanad-upload");
const status = element.querySelector(".sanad-upload-status");
const button = form.querySelector("button");
const file = form.querySelector("input[type=file]");
const paste = form.querySelector("textarea");
const show = (text, kind) => { status.textContent = text; status.dataset.kind = kind || ""; };
const send = (body, json, label) => {
  const xhr = new XMLHttpRequest();
  const started = Date.now();
  let ticking = null;
  xhr.open("POST", new URL("api/documents", window.location.href));
  if (json) xhr.setRequestHeader("Content-Type", "application/json");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) show(`Uploading ${label}… ${Math.round(100 * e.loaded / e.total)}%`);
  };
  const indexing = () => show(
    `Indexing ${label}… ${Math.round((Date.now() - started) / 1000)} s · جارٍ الفهرسة`);
  xhr.upload.onload = () => { indexing(); ticking = setInterval(indexing, 500); };
  xhr.onloadend = () => { clearInterval(ticking); button.disabled = false; };
  xhr.onerror = () => show("The server could not be reached; try again.", "error");
  xhr.onload = () => {
    let reply = {};
    try { reply = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: said below */ }
    if (xhr.status === 201) {
      // The title in its own isolate, so an Arabic one does not reorder the words around it.
      const title = document.createElement("bdi");
      title.textContent = reply.title;
      status.replaceChildren("Ready: ", title, ` · ${reply.chunks} passages · جاهز`);
      status.dataset.kind = "ok";
      form.reset();
      trigger("submit", {document: reply.id});
    } else {
      const detail = Array.isArray(reply.detail) ? reply.detail.map((d) => d.msg).join("; ") : "";
      show(reply.error || detail || `The article was not added (HTTP ${xhr.status}).`, "error");
    }
  };
  button.disabled = true;
  show(`Uploading ${label}…`);
  xhr.send(body);
};
form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (file.files.length) {
    const body = new FormData();
    body.append("file", file.files[0], file.files[0].name);
    send(body, false, file.files[0].name);
  } else if (paste.value.trim()) {
    send(JSON.stringify({text: paste.value, name: "pasted text"}), true, "the pasted text");
  } else {
    show("Choose a file or paste an article first · اختر ملفاً أو الصق مقالاً", "error");
  }
});
file.addEventListener("change", () => { if (file.files.length) form.requestSubmit(); });
"""

_UPLOAD_FORM = (
    '<form class="sanad-upload" dir="auto">'
    "<label>A file (.txt, .md, .html) · ملف "
    '<input type="file" name="file" accept=".txt,.md,.markdown,.html,.htm,text/plain,'
    'text/markdown,text/html"></label>'
    '<textarea name="text" dir="auto" aria-label="Paste an article"'
    ' placeholder="…or paste an article here, its title on the first line · '
    'أو الصق مقالاً هنا، وعنوانه في السطر الأول"></textarea>'
    '<button type="submit">Add and switch to it · أضف</button>'
    '<p class="sanad-upload-status" role="status" aria-live="polite"></p></form>'
)


def header_html(info: DocumentInfo) -> str:
    """The page's header: what the chat is about, by the article's title and size."""
    title = html.escape(info.title or info.name)
    return (
        '<div class="sanad-header"><h1>sanad · سند</h1>'
        f'<p>Ask about <b><bdi class="sanad-title">{title}</bdi></b> '
        f'<span class="sanad-size">({info.chars:,} characters, {info.chunks} passages)</span> '
        "in Arabic or English: every answer quotes the article and cites it. "
        "Click a [n] to see its passage.</p></div>"
    )


def _article_label(info: DocumentInfo) -> str:
    title = info.title or info.name
    title = title if len(title) <= 70 else title[:69].rstrip() + "…"
    return f"{title} · {info.chars:,} chars"


class _Articles:
    """The handlers of the articles dropdown and the upload form. The dropdown's value (an id)
    is the session's article, which the chat's handlers are given."""

    def __init__(self, documents: Documents, packaged: str | None) -> None:
        self.documents = documents
        self.packaged = packaged  # the packaged article's id, which has curated examples
        self._prepared = threading.Event()

    def prepare(self) -> None:
        """Opening "Add an article" loads the passage encoder in the background, while the
        visitor picks a file, rather than after the upload (it takes seconds, once)."""
        if not self._prepared.is_set():
            self._prepared.set()
            threading.Thread(target=self.documents.prepare, daemon=True).start()

    def examples(self, info: DocumentInfo) -> list[dict[str, str]] | None:
        return [{"text": q} for q in EXAMPLES] if info.id == self.packaged else None

    def choices(self) -> list[tuple[str, str]]:
        return [(_article_label(info), info.id) for info in self.documents.list()]

    def listed(self) -> Any:
        """The list anew as a visitor opens it: articles added since the page loaded (in
        another tab, by another visitor, over the API) are there to pick."""
        return gr.Dropdown(choices=self.choices())

    def uploaded(self, event: gr.EventData) -> Any:
        """The dropdown, switched to the article the upload form has just added."""
        data = getattr(event, "_data", None) or {}
        try:
            info = self.documents.get(str(data.get("document")))
        except DocumentNotFoundError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return gr.Dropdown(choices=self.choices(), value=info.id)


# --- the app -------------------------------------------------------------------------------


class _Chat:
    """The event handlers, bound to one assistant and the answer slots it shares with the API."""

    def __init__(self, bot: Assistant, slots: threading.Semaphore, documents: Documents) -> None:
        self.bot = bot
        self.slots = slots
        self.documents = documents

    def _bot(self, document: str | None) -> Assistant:
        """The Assistant for the session's article (its id from the articles dropdown)."""
        try:
            return self.documents.assistant(document or None)
        except DocumentNotFoundError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def respond(
        self,
        question: str,
        chat: list[dict[str, Any]],
        turns: Turns,
        llm: str,
        top_k: float,
        document: str | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Outputs: question box, chat, turns, sources panel, article."""
        if not question or not question.strip():
            yield (gr.skip(),) * 5
            return
        bot = self._bot(document)
        text = bot.document.text
        too_long = _too_long(question, bot.settings.max_question_chars)
        if too_long:
            # A warning, not an error: an error would blank the chat, an output of this event.
            gr.Warning(too_long)
            yield (gr.skip(),) * 5
            return
        tid = uuid.uuid4().hex[:12]
        language = detect_language(question)
        history = history_of(chat, turns)
        chat = [*chat, {"role": "user", "content": user_html(tid, question)}]
        doc_id = document or self.documents.default_id
        turns = {**turns, tid: _Turn(question, None, doc_id)}
        yield (
            gr.Textbox(value="", interactive=False),
            [*chat, {"role": "assistant", "content": pending_html(tid, "", language)}],
            turns,
            gr.skip(),
            gr.skip(),
        )
        streamed, answer, failure = "", None, None
        try:
            with self.slots:
                for item in bot.stream(question, history, top_k=int(top_k), llm=llm):
                    if isinstance(item, Answer):
                        answer = item
                        continue
                    streamed += item
                    reply = {"role": "assistant", "content": pending_html(tid, streamed, language)}
                    yield gr.skip(), [*chat, reply], gr.skip(), gr.skip(), gr.skip()
        except (QuestionError, ConfigError) as e:
            failure = str(e)
        except BackendError as e:
            log.warning("answer backend failed: %s", e)
            failure = _BACKEND_FAILED[language].format(str(e).rstrip("."))
        except Exception:
            log.exception("answering %r failed", question)
            failure = _FAILED[language]
        if answer is None:
            reply = {"role": "assistant", "content": error_html(tid, failure or _FAILED[language])}
            yield gr.Textbox(interactive=True), [*chat, reply], turns, gr.skip(), gr.skip()
            return
        turns = {**turns, tid: _Turn(question, answer, doc_id)}
        yield (
            gr.Textbox(interactive=True),
            [*chat, {"role": "assistant", "content": answer_html(tid, answer)}],
            turns,
            sources_html(text, tid, answer),
            article_html(text, answer),
        )

    def retry(
        self,
        chat: list[dict[str, Any]],
        turns: Turns,
        llm: str,
        top_k: float,
        document: str | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Ask the last question again, in place of its answer."""
        i = len(chat)
        while i and chat[i - 1]["role"] == "assistant":
            i -= 1
        tid = _turn_id(chat[i - 1]) if i else None
        while i and chat[i - 1]["role"] == "user":
            i -= 1
        turn = turns.get(tid) if tid else None
        if turn is None:
            yield (gr.skip(),) * 5
            return
        rest = {k: v for k, v in turns.items() if k != tid}
        yield from self.respond(turn.question, chat[:i], rest, llm, top_k, document)

    def example(
        self,
        chat: list[dict[str, Any]],
        turns: Turns,
        llm: str,
        top_k: float,
        document: str | None,
        selected: gr.SelectData,
    ) -> Iterator[tuple[Any, ...]]:
        question = selected.value.get("text", "")
        yield from self.respond(question, chat, turns, llm, top_k, document)

    def show_source(
        self, turns: Turns, document: str | None, event: gr.EventData
    ) -> tuple[Any, Any, Any]:
        """Outputs: sources panel, article, tabs."""
        data = getattr(event, "_data", None) or {}
        turn = turns.get(str(data.get("turn")))
        if turn is None or turn.answer is None:
            return gr.skip(), gr.skip(), gr.skip()
        n = data.get("source")
        text = self._bot(document).document.text
        return (
            sources_html(text, str(data["turn"]), turn.answer, active=n),
            article_html(text, turn.answer, active=n),
            gr.Tabs(selected="sources"),
        )

    def text_of(self, document: str | None) -> str:
        return self._bot(document).document.text

    def sources_for(self, turns: Turns, tid: str, text: str) -> tuple[str, str]:
        """The Sources panel and the Article tab for turn ``tid`` (empty if unanswered)."""
        turn = turns.get(tid)
        if turn is None or turn.answer is None:
            return _NO_SOURCES, article_html(text)
        return sources_html(text, tid, turn.answer), article_html(text, turn.answer)

    def api_ask(self, question: str, history_json: str = "[]") -> dict[str, Any]:
        """Answer a question about the article. history_json is a JSON list of earlier
        messages ({"role", "content"} objects or strings). Returns the answer with its sources
        (character offsets into the article) as JSON."""
        try:
            history = json.loads(history_json or "[]")
        except json.JSONDecodeError as e:
            raise gr.Error(
                f"history_json is not valid JSON: {e.msg}", print_exception=False
            ) from None
        try:
            with self.slots:
                return self.bot.ask(question, history).to_dict()
        # print_exception=False: an error the caller caused is theirs to read, not the log's.
        except (QuestionError, ConfigError) as e:
            raise gr.Error(str(e), print_exception=False) from None
        except BackendError as e:
            log.warning("answer backend failed: %s", e)
            message = _BACKEND_FAILED["en"].format(str(e).rstrip("."))
            raise gr.Error(message, print_exception=False) from None
        except Exception:
            log.exception("answering %r failed", question)
            raise gr.Error(_FAILED["en"], print_exception=False) from None


_TOO_LONG = {
    # In a right-to-left isolate: the warning is shown in a left-to-right box.
    "ar": "\u2067السؤال {n:,} حرفاً والحد {limit:,}: اختصره ليمكن إرساله.\u2069",
    "en": "The question is {n:,} characters long; the limit is {limit:,}. Shorten it to send it.",
}


def _too_long(question: str, limit: int) -> str | None:
    """Why ``question`` cannot be sent (it stays in the box, never cut), or None."""
    n = len(question.strip())
    if n <= limit:
        return None
    return _TOO_LONG[detect_language(question[:2000])].format(n=n, limit=limit)


Library = dict[str, Any]  # the conversations, as ui.conversations stores them


class _Conversations:
    """The conversation list: kept in the browser (``gr.BrowserState``), with a copy per
    session on the server so that only the page's load sends it. A conversation is about one
    article (its id): showing it switches the page to that article."""

    def __init__(self, chat: _Chat, articles: _Articles, feedback: _Feedback) -> None:
        self.chat = chat
        self.articles = articles
        self.feedback = feedback

    def _article(self, conversation: dict[str, Any] | None, document: str | None) -> DocumentInfo:
        """The conversation's article, or the one on screen for a new conversation (or for one
        whose article this server no longer has, whose turns then fail their offset checks)."""
        documents = self.chat.documents
        for candidate in (conversation or {}).get("document"), document:
            if isinstance(candidate, str):
                try:
                    return documents.get(candidate)
                except DocumentNotFoundError:
                    continue
        return documents.default_info

    def _render(self, library: Library, document: str | None) -> tuple[Any, ...]:
        """Chat (with the reader's votes), turns, votes, sources panel, article, articles
        dropdown and header for the library's current conversation."""
        conversation = conversations.find(library, library["current"])
        info = self._article(conversation, document)
        text = self.chat.text_of(info.id)
        messages: list[dict[str, Any]] = []
        turns: Turns = {}
        for item in conversation["turns"] if conversation else []:
            unpacked = conversations.unpack(item, text)
            if unpacked is None:
                continue
            tid, question, answer = unpacked
            messages += [
                {"role": "user", "content": user_html(tid, question)},
                {"role": "assistant", "content": answer_html(tid, answer)},
            ]
            turns[tid] = _Turn(question, answer, info.id)
        sources, article = self.chat.sources_for(turns, next(reversed(turns), ""), text)
        votes, verdicts = self.feedback.restored((conversation or {}).get("votes", {}), turns)
        return (
            gr.Chatbot(
                value=messages,
                examples=self.articles.examples(info),
                feedback_value=[_SHOWN_VERDICT.get(verdicts.get(tid, "")) for tid in turns],
            ),
            turns,
            votes,
            sources,
            article,
            gr.Dropdown(choices=self.articles.choices(), value=info.id),
            header_html(info),
        )

    @staticmethod
    def _list(library: Library) -> Any:
        return gr.Dropdown(choices=conversations.choices(library), value=library["current"])

    def restore(self, stored: Any, document: str | None) -> tuple[Any, ...]:
        """On load. Outputs: library, chat, turns, votes, sources, article, articles, header,
        list."""
        library = conversations.read(stored)
        if library["current"] is None:
            # Nothing to show: leave the chat alone, in case a question is already on its way;
            # the articles dropdown gets those added since the page was built.
            articles = gr.Dropdown(choices=self.articles.choices(), value=document)
            return library, *(gr.skip(),) * 5, articles, gr.skip(), self._list(library)
        return (library, *self._render(library, document), self._list(library))

    def save(self, library: Library, turns: Turns) -> tuple[Any, ...]:
        """After an answer. Outputs: library, stored value, list."""
        answered = [(tid, t) for tid, t in turns.items() if t.answer is not None]
        if not answered:
            return gr.skip(), gr.skip(), gr.skip()
        conversation = conversations.find(library, library["current"]) or {
            "id": uuid.uuid4().hex[:12],
            "title": conversations.title_of(answered[0][1].question),
            "created": conversations.now(),
            "document": answered[0][1].document,
        }
        packed = [conversations.pack(tid, t.question, t.answer) for tid, t in answered if t.answer]
        # A vote on an answer that a retry replaced goes with it.
        votes = {k: v for k, v in conversation.get("votes", {}).items() if k in turns}
        library = conversations.put(library, {**conversation, "turns": packed, "votes": votes})
        return library, library, self._list(library)

    def open(self, cid: Any, library: Library, document: str | None) -> tuple[Any, ...]:
        """Outputs: library, stored value, chat, turns, votes, sources, article, articles,
        header."""
        if not isinstance(cid, str) or conversations.find(library, cid) is None:
            return (gr.skip(),) * 9
        library = {**library, "current": cid}
        return (library, library, *self._render(library, document))

    def new(self, library: Library, document: str | None) -> tuple[Any, ...]:
        """A new conversation, about the article ``document``. Outputs: library, stored value,
        chat, turns, votes, sources, article, articles, header, list."""
        library = {**library, "current": None}
        return (library, library, *self._render(library, document), self._list(library))

    def delete(self, library: Library, document: str | None) -> tuple[Any, ...]:
        """Chatbot's clear: the conversation goes. Outputs: library, stored value, turns,
        votes, sources, article, list."""
        library = conversations.drop(library, library["current"])
        _, turns, votes, sources, article, _, _ = self._render(library, document)
        return library, library, turns, votes, sources, article, self._list(library)

    def export(self, kind: str, library: Library) -> Any:
        """The current conversation as a download link (Markdown or JSON)."""
        conversation = conversations.find(library, library["current"])
        if conversation is None:
            return '<p class="sanad-empty">Nothing to export yet. · لا شيء للتصدير بعد.</p>'
        text = self.chat.text_of(self._article(conversation, None).id)
        if kind == "json":
            body, mime = conversations.to_json(conversation, text), "application/json"
        else:
            body, mime = conversations.to_markdown(conversation, text), "text/markdown"
        name = f"sanad-{conversation['created'][:10]}-{conversation['id']}.{kind}"
        href = f"data:{mime};charset=utf-8,{urllib.parse.quote(body)}"
        return (
            f'<a class="sanad-export" download="{name}" href="{href}" '
            f'data-fresh="{uuid.uuid4().hex}">⤓ {html.escape(name)}</a>'
        )


# Chatbot's names for a verdict, as in its feedback_options.
_SHOWN_VERDICT = {"up": "Like", "down": "Dislike"}
_THANKS = {
    "ar": "شكراً. أضف تعليقاً إن شئت (اختياري):",
    "en": "Thank you. Add a comment if you like (optional):",
}


class _Feedback:
    """Thumbs up or down on an answer, and an optional comment, into ``ui.feedback``'s store.
    What is stored is the server's own record of the turn (question, answer, sources)."""

    def __init__(self, chat: _Chat, store: FeedbackStore) -> None:
        self.chat = chat
        self.store = store

    def restored(self, kept: dict[str, str], turns: Turns) -> tuple[dict[str, int], dict[str, str]]:
        """The votes a stored conversation holds for ``turns`` whose receipts this server
        signed: (turn id → feedback id, turn id → the stored verdict). Any other is dropped
        quietly: it is the browser's data, and a forged or stale receipt changes no one's
        feedback."""
        ids: dict[str, int] = {}
        verdicts: dict[str, str] = {}
        for tid, receipt in kept.items():
            if tid not in turns:
                continue
            try:
                redeemed = self.store.redeem(receipt, tid)
            except FeedbackError:
                return {}, {}  # the store cannot be read: the votes show as not given
            if redeemed is not None:
                ids[tid], verdicts[tid] = redeemed
        return ids, verdicts

    def vote(
        self, turns: Turns, votes: dict[str, int], library: Library, like: gr.LikeData
    ) -> tuple[Any, ...]:
        """Outputs: votes, comment box (shown), the feedback id a comment goes to, library,
        stored value (the vote and its receipt, so that it shows after a reload)."""
        m = _TURN_CLASS.search(json.dumps(like.value, ensure_ascii=False))
        tid = m.group(1) if m else ""
        turn = turns.get(tid)
        if turn is None or turn.answer is None:
            return (gr.skip(),) * 5
        answer = turn.answer
        try:
            if like.liked == "":  # the reader took their vote back
                if tid in votes:
                    self.store.remove(votes[tid])
                votes = {k: v for k, v in votes.items() if k != tid}
                kept = conversations.vote(library, tid, None)
                hidden = gr.Textbox(visible=False, value="")
                return votes, hidden, None, *((kept, kept) if kept else (gr.skip(),) * 2)
            verdict = "up" if like.liked is True else "down"
            if tid in votes:
                self.store.set_verdict(votes[tid], verdict)
            else:
                numbers = cited(answer)
                sources = [
                    {"n": n, "cited": n in numbers, "text": s.text, "start": s.start, "end": s.end}
                    for n, s in enumerate(answer.sources, 1)
                ]
                votes = {
                    **votes,
                    tid: self.store.add(
                        verdict,
                        turn.question,
                        answer.answer,
                        sources,
                        language=answer.language,
                        backend=answer.backend,
                        document=turn.document,
                    ),
                }
            receipt = self.store.receipt(votes[tid], tid)
        except FeedbackError as e:
            # A warning, not an error: an error would cover the outputs until the next event.
            gr.Warning(str(e))
            return (gr.skip(),) * 5
        box = gr.Textbox(visible=True, value="", label=_THANKS.get(answer.language, _THANKS["en"]))
        kept = conversations.vote(library, tid, receipt)
        return votes, box, votes[tid], *((kept, kept) if kept else (gr.skip(),) * 2)

    def comment(self, text: Any, feedback_id: Any) -> Any:
        """Outputs: comment box (hidden once stored)."""
        if feedback_id is None:
            return gr.Textbox(visible=False, value="")
        if isinstance(text, str) and not text.strip():
            return gr.skip()
        try:
            self.store.comment(feedback_id, text)
        except FeedbackError as e:
            gr.Warning(str(e))  # the comment stays in its box, to be shortened
            return gr.skip()
        return gr.Textbox(visible=False, value="")


_C = TypeVar("_C", bound=gr.components.Component)


def _refusing_quietly(component: _C, message: str) -> _C:
    """``component``, refusing a payload it cannot take with ``message`` and no traceback.

    Gradio prints a traceback for every payload a component refuses (a gr.Error from a Dropdown
    for a value it does not offer, a TypeError from a Slider for a missing one), so anyone could
    fill the server's log by posting bad values; the refusal itself is the component's own."""
    check = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return check(payload)
        except Exception:
            raise gr.Error(message, print_exception=False) from None

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component


def build_app(
    bot: Assistant,
    *,
    settings: Settings | None = None,
    slots: threading.Semaphore | None = None,
    documents: Documents | None = None,
) -> gr.Blocks:
    """The chat UI for ``bot``, with ``settings`` (default ``bot.settings``) for the answer
    backends on offer and the queue's bounds. ``slots`` bounds the answers computed at once;
    pass the one the HTTP API uses so that both together stay within
    ``settings.max_concurrency``. ``documents`` is the registry of articles a visitor may
    switch to and add to (default: one whose default article is ``bot``'s).

    Mount it with ``css=CSS`` (``ui.server.create_app`` does), or ``launch(css=CSS)``.
    """
    settings = settings or bot.settings
    slots = slots or threading.BoundedSemaphore(settings.max_concurrency)
    documents = documents or Documents(settings, default=bot)
    handlers = _Chat(bot, slots, documents)
    articles = _Articles(documents, documents.default_id if bot.settings.document is None else None)
    feedback = _Feedback(handlers, store_for(settings))
    kept = _Conversations(handlers, articles, feedback)

    # No analytics: Gradio would otherwise call home from a server meant to work offline.
    with gr.Blocks(title="sanad · سند", fill_width=True, analytics_enabled=False) as blocks:
        header = gr.HTML(header_html(documents.default_info), js_on_load=_BRIDGE_JS)
        turns = gr.State({})
        # Fixed key and secret: the stored conversations outlive a server restart. The secret
        # guards nothing (Gradio sends it to the page, which decrypts); the data is the
        # reader's own, in their own browser.
        stored = gr.BrowserState(
            conversations.empty(), storage_key="sanad-conversations", secret="sanad-v1"
        )
        library = gr.State(conversations.empty())
        votes = gr.State({})
        feedback_for = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                document = _refusing_quietly(
                    gr.Dropdown(
                        choices=articles.choices(),
                        value=documents.default_id,
                        label="Article · المقال",
                        elem_id="sanad-document",
                    ),
                    "Article: not one of this server's articles",
                )
                with gr.Accordion(
                    "Add an article · أضف مقالاً",
                    open=False,
                    elem_id="sanad-add",
                    visible=settings.max_documents > 0,  # SANAD_MAX_DOCUMENTS=0: none may be
                ) as adding:
                    upload = gr.HTML(_UPLOAD_FORM, js_on_load=_UPLOAD_JS, elem_id="sanad-upload")
                with gr.Accordion(
                    "Conversations · المحادثات", open=False, elem_id="sanad-conversations"
                ):
                    conversation_list = _refusing_quietly(
                        gr.Dropdown(
                            choices=[],
                            value=None,
                            elem_id="sanad-conversation-list",
                            label="Earlier conversations, kept in this browser · "
                            "المحادثات السابقة في هذا المتصفح",
                        ),
                        "Conversations: not one of this browser's conversations",
                    )
                    with gr.Row():
                        new_conversation = gr.Button(
                            "+ New · جديدة", size="sm", min_width=90, elem_id="sanad-new"
                        )
                        export_md = gr.Button("⤓ Markdown", size="sm", min_width=90)
                        export_json = gr.Button("⤓ JSON", size="sm", min_width=70)
                    export = gr.HTML("", js_on_load=_EXPORT_JS, elem_id="sanad-export")
                chatbot = gr.Chatbot(
                    elem_id="sanad-chat",
                    show_label=False,
                    height="68vh",
                    buttons=["copy", "copy_all"],
                    examples=articles.examples(documents.default_info),
                    placeholder="**sanad · سند** — ask the article a question · اسأل المقال",
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike"),
                )
                question = gr.Textbox(
                    elem_id="sanad-input",
                    show_label=False,
                    placeholder="Ask about the article… · اسأل عن المقال…",
                    submit_btn=True,
                    # No max_length: the browser would cut a long paste without a word. The
                    # counter below says when it is too long, and respond refuses it.
                    max_lines=5,
                    autofocus=True,
                )
                gr.HTML(
                    '<div class="sanad-count" role="status" aria-live="polite" hidden '
                    f'data-limit="{settings.max_question_chars}"></div>',
                    elem_id="sanad-count",
                    js_on_load=_CHAT_JS,
                )
                comment = gr.Textbox(
                    elem_id="sanad-feedback",
                    visible=False,
                    label=_THANKS["en"],
                    placeholder="What was wrong or right? · ما الخطأ أو الصواب؟",
                    submit_btn="Send · أرسل",
                    max_lines=4,
                )
                with gr.Accordion("Settings · الإعدادات", open=False):
                    # Only what the operator offers (SANAD_LLM_CHOICES): a backend named by a
                    # visitor would open any path on the server or bill any model to its key.
                    options = settings.llm_options
                    llm = _refusing_quietly(
                        gr.Dropdown(
                            choices=list(options),
                            value=options[0],
                            label="Answer backend",
                            info="the backends this server offers (this browser session only)",
                            interactive=len(options) > 1,
                        ),
                        "Answer backend: not one of the choices",
                    )
                    top_k = _refusing_quietly(
                        gr.Slider(
                            1, 10, value=min(settings.top_k, 10), step=1, label="Number of sources"
                        ),
                        "Number of sources: a number from 1 to 10",
                    )
            with gr.Column(scale=2, min_width=300), gr.Tabs(selected="sources") as tabs:
                with gr.Tab("Sources · المصادر", id="sources"):
                    sources = gr.HTML(_NO_SOURCES, js_on_load=_SCROLL_TO_ACTIVE_JS)
                with gr.Tab("Article · المقال", id="article"):
                    article = gr.HTML(article_html(bot.document.text), js_on_load=_ARTICLE_JS)

        answering = {
            "outputs": [question, chatbot, turns, sources, article],
            "show_progress": "hidden",
            "concurrency_limit": settings.max_concurrency,
            "concurrency_id": "sanad-answer",
            "api_visibility": "private",
        }
        quick: dict[str, Any] = {"api_visibility": "private", "queue": False}
        asking = [question, chatbot, turns, llm, top_k, document]
        saving = {
            "fn": kept.save,
            "inputs": [library, turns],
            "outputs": [library, stored, conversation_list],
            **quick,
        }
        question.submit(handlers.respond, asking, **answering).then(**saving)
        chatbot.retry(handlers.retry, asking[1:], **answering).then(**saving)
        chatbot.example_select(handlers.example, asking[1:], **answering).then(**saving)
        question.change(None, [question], None, js=_COUNT_JS, **quick)
        # What shows one conversation: it may be about another article than the one on screen.
        shown = [chatbot, turns, votes, sources, article, document, header]
        blocks.load(kept.restore, [stored, document], [library, *shown, conversation_list], **quick)
        conversation_list.input(
            kept.open, [conversation_list, library, document], [library, stored, *shown], **quick
        )
        new_conversation.click(
            kept.new, [library, document], [library, stored, *shown, conversation_list], **quick
        )
        chatbot.clear(
            kept.delete,
            [library, document],
            [library, stored, turns, votes, sources, article, conversation_list],
            **quick,
        )
        export_md.click(partial(kept.export, "md"), [library], [export], **quick)
        export_json.click(partial(kept.export, "json"), [library], [export], **quick)
        # Queued, unlike the other quick events: only there does Gradio show a warning (a
        # comment too long, a store that cannot be written) to the reader.
        storing = {"api_visibility": "private", "concurrency_id": "sanad-feedback"}
        chatbot.like(
            feedback.vote,
            [turns, votes, library],
            [votes, comment, feedback_for, library, stored],
            **storing,
        )
        comment.submit(feedback.comment, [comment, feedback_for], [comment], **storing)
        header.click(
            handlers.show_source,
            [turns, document],
            [sources, article, tabs],
            api_visibility="private",
            queue=False,
        )
        # Articles: an upload switches to its article, and a switch starts a new conversation
        # about it.
        private = {"api_visibility": "private", "queue": False}
        upload.submit(articles.uploaded, None, [document], **private).then(
            kept.new, [library, document], [library, stored, *shown, conversation_list], **private
        )
        adding.expand(articles.prepare, None, None, **private)
        document.focus(articles.listed, None, [document], **private)
        # input, not change: showing a conversation sets the dropdown too, and must not start a
        # new one.
        document.input(
            kept.new, [library, document], [library, stored, *shown, conversation_list], **private
        )
        gr.api(
            handlers.api_ask,
            api_name="ask",
            concurrency_limit=settings.max_concurrency,
            concurrency_id="sanad-answer",
        )
    # A bounded queue, and no route around it (api_open=False): beyond max_size waiting, a
    # request gets 503 at once. The bound also keeps Gradio's queue running: it files pending
    # results under the last 2,000 sessions only, and stops for good if a session with an event
    # still queued is dropped, which an unbounded queue of unread /gradio_api/call requests did.
    blocks.queue(
        max_size=settings.max_queue,
        default_concurrency_limit=settings.max_concurrency,
        api_open=False,
    )
    return blocks
