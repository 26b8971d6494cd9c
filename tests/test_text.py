"""Arabic normalisation, language detection, sentence splitting and chunking on real text."""

from __future__ import annotations

from index import (
    Settings,
    arabic_skeletons,
    chunk_document,
    detect_language,
    latin_skeletons,
    latin_tokens,
    load_document,
    loose_root,
    normalize,
    split_sentences,
    tokenize,
)


def test_normalize_folds_arabic_spelling_variants() -> None:
    assert normalize("إفريقيا") == normalize("أفريقيا") == normalize("افريقيا")
    assert normalize("مستشفى") == normalize("مستشفي")
    assert normalize("الدولة") == normalize("الدوله")
    assert normalize("مُـهـزومًا") == normalize("مهزوما")  # diacritics and tatweel
    assert normalize("١٤٠ ۱۴۰") == "140 140"  # Arabic-Indic and Persian digits
    assert normalize("\u200fموسكو\u202b") == "موسكو"  # bidi marks
    assert normalize("Long War") == "long war"


def test_tokenize_stems_light_and_drops_function_words() -> None:
    assert tokenize("والمسؤولون في إفريقيا") == tokenize("المسؤولين أفريقيا")
    assert "في" not in tokenize("في العراق")


def test_latin_tokens_are_the_names_an_english_question_shares() -> None:
    assert latin_tokens("محرر مجلة Long War Journal، وISWAP") == ["long", "war", "journal", "iswap"]


def test_detect_language() -> None:
    assert detect_language("كم عدد القتلى في هجوم موسكو؟") == "ar"
    assert detect_language("How many people were killed?") == "en"
    assert detect_language("Who is كاليب فايس?") == "en"
    assert detect_language("ما هي Long War Journal؟") == "ar"


def test_sentences_end_on_arabic_marks_but_not_the_arabic_comma_or_semicolon() -> None:
    text = "قال فايس، محرر المجلة، إن هذا صحيح. هل هذا مؤكد؟ نعم؛ لأنه قال ذلك"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "قال فايس، محرر المجلة، إن هذا صحيح.",
        "هل هذا مؤكد؟",
        "نعم؛ لأنه قال ذلك",
    ]


def test_a_mark_inside_brackets_ends_no_sentence_unless_they_never_close() -> None:
    def sentences(text: str) -> list[str]:
        return [text[s:e] for s, e in split_sentences(text)]

    assert sentences("ولد (في 1900؟ أو 1901) في القاهرة. ثم سافر.") == [
        "ولد (في 1900؟ أو 1901) في القاهرة.",
        "ثم سافر.",
    ]
    assert sentences("(جملة بين قوسين.) ثم أخرى.") == ["(جملة بين قوسين.)", "ثم أخرى."]
    # A bracket that is never closed does not swallow the rest of the paragraph, and one left
    # open later on does not keep an earlier, closed one from ending its sentence.
    assert sentences("قوس لا يغلق ( هنا. ثم جملة. وأخرى.") == [
        "قوس لا يغلق ( هنا.",
        "ثم جملة.",
        "وأخرى.",
    ]
    assert sentences("(أ. ب) ج. د ( هـ.") == ["(أ. ب) ج.", "د ( هـ."]


def test_decimal_points_do_not_end_sentences() -> None:
    text = "بلغ النمو 2.5 في المئة. ثم توقف."
    assert len(split_sentences(text)) == 2


def test_chunks_keep_spans_and_drop_the_repeated_paragraph() -> None:
    doc = load_document(Settings())
    text = doc.text
    chunks = chunk_document(text, 600)
    repeated = "تشير الأدلة الواردة من أفريقيا جنوب الصحراء الكبرى"
    assert text.count(repeated) == 2
    assert sum(repeated in c.text(text) for c in chunks) == 1
    for c in chunks:
        assert c.text(text) == text[c.start : c.end]
        assert c.end - c.start <= 600
        assert all(c.start <= s < e <= c.end for s, e in c.sentences)
        assert "\n" not in c.text(text)
    # Every word of the article (but the repeat) is in some chunk.
    covered = "".join(c.text(text) for c in chunks)
    assert "طاجيكستان" in covered and "140" in covered


def test_long_sentences_are_cut_at_commas() -> None:
    sentence = "، ".join(f"جزء رقم {i} من جملة طويلة جدا" for i in range(40)) + "."
    chunks = chunk_document(sentence, 200)
    assert len(chunks) > 1
    assert all(c.end - c.start <= 200 for c in chunks)


def test_place_names_come_from_the_quote_only() -> None:
    from qa.english import Leads

    place_names = Leads(None).places
    quote = "والمشتبه بهم الأربعة الذين قدمتهم روسيا إلى المحكمة كانوا من طاجيكستان."
    assert place_names(quote) == ["Russia", "Tajikistan"]
    # Longest name first; proclitics (و، ب، ال) attached to a name still match.
    assert place_names("في أفريقيا وأجزاء من جنوب آسيا وبفرنسا") == [
        "Africa",
        "Southern Asia",
        "France",
    ]
    assert place_names("قال المسؤولون في العالم إن الهجوم وقع") == []


def test_roots_join_derived_forms_that_light_stems_keep_apart() -> None:
    assert tokenize("تنفيذ") != tokenize("نفذ")
    assert (
        tokenize("تنفيذ", roots=True) == tokenize("نفذ", roots=True) == tokenize("نفذت", roots=True)
    )
    assert tokenize("Long War", roots=True) == ["long", "war"]  # Latin words are left alone


def test_loose_roots_join_a_person_prefix_and_the_tanween_alef() -> None:
    def loose(word: str) -> list[str]:
        return [loose_root(t) for t in tokenize(word, roots=True)]

    assert tokenize("يحدها", roots=True) != tokenize("تحد", roots=True)
    assert loose("يحدها") == loose("تحد")  # "borders it" and "borders": the person prefix
    assert tokenize("شمالاً", roots=True) != tokenize("الشمال", roots=True)
    assert loose("شمالاً") == loose("الشمال")  # the accusative's alef
    assert loose("حد") == ["حد"]  # too short to lose a letter


def test_names_match_across_scripts_with_punctuation_and_silent_endings() -> None:
    def match(latin: str, arabic: str) -> bool:
        return bool(latin_skeletons(latin) & arabic_skeletons(arabic))

    # The article writes "فنسنت فوشيه، زميل": the comma is not part of the name.
    assert match("Moscow", "موسكو،") and match("Moscow", "(موسكو).")
    # French names end in a silent consonant that Arabic writes as "يه".
    assert match("Foucher", "فوشيه") and match("Olivier", "أوليفييه")
    assert match("Caleb", "كاليب") and not match("Foucher", "فرنسا")
