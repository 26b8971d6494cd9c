"""Conversations as the browser keeps them: packed and read back, malformed data skipped, the
stored value kept under the access policy's body cap, and exports quoting the citations."""

from __future__ import annotations

import json

from qa import Answer, Source
from ui import conversations as c
from ui.policy import MAX_BODY_BYTES

DOC = "الفقرة الأولى عن الهجوم.\nقال الخبير إن عدد القتلى 140 شخصا.\nالفقرة الثالثة."


def turn(tid: str = "0123456789ab", question: str = "كم عدد القتلى؟") -> dict:
    quote = "قال الخبير إن عدد القتلى 140 شخصا."
    start = DOC.index(quote)
    mark = DOC.index("140 شخصا")
    cited = Source(quote, 1, 0.9, start, start + len(quote), [(mark, mark + 8)])
    other = Source("الفقرة الثالثة.", 2, 0.5, DOC.index("الفقرة الثالثة"), len(DOC), [])
    answer = Answer(question, f"بحسب المقال: «{quote}» [1]", "ar", False, [cited, other])
    return c.pack(tid, question, answer)


def test_a_turn_reads_back_as_it_was_with_only_the_cited_text_stored() -> None:
    packed = turn()
    assert "text" in packed["sources"][0] and "text" not in packed["sources"][1]
    tid, question, answer = c.unpack(json.loads(json.dumps(packed)), DOC)
    assert (tid, question) == ("0123456789ab", "كم عدد القتلى؟")
    assert c.cited(answer) == [1]
    assert answer.sources[1].text == "الفقرة الثالثة."  # from the article, by its offsets
    assert answer.sources[0].highlights == [(DOC.index("140"), DOC.index("140") + 8)]


def test_malformed_turns_and_conversations_are_skipped() -> None:
    good = turn()
    bad = [
        {**good, "id": "<script>"},
        {**good, "question": 42},
        {**good, "language": "fr"},
        {**good, "sources": [{**good["sources"][0], "end": len(DOC) + 1}]},
        {**good, "sources": [{**good["sources"][0], "highlights": [[1, "x"]]}]},
        "not a turn",
    ]
    assert all(c.unpack(item, DOC) is None for item in bad)
    store = c.read(
        {
            "version": 1,
            "current": "aaaaaaaaaaaa",
            "conversations": [
                {"id": "aaaaaaaaaaaa", "title": "t", "created": "", "turns": [good]},
                {"id": "not-an-id", "turns": [good]},
                {"id": "bbbbbbbbbbbb", "turns": []},
                None,
            ],
        }
    )
    assert [x["id"] for x in store["conversations"]] == ["aaaaaaaaaaaa"]
    assert store["current"] == "aaaaaaaaaaaa"
    assert c.read({"version": 99})["conversations"] == []
    assert c.read("garbage") == c.empty()


def test_a_vote_is_kept_with_its_conversation_and_malformed_ones_are_dropped() -> None:
    good = turn()
    store = c.put(c.empty(), {"id": "aaaaaaaaaaaa", "title": "t", "created": "", "turns": [good]})
    voted = c.vote(store, good["id"], "7.abc")
    kept = c.read(json.loads(json.dumps(voted)))["conversations"][0]["votes"]
    assert kept == {good["id"]: "7.abc"}
    assert c.vote(store, "ba9876543210", "8.abc") is None  # not one of its turns
    assert c.vote(voted, good["id"], None)["conversations"][0]["votes"] == {}
    junk = {good["id"]: 7, "<script>": "7.abc", "bbbbbbbbbbbb": "x" * 101}
    stored = {**voted, "conversations": [{**voted["conversations"][0], "votes": junk}]}
    assert c.read(stored)["conversations"][0]["votes"] == {}


def test_the_stored_value_stays_under_the_body_cap() -> None:
    store = c.empty()
    for i in range(200):
        conversation = {
            "id": f"{i:012x}",
            "title": "t",
            "created": "",
            "document": None,
            "turns": [turn(f"{i:06x}{j:06x}", "سؤال طويل " * 30) for j in range(5)],
        }
        store = c.put(store, conversation)
    # As the page sends it: JSON.stringify writes no spaces and keeps Arabic as UTF-8.
    size = len(json.dumps(store, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= c.STORE_BYTES < MAX_BODY_BYTES
    assert store["current"] == f"{199:012x}"  # the newest is kept, the oldest went
    assert store["conversations"][0]["id"] == f"{199:012x}"
    assert len(store["conversations"]) < 200

    one = {
        "id": "c" * 12,
        "title": "t",
        "created": "",
        "document": None,
        "turns": [turn(f"{j:012x}", "سؤال " * 300) for j in range(100)],
    }
    kept = c.put(c.empty(), one)
    turns = kept["conversations"][0]["turns"]
    assert 0 < len(turns) < 100 and turns[-1]["id"] == f"{99:012x}"  # the oldest questions go


def test_exports_quote_the_cited_passages() -> None:
    conversation = {
        "id": "a" * 12,
        "title": "كم عدد القتلى؟",
        "created": "2026-12-01T23:00:00",
        "document": "article.txt",
        "turns": [turn()],
    }
    markdown = c.to_markdown(conversation, DOC)
    assert markdown.startswith("# كم عدد القتلى؟\n")
    assert "## كم عدد القتلى؟" in markdown and "**المصادر**" in markdown
    assert "> قال الخبير إن عدد القتلى 140 شخصا." in markdown
    assert "الفقرة الثالثة" not in markdown  # retrieved, not cited
    data = json.loads(c.to_json(conversation, DOC))
    citation = data["turns"][0]["citations"]
    assert citation == [
        {
            "n": 1,
            "text": "قال الخبير إن عدد القتلى 140 شخصا.",
            "start": DOC.index("قال"),
            "end": DOC.index("\nالفقرة الثالثة"),
            "quoted": ["140 شخصا"],
        }
    ]
    assert data["document"] == "article.txt"
