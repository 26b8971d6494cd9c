"""The English-Arabic dictionary: reading dictd files, translating questions, and what it does
for retrieval (the real Debian dictionary, the real model and index)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from index import tokenize
from qa import Assistant, Settings
from qa.lexicon import DEBIAN_LEXICON, LexiconError, load_lexicon, read_dictd

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(n: int) -> str:
    out = ""
    while True:
        out = _B64[n % 64] + out
        n //= 64
        if n == 0:
            return out


def write_dictd(prefix: Path, entries: dict[str, str], *, compress: bool = True) -> None:
    """A dictd dictionary as dictfmt writes it: entry texts back to back, an offset index."""
    data, lines = b"", ["00databaseshort\tA\tB"]
    for head, senses in entries.items():
        body = f"{head} /x/\n{senses}\n".encode()
        lines.append(f"{head}\t{_b64(len(data))}\t{_b64(len(body))}")
        data += body
    prefix.with_name(prefix.name + ".index").write_text("\n".join(lines) + "\n", "utf-8")
    if compress:
        prefix.with_name(prefix.name + ".dict.dz").write_bytes(gzip.compress(data))
    else:
        prefix.with_name(prefix.name + ".dict").write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_dictd_entries_and_inflections(tmp_path: Path, compress: bool) -> None:
    write_dictd(
        tmp_path / "d",
        {"Office": "المكتب", "Affiliate": "الفرع، التابع", "Study": "دراسة"},
        compress=compress,
    )
    lex = read_dictd(tmp_path / "d")
    assert lex.senses("office") == ["المكتب"]
    assert lex.senses("affiliates") == ["الفرع", "التابع"]  # plural falls back to the headword
    assert lex.senses("studies") == ["دراسة"]
    assert lex.senses("nothing") == []
    # Question words carry no topic and are not looked up.
    assert lex.translate("What do the affiliates get from the office?") == [
        "الفرع",
        "التابع",
        "المكتب",
    ]


def test_damaged_dictionaries_are_one_line_errors(tmp_path: Path) -> None:
    write_dictd(tmp_path / "d", {"Office": "المكتب"})
    index = tmp_path / "d.index"
    index.write_text(index.read_text("utf-8") + "broken line\n", "utf-8")
    with pytest.raises(LexiconError, match="not a dictd index"):
        read_dictd(tmp_path / "d")

    write_dictd(tmp_path / "e", {"Office": "المكتب"})
    (tmp_path / "e.dict.dz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(LexiconError, match="cannot read the dictionary") as e:
        read_dictd(tmp_path / "e")
    assert "\n" not in str(e.value)

    write_dictd(tmp_path / "f", {"Office": "المكتب"})
    (tmp_path / "f.dict.dz").write_bytes(gzip.compress(b"short"))
    with pytest.raises(LexiconError, match="offsets beyond its end"):
        read_dictd(tmp_path / "f")


def test_settings_choose_the_dictionary(tmp_path: Path) -> None:
    assert load_lexicon(Settings.from_env(env={}, lexicon="none")) is None
    with pytest.raises(LexiconError, match="cannot read"):
        load_lexicon(Settings.from_env(env={"SANAD_LEXICON": str(tmp_path / "missing")}))
    auto = load_lexicon(Settings.from_env(env={}))
    assert auto is not None and auto.path == DEBIAN_LEXICON


def test_the_debian_dictionary_translates_question_words() -> None:
    lex = read_dictd(DEBIAN_LEXICON)
    assert lex.senses("wounded") == ["مصاب"]
    assert "الهجمات" in lex.translate("Which attacks?")


def test_the_dictionary_lifts_an_english_question_to_its_passage(assistant: Assistant) -> None:
    # The dictionary gives the question Arabic words of its answering paragraph ("الفرع …
    # المكاتب الإقليمية"), and with them retrieval ranks that paragraph first.
    question = "what do affiliates get from the regional offices"
    evidence = "يتلقون التدريب والتمويل والدعم اللوجستي"
    text = assistant.document.text
    lexicon = assistant.retrieval.lexicon
    assert lexicon is not None

    top = assistant.retrieval.search(question, 4)[0]
    paragraph = assistant.index.chunks[top.chunk_id].text(text)
    assert evidence in paragraph
    words = set(tokenize(paragraph))
    assert len(words & set(tokenize(" ".join(lexicon.translate(question))))) >= 2
    # Which sentence of it answers is the decision's call, guarded over whole sets in
    # test_decision.py; the dictionary's part is that the article is found to answer.
    assert not assistant.ask(question).abstained


def test_phrasal_verbs_are_looked_up_as_one_word(tmp_path: Path) -> None:
    write_dictd(
        tmp_path / "d",
        {"Carried": "محمول", "Out": "خارج", "Execute": "نفّذ", "Attack": "الهجوم"},
    )
    lex = read_dictd(tmp_path / "d")
    assert lex.translate("Who carried out the attack?") == ["نفّذ", "الهجوم"]
    assert lex.translate("The bags were carried outside") == ["محمول"]
