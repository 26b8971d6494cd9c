"""The chat's HTML and history helpers: escaping, citation links, marks, directions."""

from __future__ import annotations

import re

import pytest

from qa import Answer, Source
from ui import app

TID = "0123456789ab"
DOC = "الفقرة الأولى.\nقال <b>الخبير</b> إن الدليل هنا واضح.\n\nالفقرة الثالثة."


def source(text: str, needle: str, doc: str = DOC) -> Source:
    start = doc.index(text)
    mark = doc.index(needle)
    return Source(text, 0, 0.9, start, start + len(text), [(mark, mark + len(needle))])


def answer(text: str, sources: list[Source], **kwargs: object) -> Answer:
    fields: dict[str, object] = {"language": "ar", "abstained": False, **kwargs}
    return Answer("سؤال؟", text, sources=sources, **fields)  # type: ignore[arg-type]


def test_user_text_is_escaped_and_kept_on_one_html_line() -> None:
    html = app.user_html(TID, '<script>alert(1)</script>\n\n<img src=x onerror="x()"> & co')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&amp; co" in html
    assert "\n" not in html
    assert f'class="sanad-msg sanad-question sanad-t-{TID}" dir="auto"' in html


def test_citations_link_only_to_sources_that_exist() -> None:
    two = [source("الفقرة الأولى.", "الأولى"), source("الفقرة الثالثة.", "الثالثة")]
    html = app.answer_html(TID, answer("أ [1] ب [2، 1] ج [2, 3] <i>د</i>", two))
    assert html.count('class="sanad-cite"') == 3
    assert f'href="#sanad-{TID}-2"' in html
    assert "[2, 3]" in html  # source 3 does not exist: left as text
    assert "<i>" not in html and "&lt;i&gt;" in html
    assert 'dir="rtl"' in html


def test_quotes_are_isolated_and_english_answers_run_left_to_right() -> None:
    html = app.answer_html(
        TID,
        answer(
            "The article says [1]: «الفقرة الأولى.»",
            [source("الفقرة الأولى.", "الأولى")],
            language="en",
        ),
    )
    assert "<bdi>«الفقرة الأولى.»</bdi>" in html
    assert 'dir="ltr"' in html


def test_ungrounded_answer_says_why_and_abstention_is_marked() -> None:
    a = answer("لا يجيب المقال.", [], abstained=True, grounded=False, reason="<failed> check")
    html = app.answer_html(TID, a)
    assert "sanad-abstained" in html
    assert "&lt;failed&gt; check" in html


def test_source_is_shown_in_its_paragraph_with_the_evidence_marked() -> None:
    s = source("قال <b>الخبير</b> إن الدليل هنا واضح.", "الدليل هنا")
    html = app.sources_html(DOC, TID, answer("x [1]", [s]), active=1)
    assert "<mark>الدليل هنا</mark>" in html
    assert "&lt;b&gt;الخبير&lt;/b&gt;" in html and "<b>الخبير" not in html
    assert "الأولى" not in html and "الثالثة" not in html  # other paragraphs stay out
    assert 'class="sanad-source sanad-cited active" id="sanad-source-1"' in html


def cards(html: str) -> list[str]:
    """Each source card's HTML, in the panel's order."""
    return re.findall(r'<article class="sanad-source[^"]*".*?</article>', html)


def test_cited_sources_come_first_numbered_as_cited_and_the_rest_plain() -> None:
    first = source("الفقرة الأولى.", "الأولى")
    middle = source("قال <b>الخبير</b> إن الدليل هنا واضح.", "الدليل")
    last = source("الفقرة الثالثة.", "الثالثة")
    # The answer cites the second and third passages the search found, not the first.
    html = app.sources_html(DOC, TID, answer("أ [3] ب [2]", [first, middle, last]))
    shown = cards(html)
    assert ["sanad-cited" in c for c in shown] == [True, True, False]
    assert "<b>[2]</b>" in shown[0] and "<b>[3]</b>" in shown[1]
    assert "الأولى" in shown[2]
    # Only cited passages are tinted, numbered and marked; the other is under its own heading.
    assert "sanad-passage" not in shown[2] and "<mark>" not in shown[2] and "[1]" not in shown[2]
    assert all("sanad-passage" in c and "<mark>" in c for c in shown[:2])
    assert html.index('class="sanad-also">ورد أيضًا في البحث') < html.index(shown[2])
    assert "المصادر:" in html and "مقتبس" in html and "Sources" not in html


def test_labels_follow_the_question_language() -> None:
    two = [source("الفقرة الأولى.", "الأولى"), source("الفقرة الثالثة.", "الثالثة")]
    a = answer("The article says [1]", two, language="en", query="Moscow attack victims")
    html = app.sources_html(DOC, TID, a)
    assert "Sources:" in html and "Also retrieved" in html and "quoted" in html
    assert "Searched for:" in html
    assert "المصادر" not in html and "ورد أيضًا" not in html
    arabic = app.sources_html(DOC, TID, answer("x [1]", two, query="ضحايا الهجوم"))
    assert "بحثنا عن:" in arabic and "Searched for" not in arabic


def test_a_refusal_shows_the_closest_passages_plain() -> None:
    two = [source("الفقرة الأولى.", "الأولى"), source("الفقرة الثالثة.", "الثالثة")]
    html = app.sources_html(DOC, TID, answer("لا يجيب المقال [1].", two, abstained=True))
    assert "أقرب المقاطع:" in html and "المصادر" not in html
    assert len(cards(html)) == 2
    assert "sanad-cited" not in html and "sanad-passage" not in html and "<mark>" not in html
    assert "sanad-also" not in html


def test_a_long_question_is_collapsed_in_its_bubble_and_the_sources_heading() -> None:
    long = "<i>سؤال</i> " + "كلمة " * 900
    bubble = app.user_html(TID, long)
    assert "<details>" in bubble and "عرض النص كاملاً" in bubble
    assert "<i>" not in bubble and "&lt;i&gt;" in bubble
    clip = re.search(r'<span class="sanad-clip">(.*?)</span>', bubble)
    assert clip and len(clip.group(1)) <= app.BUBBLE_CHARS + 20
    s = source("الفقرة الأولى.", "الأولى")
    panel = app.sources_html(
        DOC, TID, Answer(long, "x [1]", language="ar", abstained=False, sources=[s])
    )
    heading = re.search(r'<div class="sanad-for".*?</details>', panel)
    assert heading and "<details>" in heading.group(0)
    assert "show" not in app.user_html(TID, "سؤال قصير؟").lower()
    assert "<details>" not in app.user_html(TID, "سؤال قصير؟")


def test_long_paragraph_context_is_cut_with_ellipses() -> None:
    doc = "ا" * 2000 + " الدليل " + "ب" * 2000
    s = source(" الدليل ", "الدليل", doc)
    html = app.sources_html(doc, TID, answer("x [1]", [s]))
    assert html.count("…") == 2
    assert len(html) < 2 * app.CONTEXT_CHARS + 1000


def test_article_marks_only_cited_passages_and_focuses_the_clicked_one() -> None:
    first, last = source("الفقرة الأولى.", "الأولى"), source("الفقرة الثالثة.", "الثالثة")
    html = app.article_html(DOC, answer("x [2]", [first, last]))
    assert html.count("sanad-num") == 1 and '<sup class="sanad-num">2</sup>' in html
    assert "<mark>الأولى</mark>" not in html
    assert '<span class="sanad-passage sanad-focus"><mark>الثالثة</mark></span>' in html
    both = app.article_html(DOC, answer("x [1] [2]", [first, last]), active=2)
    paragraphs = both.split("</p>")
    assert "الأولى" in paragraphs[0] and "sanad-focus" not in paragraphs[0]
    assert "الثالثة" in paragraphs[-2] and "sanad-focus" in paragraphs[-2]
    assert "sanad-passage" not in app.article_html(DOC, answer("لا", [first], abstained=True))


def test_article_numbers_passages_and_marks_evidence() -> None:
    s = source("الفقرة الثالثة.", "الثالثة")
    html = app.article_html(DOC, answer("x [1]", [s]))
    assert 'dir="rtl"' in html
    assert '<sup class="sanad-num">1</sup>' in html
    assert "<mark>الثالثة</mark>" in html
    assert "&lt;b&gt;" in html
    assert html.count("<p>") == 3  # the blank line is not a paragraph


def test_large_article_shows_only_cited_paragraphs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "ARTICLE_MAX_CHARS", 10)
    html = app.article_html(DOC, answer("x [1]", [source("الفقرة الثالثة.", "الثالثة")]))
    assert "الثالثة" in html and "الخبير" not in html
    assert 'class="sanad-gap"' in html


def test_history_is_the_plain_text_of_answered_turns() -> None:
    first, failed = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    reply = answer("بحسب المقال: «الفقرة الأولى.» [1]", [source("الفقرة الأولى.", "الأولى")])
    turns = {first: app._Turn("<b>سؤال</b>", reply), failed: app._Turn("boom")}
    chat = [
        # As Gradio hands the chat back: content as a list of typed parts.
        {"role": "user", "content": [{"type": "text", "text": app.user_html(first, "x")}]},
        {"role": "assistant", "content": [{"type": "text", "text": app.answer_html(first, reply)}]},
        {"role": "user", "content": app.user_html(failed, "boom")},
        {"role": "assistant", "content": app.error_html(failed, "failed")},
    ]
    assert app.history_of(chat, turns) == [
        {"role": "user", "content": "<b>سؤال</b>"},
        {"role": "assistant", "content": reply.answer},
    ]
