"""Conversations as the browser keeps them, and as a reader exports them.

The chat keeps every conversation in the browser's localStorage (Gradio's ``BrowserState``), as
plain JSON that this module writes and reads back::

    {"version": 1, "current": "<id>" | null,
     "conversations": [{"id", "title", "created", "document", "turns": [...],
                        "votes": {"<turn id>": "<receipt>"}}, ...]}

newest first. A page sends that value to the server once, when it loads; every request body
passes the access policy's size cap (``ui.policy.MAX_BODY_BYTES``), so ``fit`` drops the oldest
conversations (then the oldest questions) to keep it under ``STORE_BYTES``. The passages of an
answer are kept as offsets into the article, with the text of the cited ones only, which is what
an export quotes.

What comes back from a browser is a visitor's data: ``read`` keeps only well-formed turns whose
offsets fall inside the article, and everything built from it is escaped where it is shown.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from qa import Answer, Source

from .policy import MAX_BODY_BYTES

VERSION = 1
#: Largest stored value, in bytes of JSON: what the page sends on load, with room to spare
#: under the policy's body cap.
STORE_BYTES = MAX_BODY_BYTES - 8 * 1024
#: Conversations kept, newest first.
MAX_CONVERSATIONS = 50
TITLE_CHARS = 60

CITATION = re.compile(r"\[(\d+(?:\s*[,،]\s*\d+)*)\]")
_ID = re.compile(r"[0-9a-f]{12}")
_MAX_SOURCES = 20
_MAX_TEXT = 20_000


def cited(answer: Answer) -> list[int]:
    """The source numbers the answer cites with [n], in order; none for a refusal."""
    if answer.abstained:
        return []
    numbers = {
        int(n) for m in CITATION.finditer(answer.answer) for n in re.findall(r"\d+", m.group(1))
    }
    return sorted(n for n in numbers if 1 <= n <= len(answer.sources))


def empty() -> dict[str, Any]:
    return {"version": VERSION, "current": None, "conversations": []}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def title_of(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


# --- turns ---------------------------------------------------------------------------------


def pack(tid: str, question: str, answer: Answer) -> dict[str, Any]:
    """One answered question as stored: the answer without the passages' text, except the
    cited ones'."""
    quoted = set(cited(answer))
    return {
        "id": tid,
        "question": question,
        "answer": answer.answer,
        "language": answer.language,
        "abstained": answer.abstained,
        "grounded": answer.grounded,
        "reason": answer.reason,
        "backend": answer.backend,
        "query": answer.query,
        "confidence": answer.confidence,
        "sources": [
            {
                "start": s.start,
                "end": s.end,
                "chunk_id": s.chunk_id,
                "score": s.score,
                "highlights": [list(h) for h in s.highlights],
                **({"text": s.text} if n in quoted else {}),
            }
            for n, s in enumerate(answer.sources, 1)
        ],
    }


def _offsets(value: Any, size: int) -> tuple[int, int] | None:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        return None
    a, b = value
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b)):
        return None
    return (a, b) if 0 <= a <= b <= size else None


def _source(item: Any, text: str) -> Source | None:
    if not isinstance(item, dict):
        return None
    span = _offsets([item.get("start"), item.get("end")], len(text))
    highlights = item.get("highlights", [])
    if span is None or not isinstance(highlights, list):
        return None
    marks = [_offsets(h, len(text)) for h in highlights[:_MAX_SOURCES]]
    chunk_id, score = item.get("chunk_id", 0), item.get("score", 0.0)
    if None in marks or not isinstance(chunk_id, int) or not isinstance(score, int | float):
        return None
    return Source(
        text[span[0] : span[1]],
        chunk_id,
        float(score),
        span[0],
        span[1],
        [m for m in marks if m is not None],
    )


def unpack(item: Any, text: str) -> tuple[str, str, Answer] | None:
    """(turn id, question, answer) of a stored turn, its offsets into ``text``; None for
    anything malformed, which is skipped rather than refused: it is the reader's own data."""
    if not isinstance(item, dict):
        return None
    tid, question, reply = item.get("id"), item.get("question"), item.get("answer")
    sources = item.get("sources")
    if not (isinstance(tid, str) and _ID.fullmatch(tid)):
        return None
    if not (isinstance(question, str) and isinstance(reply, str) and isinstance(sources, list)):
        return None
    if len(question) > _MAX_TEXT or len(reply) > _MAX_TEXT or len(sources) > _MAX_SOURCES:
        return None
    language = item.get("language")
    if language not in ("ar", "en") or not isinstance(item.get("abstained"), bool):
        return None
    parsed = [_source(s, text) for s in sources]
    if None in parsed:
        return None

    def optional(key: str, kind: type | tuple[type, ...]) -> Any:
        value = item.get(key)
        return value if isinstance(value, kind) else None

    confidence = optional("confidence", (int, float))
    answer = Answer(
        question,
        reply,
        language=language,
        abstained=item["abstained"],
        sources=[s for s in parsed if s is not None],
        grounded=item.get("grounded") is not False,
        reason=optional("reason", str),
        backend=optional("backend", str) or "extractive",
        query=optional("query", str),
        confidence=None if confidence is None else float(confidence),
    )
    return tid, question, answer


# --- the store -----------------------------------------------------------------------------


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def read(value: Any) -> dict[str, Any]:
    """A stored value as a store: its well-formed conversations (at most ``MAX_CONVERSATIONS``)
    with their shape checked; turns are checked when a conversation is opened (``unpack``)."""
    store = empty()
    if not isinstance(value, dict) or value.get("version") != VERSION:
        return store
    items = value.get("conversations")
    for c in items[:MAX_CONVERSATIONS] if isinstance(items, list) else []:
        if not (isinstance(c, dict) and isinstance(c.get("id"), str) and _ID.fullmatch(c["id"])):
            continue
        turns = c.get("turns")
        if not isinstance(turns, list) or not turns:
            continue
        title = c.get("title") if isinstance(c.get("title"), str) else ""
        created = c.get("created") if isinstance(c.get("created"), str) else ""
        document = c.get("document") if isinstance(c.get("document"), str) else None
        store["conversations"].append(
            {
                "id": c["id"],
                "title": title[:TITLE_CHARS],
                "created": created[:40],
                "document": document,
                "turns": turns,
                "votes": _votes(c.get("votes"), len(turns)),
            }
        )
    ids = {c["id"] for c in store["conversations"]}
    store["current"] = value.get("current") if value.get("current") in ids else None
    return store


def _votes(value: Any, turns: int) -> dict[str, str]:
    """The well-formed votes of a stored conversation: turn id → the receipt the server signed
    for its vote (checked, and its verdict read, by the feedback store when it is shown)."""
    if not isinstance(value, dict):
        return {}
    return {
        tid: receipt
        for tid, receipt in list(value.items())[:turns]
        if isinstance(tid, str)
        and _ID.fullmatch(tid)
        and isinstance(receipt, str)
        and len(receipt) <= 100
    }


def vote(store: dict[str, Any], tid: str, receipt: str | None) -> dict[str, Any] | None:
    """``store`` with the receipt for the current conversation's vote on turn ``tid`` (or, with
    none, the vote taken back); None when no stored conversation holds that turn."""
    conversation = find(store, store["current"])
    if conversation is None or not any(
        isinstance(t, dict) and t.get("id") == tid for t in conversation["turns"]
    ):
        return None
    votes = {k: v for k, v in conversation.get("votes", {}).items() if k != tid}
    if receipt is not None:
        votes[tid] = receipt
    return put(store, {**conversation, "votes": votes})


def find(store: dict[str, Any], cid: str | None) -> dict[str, Any] | None:
    return next((c for c in store["conversations"] if c["id"] == cid), None)


def put(store: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    """``store`` with ``conversation`` first (replacing its earlier version) and current, cut
    down to fit ``STORE_BYTES``."""
    others = [c for c in store["conversations"] if c["id"] != conversation["id"]]
    return fit(
        {
            "version": VERSION,
            "current": conversation["id"],
            "conversations": [conversation, *others][:MAX_CONVERSATIONS],
        }
    )


def drop(store: dict[str, Any], cid: str | None) -> dict[str, Any]:
    return {
        "version": VERSION,
        "current": None,
        "conversations": [c for c in store["conversations"] if c["id"] != cid],
    }


def fit(store: dict[str, Any], budget: int = STORE_BYTES) -> dict[str, Any]:
    """The oldest conversations dropped, then the oldest questions of what is left, until the
    store's JSON is at most ``budget`` bytes."""
    conversations = list(store["conversations"])
    while len(conversations) > 1 and _size({**store, "conversations": conversations}) > budget:
        conversations.pop()
    while conversations:
        first = conversations[0]
        if _size({**store, "conversations": conversations}) <= budget or len(first["turns"]) < 2:
            break
        conversations[0] = {**first, "turns": first["turns"][1:]}
    if conversations and _size({**store, "conversations": conversations}) > budget:
        conversations = []
    current = store["current"] if any(c["id"] == store["current"] for c in conversations) else None
    return {"version": VERSION, "current": current, "conversations": conversations}


def choices(store: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, id) of each conversation, newest first, for the conversation list."""
    return [(f"{c['title'] or '…'} · {len(c['turns'])}", c["id"]) for c in store["conversations"]]


# --- export --------------------------------------------------------------------------------


def _citations(answer: Answer, text: str) -> list[dict[str, Any]]:
    return [
        {
            "n": n,
            "text": answer.sources[n - 1].text,
            "start": answer.sources[n - 1].start,
            "end": answer.sources[n - 1].end,
            "quoted": [text[a:b] for a, b in answer.sources[n - 1].highlights],
        }
        for n in cited(answer)
    ]


def to_json(conversation: dict[str, Any], text: str) -> str:
    """The conversation as JSON: each question, its answer, and the passages it cites."""
    turns = []
    for item in conversation["turns"]:
        unpacked = unpack(item, text)
        if unpacked is None:
            continue
        _, question, answer = unpacked
        turns.append(
            {
                "question": question,
                "answer": answer.answer,
                "language": answer.language,
                "abstained": answer.abstained,
                "backend": answer.backend,
                "confidence": answer.confidence,
                "citations": _citations(answer, text),
            }
        )
    out = {
        "title": conversation["title"],
        "created": conversation["created"],
        "document": conversation.get("document"),
        "turns": turns,
    }
    return json.dumps(out, ensure_ascii=False, indent=2) + "\n"


def _quote(text: str) -> str:
    return "> " + "\n> ".join(" ".join(line.split()) for line in text.strip().splitlines())


def to_markdown(conversation: dict[str, Any], text: str) -> str:
    """The conversation as Markdown: each question as a heading, its answer, and under it the
    passages it cites, quoted."""
    lines = [f"# {conversation['title'] or 'sanad'}", ""]
    about = " · ".join(x for x in (conversation.get("document"), conversation["created"]) if x)
    if about:
        lines += [f"*sanad · {about}*", ""]
    for item in conversation["turns"]:
        unpacked = unpack(item, text)
        if unpacked is None:
            continue
        _, question, answer = unpacked
        lines += [f"## {' '.join(question.split())}", "", answer.answer.strip(), ""]
        citations = _citations(answer, text)
        if citations:
            lines += ["**المصادر**" if answer.language == "ar" else "**Sources**", ""]
        for c in citations:
            lines += [f"[{c['n']}] (characters {c['start']}–{c['end']})", "", _quote(c["text"]), ""]
    return "\n".join(lines).rstrip() + "\n"
