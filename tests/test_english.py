"""The English lead of an answer: numbers, dates, places and names read from Arabic text.

The Arabic strings here are written for these tests (generic sentences, no article's words):
digits of both sets, number words, both sets of month names, era markers, CLDR and GeoNames
places, and names the dictionary does not know.
"""

from __future__ import annotations

import pytest

from qa.english import Asked, Leads, asked, numbers_in, romanize, sounds_like
from qa.lexicon import DEBIAN_LEXICON, read_dictd


@pytest.fixture(scope="module")
def leads() -> Leads:
    return Leads(read_dictd(DEBIAN_LEXICON))


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people live there?", Asked.NUMBER),
        ("How long did the war last?", Asked.NUMBER),
        ("What percentage of voters agreed?", Asked.NUMBER),
        ("When did the bridge open?", Asked.DATE),
        ("In what year was the school founded?", Asked.DATE),
        ("Where was the treaty signed?", Asked.PLACE),
        ("Which country hosted the games?", Asked.PLACE),
        ("Who wrote the report?", Asked.NAME),
        ("Which company built the dam?", Asked.NAME),
        ("Why did the talks fail?", None),
        ("What did the minister say?", None),
    ],
)
def test_what_an_english_question_asks_for(question: str, kind: Asked | None) -> None:
    assert asked(question) is kind


def _lead(leads: Leads, question: str, quote: str) -> tuple[str, str] | None:
    found = leads.lead(question, quote)
    if found is None:
        return None
    assert found.source in quote  # the span it was read from is the quote's own text
    return found.text, found.source


@pytest.mark.parametrize(
    ("quote", "english"),
    [
        ("وسجل الفريق 308 نقاط في الموسم.", "308 points"),
        ("وسجل الفريق ٣٠٨ نقاط في الموسم.", "308 points"),  # Arabic-Indic digits
        ("وبلغ عدد السكان ٢٥٠٠٠ نسمة.", "25,000"),
        ("وقتل 1.5 مليون شخص.", "1.5 million people"),
        ("استمرت الحرب ثلاث سنوات.", "three years"),
        ("وصل ثلاثة آلاف زائر.", "3,000"),
        ("وفاز الفريق مرتين.", "twice"),
        ("بقي في المدينة سنتين.", "two years"),
        ("شارك فيه خمسة وعشرون لاعبا.", "25"),
        ("بيعت حوالي مائتين نسخة.", "about 200"),
        ("وقع أكثر من 5,100 شخص على العريضة.", "more than 5,100 people"),
        ("يستغرق الأمر من خمس إلى عشر سنوات.", "five to ten years"),
        ("وارتفعت الأسعار بنسبة 12%.", "12%"),
        ("وارتفعت الأسعار 7 بالمائة.", "7%"),
    ],
)
def test_numbers_are_read_from_digits_and_words(leads: Leads, quote: str, english: str) -> None:
    assert _lead(leads, "How many were there?", quote)[0] == english


def test_the_number_the_question_already_says_is_not_the_answer(leads: Leads) -> None:
    quote = "من بين 40 مرشحا فاز 12 مرشحا."
    assert _lead(leads, "How many of the 40 candidates won?", quote)[0] == "12"


def test_a_year_is_not_a_count(leads: Leads) -> None:
    assert _lead(leads, "How many died?", "في عام 1990 مات 300 شخص.")[0] == "300 people"


def test_a_count_is_not_a_year(leads: Leads) -> None:
    # A bare three- or four-digit number may answer "when" ("افتتح في 1817"), but not one
    # followed by what it counts.
    assert _lead(leads, "When was it?", "أسفر الهجوم عن مقتل 140 شخصا.") is None
    assert _lead(leads, "When was it?", "افتتحت البورصة في 1817 للمرة الأولى.")[0] == "In 1817"


def test_the_counted_noun_is_read_in_the_accusative_and_squared(leads: Leads) -> None:
    assert _lead(leads, "How many died?", "أسفر الهجوم عن مقتل 140 شخصا.")[0] == "140 people"
    assert _lead(leads, "How long did it last?", "استمرت الحرب 40 عاما.")[0] == "40 years"
    quote = "أزيل منها 22.392 كيلومتراً مربّعاً سنويا."
    assert _lead(leads, "How many square kilometres were cleared?", quote)[0] == "22.392 square km"


@pytest.mark.parametrize(
    ("quote", "english"),
    [
        ("افتتح الجسر عام 2015.", "In 2015"),
        ("افتتح الجسر في ٧ فبراير ٢٠١٦.", "On 7 February 2016"),
        ("افتتح الجسر في 7 شباط 2016.", "On 7 February 2016"),
        ("وقعت المعاهدة في كانون الثاني 1950.", "In January 1950"),
        ("وقعت المعاهدة في تشرين الأول 1973.", "In October 1973"),
        ("تأسست اللجنة في تموز/يوليو 1961.", "In July 1961"),
        ("أعلن عن ذلك في ماي 2013.", "In May 2013"),
        ("بني المسجد سنة 1435 هـ.", "In 1435 AH"),
        ("ازدادت الهجمات بين سنتي 2005 و2010.", "Between 2005 and 2010"),
        ("انتشر المرض منذ 1348.", "Since 1348"),
        ("ازدهرت المدينة في القرن التاسع عشر.", "In the nineteenth century"),
        ("ستطلق الخدمة في شهر مارس.", "In March"),
    ],
)
def test_dates_are_read_with_both_sets_of_month_names(
    leads: Leads, quote: str, english: str
) -> None:
    assert _lead(leads, "When did it happen?", quote)[0] == english


def test_a_month_name_that_is_also_a_verb_is_not_a_date(leads: Leads) -> None:
    # مارس is March and also "practised": without a day, a year or "month", it is the verb.
    assert _lead(leads, "When did it happen?", "مارس الطب طويلا.") is None


def test_the_question_s_own_year_is_not_the_answer(leads: Leads) -> None:
    quote = "بعد هزيمة 2000 فاز الفريق عام 2004."
    assert _lead(leads, "When did they win after 2000?", quote)[0] == "In 2004"


@pytest.mark.parametrize(
    ("question", "quote", "english"),
    [
        ("Where were they from?", "كانوا من طاجيكستان.", "Tajikistan"),
        ("Where did it spread?", "انتشر في الصين واليابان والهند.", "China, Japan and India"),
        ("What continent is it near?", "تقع قبالة سواحل إفريقيا.", "Africa"),
        ("Where was he born?", "ولد في مدينة ميلانو الإيطالية.", "Milan"),
        ("Where did he teach?", "درّس في جامعة باريس.", "Paris"),
    ],
)
def test_places_come_from_cldr_and_geonames(
    leads: Leads, question: str, quote: str, english: str
) -> None:
    assert _lead(leads, question, quote)[0] == english


def test_a_place_the_question_names_is_not_the_answer(leads: Leads) -> None:
    quote = "غادر فرنسا إلى بلجيكا."
    assert _lead(leads, "Where did he go from France?", quote)[0] == "Belgium"


def test_names_in_latin_script_are_given_as_written(leads: Leads) -> None:
    quote = "وقال محرر مجلة Long War Journal إن الخطر كبير."
    assert _lead(leads, "Who said the danger was great?", quote)[0] == "Long War Journal"


@pytest.mark.parametrize(
    ("arabic", "latin"),
    [
        ("حبيب", "Habib"),
        ("يوسف", "Yusf"),  # short vowels are not guessed beyond the first
        ("كورت", "Kurt"),
        ("مارلي", "Marli"),
        ("شريف", "Sharif"),
        ("وليد", "Walid"),
    ],
)
def test_romanisation_of_arabic_letters(arabic: str, latin: str) -> None:
    assert romanize(arabic) == latin


def test_an_arabic_script_name_is_not_romanised_into_a_lead(leads: Leads) -> None:
    # A romanised name ("Lidi Ghagha") is no answer an English reader can use, and on
    # xquad-dev most named the wrong person: the quote alone, said to be in Arabic.
    assert leads.lead("Who leads the group?", "ويقود الجماعة مارلي ماتلين منذ سنوات.") is None


def test_a_latin_script_name_in_the_quote_leads(leads: Leads) -> None:
    text, source = _lead(leads, "Who published the report?", "ونشرت مجلة Long War Journal التقرير.")
    assert text == source == "Long War Journal"


def test_who_is_answered_by_a_country_only_for_a_country_s_role(leads: Leads) -> None:
    assert leads.lead("Who claimed the attack?", "أعلنت روسيا أن الهجوم وقع في أوروبا.") is None
    assert leads.lead("What artist made the woodcuts?", "صنعها فنان من ألمانيا.") is None
    text, _ = _lead(leads, "Who was the largest producer?", "وكانت الصين أكبر منتج.")
    assert text == "China"
    assert leads.lead("Who was the largest producer?", "وكانت أوروبا أكبر منتج.") is None


def test_a_person_is_not_an_acronym_and_a_name_is_not_a_phrase(leads: Leads) -> None:
    quote = "غنت النشيد ليدي غاغا، وترجمته مارلي ماتلين إلى لغة الإشارة الأمريكية (ASL)."
    assert leads.lead("What actor signed the anthem?", quote) is None
    # An organisation may be one: "Who claimed it?" is answered by a group's acronym.
    text, _ = _lead(leads, "Who claimed the attack?", "وأعلن تنظيم ISWAP مسؤوليته عن الهجوم.")
    assert text == "ISWAP"
    title = "ومنح لقب dux et magister Italiae comesque Normannorum للقائد."
    assert leads.lead("What was the name of the leader?", title) is None


def test_a_count_is_not_answered_by_the_share_beside_it(leads: Leads) -> None:
    quote = "توجد 158349 عائلة منها 68511 (43.8%) لديها أطفال."
    assert _lead(leads, "How many households have children?", quote)[0] == "68,511"
    assert _lead(leads, "What percentage of households have children?", quote)[0] == "43.8%"


def test_the_number_among_the_question_s_words_is_chosen(leads: Leads) -> None:
    quote = (
        "يمتص الأمازون في السنة العادية 1.5 مليار طن من ثاني أكسيد الكربون، غير أنه انبعثت "
        "5 مليارات طن سنة 2005."
    )
    question = "How many tons of carbon does the Amazon absorb in a typical year?"
    assert _lead(leads, question, quote)[0] == "1.5 billion tonnes"


def test_arabic_names_sound_like_their_english_spellings() -> None:
    # The grounding check matches an LLM's Latin spelling of a name against the passage.
    pairs = (("حبيب", "Habib"), ("ماتلين", "Matlin"), ("نيوتن", "Newton"), ("إديسون", "Edison"))
    for arabic, latin in pairs:
        assert sounds_like(arabic, latin), (arabic, latin)


def test_without_a_dictionary_no_name_is_guessed() -> None:
    assert Leads(None).lead("Who leads the group?", "ويقود الجماعة حبيب يوسف منذ سنوات.") is None


@pytest.mark.parametrize(
    ("question", "quote"),
    [
        ("Why did the talks fail?", "فشلت المحادثات بسبب الخلاف على الحدود."),
        ("How many died?", "مات كثيرون في الحرب."),
        ("When did it happen?", "حدث ذلك بعد الحرب."),
        ("Where did they go?", "ذهبوا إلى مكان بعيد."),
    ],
)
def test_nothing_is_said_that_the_quote_does_not_hold(
    leads: Leads, question: str, quote: str
) -> None:
    assert leads.lead(question, quote) is None


def test_an_unknown_word_with_the_article_is_not_taken_for_a_city(leads: Leads) -> None:
    # المنشأة ("established") is also GeoNames' Arabic name of Al Minshāh.
    assert leads.places("لم تكن بحاجة إلى الفروع المنشأة حديثًا") == []
    assert leads.places("وصل الوفد إلى القاهرة") == ["Cairo"]


@pytest.mark.parametrize(
    ("quote", "english", "day"),
    [
        ("في الثامن من فيفري 2007 صرحت الشركة.", "On 8 February 2007", 8),
        ("في الحادي عشر من سبتمبر 2001 وقعت الهجمات.", "On 11 September 2001", 11),
        ("افتتح في الحادي والعشرين من مارس 2010.", "On 21 March 2010", 21),
    ],
)
def test_a_day_written_as_an_ordinal_is_the_date_s_day(
    leads: Leads, quote: str, english: str, day: int
) -> None:
    lead = _lead(leads, "When did it happen?", quote)
    assert lead[0] == english
    assert day in numbers_in(lead[1])  # the grounding check reads the same day


def test_a_dual_of_the_counted_noun_says_two(leads: Leads) -> None:
    """Arabic counts two with the noun's dual ending, which the dictionary's translation of the
    question's noun finds; a masculine plural in -ين of a participle is not a dual."""
    question = "How many universities does the city have?"
    found = _lead(leads, question, "وتضم المدينة جامعتين كبيرتين.")
    assert found == ("two universities", "جامعتين")
    assert _lead(leads, "How many teams took part?", "وشارك فريقان في البطولة.") == (
        "two teams",
        "فريقان",
    )
    assert leads.lead("How many defenders played?", "ولعب المدافعين في الخط الخلفي.") is None
    assert leads.lead(question, "وتضم المدينة جامعات كثيرة.") is None  # a plural is no count
    counted = leads.counted_duals(question)
    assert leads.holds_dual("جامعتين", counted) and not leads.holds_dual("جامعات", counted)


def test_two_bare_years_joined_as_a_range_answer_when(leads: Leads) -> None:
    between = "كان الوباء موجوداً في المنطقة بين 1500 و 1850 تقريباً."
    assert _lead(leads, "When was the plague there?", between) == (
        "Between 1500 and 1850",
        "بين 1500 و 1850",
    )
    span = "عمل المسرح من 1870 إلى 1939 في الحديقة."
    assert _lead(leads, "When did the theatre work?", span)[0] == "From 1870 to 1939"
    count = leads.lead("How many people came?", "حضر بين 1500 و 1850 شخصا.")
    assert count is not None and count.kind == "number"  # a count, not a date
