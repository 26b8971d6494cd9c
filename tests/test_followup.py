"""Follow-ups: a question leans on the conversation only when it cannot stand alone, in Arabic
and in English; a question with its own subject is never merged with earlier ones."""

from __future__ import annotations

import pytest

from qa.followup import is_followup, standalone_query

HISTORY = [
    {"role": "user", "content": "Who carried out the attack?"},
    {"role": "assistant", "content": "..."},
]

STANDALONE = [
    # Their own subject, whatever definite nouns they use.
    "What did France do after the attack?",
    "What is the recipe for hummus?",
    "How many people live in Cairo?",
    "Who said that the group grew stronger?",
    "What did Avril Haines say about her job?",  # "her" is resolved by the name before it
    "ما هي عاصمة موزمبيق؟",
    "كم عدد القتلى في هجوم موسكو؟",
    "من هو كاليب فايس؟",
    "متى تأسست مدينة روما؟",
]

FOLLOW_UPS = [
    # A pronoun or demonstrative with nothing in the question to refer to.
    "When was it founded?",
    "What is her job?",
    "What were they believed to be planning?",
    "Where is its headquarters?",
    "What caused that?",
    "And which countries were hit as a result?",  # continues the previous turn
    "Why?",  # no subject at all
    "وما هو منصبه الآن؟",
    "وأين يقع مقره؟",
    "كم عدد سكانها؟",
    "وهل ينطبق ذلك على أفغانستان؟",
    "متى؟",
]


@pytest.mark.parametrize("question", STANDALONE)
def test_a_question_with_its_own_subject_is_searched_alone(question: str) -> None:
    assert not is_followup(question)
    assert standalone_query(question, HISTORY) == question


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_a_question_that_cannot_stand_alone_is_anchored_to_the_previous_one(question: str) -> None:
    assert is_followup(question)
    assert standalone_query(question, HISTORY) == f"Who carried out the attack? {question}"


def test_without_history_a_follow_up_is_searched_as_asked() -> None:
    assert standalone_query("When was it founded?", []) == "When was it founded?"


def test_only_user_turns_anchor() -> None:
    history = [
        {"role": "user", "content": "من هو حبيب يوسف؟"},
        {"role": "assistant", "content": "بحسب المقال: «…» [1]"},
    ]
    assert standalone_query("وما هو منصبه الآن؟", history) == "من هو حبيب يوسف؟ وما هو منصبه الآن؟"
