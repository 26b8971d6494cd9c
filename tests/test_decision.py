"""The answer decision: fitted weights, the kinds of answer, conversations, and quality guards
on whole question sets through the real pipeline (real model, real FAISS indexes).

The thresholds sit a little below the figures last measured (README, "Quality, measured"), so a
regression fails the suite; an improvement raises them in the same commit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant
from qa.calibrate import main as calibrate
from qa.decision import FEATURES, JUDGE_FEATURES, DecisionModel, load_model, quoted
from qa.english import months_in, numbers_in
from qa.evaluation import Row, load_questions, run
from qa.kinds import AnswerType, answer_type, satisfies

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "xquad-sample"


# --- the fitted weights -------------------------------------------------------------------


def test_the_shipped_weights_say_what_they_were_fitted_on() -> None:
    model = load_model()
    assert model is not None and set(model.languages) == {"ar", "en"}
    meta = model.meta
    assert meta["fitted_by"].startswith("python -m qa.calibrate")
    assert set(meta["data_sha256"]) >= {"xquad-dev", "arcd-train"}
    for lang in ("ar", "en"):
        held = meta["report"][lang]["held_out_half"]
        assert held["false_abstain"] <= 0.08  # measured on articles the weights never saw
        assert 0 < model.languages[lang].threshold < 1


def test_weights_for_other_signals_are_refused() -> None:
    d = load_model().to_dict()
    d["features"] = [*FEATURES, "something_new"]
    with pytest.raises(ValueError, match="other signals"):
        DecisionModel.from_dict(d)
    assert tuple(load_model().to_dict()["judge_features"]) == JUDGE_FEATURES
    d = load_model().to_dict()
    del d["languages"]["ar"]["pair_margin"]  # weights fitted before pairs were quoted
    with pytest.raises(ValueError, match="other signals"):
        DecisionModel.from_dict(d)


def test_the_sentence_beside_the_best_is_quoted_when_the_ranker_cannot_tell_them_apart() -> None:
    sentences, logits = np.array([4, 5, 9, 3]), np.array([2.0, 1.5, 1.9, 1.0])
    same_passage = np.array([1, 1, 2, 1])
    assert quoted(sentences, same_passage, logits, 0.0) == [0]
    assert quoted(sentences, same_passage, logits, 0.6) == [0, 1]  # sentence 5 follows 4
    # Sentence 9 scores closer but is not beside it; of the two beside it, the better one.
    assert quoted(sentences, same_passage, logits, 1.5) == [0, 1]
    # Never across passages (the quote is cited to one), and always in the text's order.
    other_passage = np.array([1, 2, 2, 1])
    assert quoted(sentences, other_passage, logits, 0.6) == [0]
    assert quoted(sentences, other_passage, logits, 1.5) == [3, 0]


def test_calibration_refits_with_one_command(tmp_path: Path, index_dir: Path) -> None:
    """The fitting script, end to end on the sample set: it runs the real pipeline, writes
    weights that load, and the threshold it chose refuses at most the share it was asked to of
    the answerable questions it was fitted on."""
    # The sample's articles are odd-numbered; renumbered even, they become the fitted half.
    work = tmp_path / "set"
    (work / "articles").mkdir(parents=True)
    rows = []
    for r in load_questions(SAMPLE / "questions.jsonl"):
        name = Path(r["document"]).name.replace("005", "100").replace("013", "102")
        (work / "articles" / name).write_bytes(Path(r["document"]).read_bytes())
        rows.append({**r, "document": f"articles/{name}"})
    (work / "questions.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
    )
    out = tmp_path / "decision.json"
    args = [str(work), "--index-dir", str(index_dir), "--out", str(out)]
    assert calibrate([*args, "--max-false-abstain", "0.1"]) == 0
    model = DecisionModel.from_dict(json.loads(out.read_text("utf-8")))
    for lang in ("ar", "en"):
        report = model.meta["report"][lang]
        assert report["fitted_half"]["false_abstain"] <= 0.1 + 1e-9
        assert report["pair_margin"] == model.languages[lang].pair_margin >= 0


# --- kinds of answer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people were killed?", AnswerType.NUMBER),
        ("كم عدد سكان المدينة؟", AnswerType.NUMBER),
        ("When was it founded?", AnswerType.DATE),
        ("متى تأسست مدينة روما؟", AnswerType.DATE),
        ("What is the name of the river?", AnswerType.NAME),
        ("ما اسم النهر؟", AnswerType.NAME),
        ("Why did they leave?", AnswerType.ANY),
        ("لماذا غادروا؟", AnswerType.ANY),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question: str, kind: AnswerType) -> None:
    assert answer_type(question) is kind


def test_a_number_or_date_the_question_already_says_is_no_answer() -> None:
    q = "متى فاز الفريق بالبطولة قبل عام 2000؟"
    assert not satisfies(AnswerType.DATE, "وفاز الفريق بالبطولة في 2000.", q)
    assert satisfies(AnswerType.DATE, "وفاز الفريق بالبطولة في 1946.", q)
    assert satisfies(AnswerType.DATE, "وبلغت ذروتها في القرن الثالث عشر.", "متى بلغت ذروتها؟")
    assert satisfies(AnswerType.NUMBER, "وفازوا بالكأس مرتين.", "كم مرة فازوا بالكأس؟")
    assert not satisfies(AnswerType.NUMBER, "وفازوا بالكأس.", "كم مرة فازوا بالكأس؟")


# --- conversations on the packaged article ------------------------------------------------


def test_a_new_subject_after_a_question_is_not_glued_to_it(assistant: Assistant) -> None:
    history = ["Who carried out the Moscow attack?"]
    a = assistant.ask("What did France do after the attack?", history)
    assert a.query == a.question
    assert not a.abstained and "فرنسا" in a.answer


@pytest.mark.xfail(
    strict=True,
    reason="the sentence naming France beside 'attacks' outranks the one saying what France did "
    "('within 48 hours France stepped up surveillance'): a ranking gap, not a follow-up one",
)
def test_what_france_did_is_the_sentence_quoted(assistant: Assistant) -> None:
    a = assistant.ask(
        "What did France do after the attack?", ["Who carried out the Moscow attack?"]
    )
    assert "48" in a.answer


def test_an_off_topic_question_after_an_on_topic_one_is_refused(assistant: Assistant) -> None:
    a = assistant.ask("What is the recipe for hummus?", ["Who carried out the Moscow attack?"])
    assert a.abstained and a.query == a.question


def test_a_pronoun_follow_up_is_searched_with_the_conversation(assistant: Assistant) -> None:
    alone = assistant.ask("When was it founded?")
    a = assistant.ask("When was it founded?", ["Who carried out the Moscow attack?"])
    assert alone.query == alone.question
    assert a.query == "Who carried out the Moscow attack? When was it founded?"


@pytest.mark.xfail(
    strict=True,
    reason="the dictionary's 'founded' (مؤسس) and the article's تأسس reduce to different rough "
    "roots, so the sentence with the year shares no word with the question",
)
def test_when_it_was_founded_is_answered_from_the_conversation(assistant: Assistant) -> None:
    a = assistant.ask("When was it founded?", ["Who carried out the Moscow attack?"])
    assert not a.abstained and "2015" in a.answer


# --- quality on whole sets ----------------------------------------------------------------


def _share(rows: list[Row], ok) -> float:
    return sum(bool(ok(r)) for r in rows) / len(rows)


@pytest.fixture(scope="module")
def sample_rows(assistant: Assistant) -> list[Row]:
    return run(assistant, load_questions(SAMPLE / "questions.jsonl"))


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_xquad_sample_quality(sample_rows: list[Row], lang: str) -> None:
    rows = [r for r in sample_rows if r.lang == lang]
    answerable = [r for r in rows if r.answerable]
    other = [r for r in rows if r.kind == "other-article"]
    removed = [r for r in rows if r.kind == "paragraph-removed"]
    assert _share(answerable, lambda r: r.abstained) <= FLOOR[lang]["false_abstain"]
    assert _share(answerable, lambda r: r.keywords) >= FLOOR[lang]["holds_gold"]
    assert _share(answerable, lambda r: r.rank == 1) >= FLOOR[lang]["hit1"]
    assert _share(other, lambda r: r.abstained) >= FLOOR[lang]["other_abstained"]
    assert _share(removed, lambda r: r.abstained) >= FLOOR[lang]["removed_abstained"]


@pytest.fixture(scope="module")
def packaged_rows(assistant: Assistant) -> list[Row]:
    items = []
    for name in ("dev.jsonl", "heldout.jsonl", "heldout2.jsonl", "heldout3.jsonl"):
        items += load_questions(DATA / name)
    return run(assistant, items)


def test_packaged_article_quality(packaged_rows: list[Row]) -> None:
    answerable = [r for r in packaged_rows if r.answerable]
    unanswerable = [r for r in packaged_rows if not r.answerable]
    assert _share(answerable, lambda r: r.rank is not None and r.rank <= 3) >= PACKAGED["hit3"]
    assert _share(unanswerable, lambda r: r.abstained) >= PACKAGED["refused"]
    assert sum(r.abstained for r in answerable) <= PACKAGED["false_refusals"]
    for r in answerable:
        if not r.abstained:
            quote = re.search(r"«(.+?)»", r.answer, flags=re.S)
            assert quote, r.answer


# Last measured (README, "Quality, measured"): xquad-sample ar 3/45 refused, 37/45 hold the gold,
# 44/45 hit@1, 10/10 and 15/15 unanswerable refused; en 3/45, 37/45, 40/45, 9/10, 14/15. The
# packaged files: hit@3 98/98, 1 of 16 unanswerable refused, 1 false refusal.
FLOOR = {
    "ar": {
        "false_abstain": 0.12,
        "holds_gold": 0.75,
        "hit1": 0.9,
        "other_abstained": 0.8,
        "removed_abstained": 0.8,
    },
    "en": {
        "false_abstain": 0.12,
        "holds_gold": 0.75,
        "hit1": 0.8,
        "other_abstained": 0.8,
        "removed_abstained": 0.8,
    },
}
PACKAGED = {"hit3": 0.97, "refused": 1 / 16, "false_refusals": 2}


def test_every_english_lead_on_the_sample_comes_from_its_quote(
    assistant: Assistant, sample_rows: list[Row]
) -> None:
    """On the sample's English questions, every English phrase of an answer is read from the
    quoted span: its numbers are the span's, its months and years the span's, its places are
    the gazetteer's names for the span's words, its names are the span's Latin script or sound
    like the span's Arabic words."""
    leads, led = assistant.extractive.leads, 0
    for r in sample_rows:
        if r.lang != "en" or r.abstained:
            continue
        m = re.fullmatch(r"(.*) \[(\d+)\]\. In Arabic: «(.+)»", r.answer, re.S)
        if m is None:
            assert re.fullmatch(r"In Arabic \[\d+\]: «.+»", r.answer, re.S)
            continue
        text, quote = m.group(1), m.group(3)
        lead = leads.lead(r.question, quote)
        assert lead is not None and lead.text == text and lead.source in quote, r.answer
        led += 1
        src = lead.source
        digits = [float(d.replace(",", "")) for d in re.findall(r"\d+(?:[.,]\d+)*", text)]
        if lead.kind == "number":
            dual = leads.holds_dual(src, leads.counted_duals(r.question))
            assert lead.value in numbers_in(src) or dual, (text, src)
            assert (
                not digits
                or lead.value in digits
                or any(lead.value / d in (1e3, 1e6, 1e9) for d in digits)
            ), (text, src)
        elif lead.kind == "date":
            assert all(d in numbers_in(src) for d in digits), (text, src)
            named = [i + 1 for i, name in enumerate(MONTHS) if name in text]
            assert all(n in months_in(src) for n in named), (text, src)
        elif lead.kind == "place":
            for name in re.split(r", | and ", text):
                assert name in leads.places(src), (name, src)
        else:
            assert lead.kind == "latin" and text == src, (lead.kind, text, src)
    assert led >= 8, "too few English answers led with what was asked"  # measured: 9 of 45


MONTHS = (
    "January February March April May June July August September October November December"
).split()
