"""Answer matching: normalised, alias-aware, at a word boundary."""

import json
import unicodedata
from pathlib import Path

import pytest

from hypothesis import given
from hypothesis import strategies as st

from factcheck.answer_text import answer_key, normalise
from factcheck.says.matching import a_cut_may_hide_an_answer, answer_named_later, matching_answer, qualifier, unwrapped


def test_object_at_the_start_passes():
    assert matching_answer(" Paris", ["Paris"]) == "Paris"
    assert matching_answer(" Paris, France", ["Paris"]) == "Paris"
    assert matching_answer(" paris.", ["Paris"]) == "Paris"


def test_word_boundary_rejects_longer_words():
    assert matching_answer(" Parisian cafe", ["Paris"]) is None
    assert matching_answer(" Romeo", ["Rome"]) is None


def test_answer_elsewhere_than_the_start_fails():
    assert matching_answer(" not Paris", ["Paris"]) is None
    assert matching_answer(" the city of Paris", ["Paris"]) is None


def test_aliases_count_and_the_matching_one_is_returned():
    assert matching_answer(" Delhi is big", ["New Delhi", "Delhi"]) == "Delhi"
    assert matching_answer(" New Delhi", ["New Delhi", "Delhi"]) == "New Delhi"


def test_unicode_case_and_whitespace_are_normalised():
    decomposed = unicodedata.normalize("NFD", "Brasília")
    assert matching_answer(f"  {decomposed}\tcity", ["Brasília"]) == "Brasília"
    assert matching_answer(" STRASSE", ["straße"]) == "straße"
    assert matching_answer(" New   Delhi", ["New Delhi"]) == "New Delhi"


def test_an_answer_ending_in_punctuation_needs_a_boundary_only_after_an_abbreviations_full_stop():
    assert matching_answer(" U.S. is", ["U.S."]) == "U.S." and matching_answer(" U.S., then", ["U.S."]) == "U.S."
    # "U.S.S.R." is another country, and "U.S.A" only another spelling: give it as an alias.
    assert matching_answer(" U.S.S.R.", ["U.S."]) is None and matching_answer(" U.S.A", ["U.S."]) is None
    assert matching_answer(" C++11", ["C++"]) == "C++"  # no full stop: a version after it is the same language


def test_quotes_before_the_answer_are_ignored():
    assert matching_answer(' "Paris"', ["Paris"]) == "Paris"


words = st.text(alphabet=st.characters(categories=("Lu", "Ll")), min_size=1, max_size=12)


@given(answer=words, tail=st.sampled_from(["", ",", ".", " and more", "!", "\n"]))
def test_answer_followed_by_a_non_word_character_always_matches(answer, tail):
    if answer in ("I", "No", "As", "At", "In", "He", "Be") and tail == " and more":
        return  # a symbol that is also a sentence's first word, with the sentence going on (tested on its own)
    assert matching_answer(" " + answer + tail, [answer]) == answer


def ends_in_a_letter_or_digit(word: str) -> bool:
    # Some letters normalise to a trailing punctuation mark ("Ŀ" -> "l·"); such an answer needs no boundary.
    return unicodedata.category(normalise(word)[-1])[0] in "LNM"


@given(answer=words.filter(ends_in_a_letter_or_digit), extra=st.text(alphabet="abcxyz", min_size=1, max_size=4))
def test_answer_glued_to_more_letters_never_matches(answer, extra):
    assert matching_answer(answer + extra, [answer]) is None


@given(text=st.text(max_size=40))
def test_normalise_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)


def test_a_name_does_not_end_inside_a_longer_name():
    assert matching_answer(" Guinea-Bissau", ["Guinea"]) is None
    assert matching_answer(" New York City", ["New York"]) is None
    assert matching_answer(" New York City", ["New York", "New York City"]) == "New York City"  # an alias says it
    assert matching_answer(" Sierra Leone", ["Sierra"]) is None
    # Punctuation, a lower-case word or the end still end a name.
    for said in (" Paris, France", " Paris.", " Paris", " Paris is the capital", " Paris (France)", " Guinea - a country"):
        assert matching_answer(said, ["Paris", "Guinea"]) is not None, said
    # A capitalised word after a common noun does not make a new word; a hyphen between letters does, name or not.
    assert matching_answer(" red Square", ["red"]) == "red"
    for said, answer in ((" well-known", "well"), (" narrow-minded", "narrow"), (" black-and-white", "black"), (" e-mail", "e")):
        assert matching_answer(said, [answer]) is None, said


def test_lower_case_particles_inside_a_name_carry_it_on():
    for said, answer in ((" Santiago de Cuba", "Santiago"), (" Kingston upon Hull", "Kingston"), (" Frankfurt an der Oder", "Frankfurt"),
                         (" Frankfurt am Main", "Frankfurt"), (" Côte d'Ivoire", "Côte"),
                         (" Isle of Man", "Isle")):
        assert matching_answer(said, [answer]) is None, said
    assert matching_answer(" Santiago de Chile", ["Santiago", "Santiago de Chile"]) == "Santiago de Chile"
    for said in (" Paris and the rest of France", " Paris of course", " Paris, de facto"):
        assert matching_answer(said, ["Paris"]) == "Paris", said
    # "and" joins a list of names more often than it makes one: give "Trinidad and Tobago" as the object where it is.
    # "on" begins a date, "y" joins a Spanish list.
    for said, answer in ((" English and French", "English"), (" Ulm on March 14, 1879", "Ulm"), (" London y Madrid", "London")):
        assert matching_answer(said, [answer]) == answer, said


def test_contractions_and_glued_ampersands_make_other_words():
    for said, answer in ((" won't", "won"), (" can't", "can"), (" can’t", "can"), (" AT&T", "AT")):
        assert matching_answer(said, [answer]) is None, said
    assert matching_answer(" won the race", ["won"]) == "won" and matching_answer(" AT, then", ["AT"]) == "AT"


def test_a_line_separator_ends_the_answer_as_a_newline_does():
    for separator in ("\n", "\r", "\u2028", "\u2029", "\x85", "\v"):
        assert matching_answer(f" Paris{separator}The capital", ["Paris"]) == "Paris", repr(separator)
        assert matching_answer(f"{separator}Paris", ["Paris"]) is None, repr(separator)


def test_a_dotted_capital_i_and_a_dotless_i_match_a_plain_i():
    assert matching_answer(" İstanbul", ["Istanbul"]) == "Istanbul"
    assert matching_answer(" Istanbul", ["İstanbul"]) == "İstanbul"
    assert matching_answer(" istanbul", ["İstanbul"]) == "İstanbul"
    assert normalise("İZMİR") == "izmir"
    # Turkish capitals write ı as I: "DİYARBAKIR" is Diyarbakır, and so is "Diyarbakir" as typed without it.
    assert matching_answer(" DİYARBAKIR", ["Diyarbakır"]) == "Diyarbakır"
    assert matching_answer(" Diyarbakir", ["Diyarbakır"]) == "Diyarbakır"
    assert matching_answer(" Diyarbakıra", ["Diyarbakır"]) is None


def test_a_number_does_not_end_at_its_decimal_point_or_thousands_separator():
    for said in (" 1.5", " 1,000", " 42.5", " 42,5"):
        assert matching_answer(said, ["1", "42"]) is None, said
    for said in (" 1.", " 1, in all", " 42, the answer", " 1969."):
        assert matching_answer(said, ["1", "42", "1969"]) is not None, said


def test_a_number_glued_to_letters_is_another_word_and_a_unit_after_a_space_is_not():
    for said, answer in ((" 1066AD", "1066"), (" 5th", "5"), (" 3kg", "3")):
        assert matching_answer(said, [answer]) is None, said  # an ordinal or a glued unit: give it as an alias
        assert matching_answer(said, [answer, said.strip()]) == said.strip()
    for said, answer in ((" 1066 AD", "1066"), (" 92%", "92"), (" 3 kg", "3")):
        assert matching_answer(said, [answer]) == answer, said


def test_an_en_dash_or_figure_dash_continues_a_name_as_a_hyphen_does():
    for dash in ("-", "\u2010", "\u2011", "\u2012", "\u2013"):
        assert matching_answer(f" Guinea{dash}Bissau", ["Guinea"]) is None, dash


def test_a_spaced_dash_before_a_capital_continues_a_name_and_before_a_lower_case_word_ends_it():
    for dash in ("-", "\u2013", "\u2014", "\u2015", "\u2212"):
        for said in (f" Guinea {dash} Bissau", f" Guinea {dash}Bissau", f" Guinea{dash} Bissau"):
            assert matching_answer(said, ["Guinea"]) is None, said
        assert matching_answer(f" Paris {dash} the capital of France", ["Paris"]) == "Paris", dash
    # Only a name goes on into another name: a number is not continued by a dash and a capital.
    assert matching_answer(" 1990 \u2013 Bissau", ["1990"]) == "1990"


def test_emphasis_and_quotes_around_an_answer_leave_what_follows_it_to_be_judged():
    # A closing mark used to end the answer, and no rule after it ran: "**Paris** or **Lyon**" said Paris.
    for marked in ("**{}**", "*{}*", "__{}__", "_{}_", "`{}`", '"{}"', "“{}”", "«{}»", "'{}'", "「{}」", '**"{}"**'):
        paris, lyon = marked.format("Paris"), marked.format("Lyon")
        assert matching_answer(f" {paris}.", ["Paris"]) == "Paris", marked
        assert matching_answer(f" {paris} or {lyon}", ["Paris"]) is None, marked
        assert matching_answer(f" {paris} — no, {lyon}", ["Paris"]) is None, marked
    assert matching_answer(" **Guinea**-Bissau", ["Guinea"]) is None
    assert matching_answer(" **5** million", ["5"]) is None
    assert matching_answer(' "Toy Story" 2', ["Toy Story"]) is None
    assert matching_answer(" **5** km", ["5 km"]) == "5 km"
    # Marks inside a word or a product stay (an apostrophe, snake_case, "5 * 3"); an answer's own quotes are read
    # either way.
    assert unwrapped("Paris's 'old' town, snake_case, 5 * 3 * 2, 2*3*4") == "Paris's old town, snake_case, 5 * 3 * 2, 2*3*4"
    assert matching_answer(' "Weird Al" Yankovic', ['"Weird Al" Yankovic']) == '"Weird Al" Yankovic'
    assert matching_answer(" Weird Al Yankovic", ['"Weird Al" Yankovic']) == '"Weird Al" Yankovic'


def test_the_review_of_the_wrapping_and_restatement_rules():
    # A conversion in brackets is dropped whole ("6 ft 4 in" is one restatement; "to" is no unit), and one that does
    # not close is none.
    for said, answer in ((" 1.93 m (6 ft 4 in)", "1.93 m"), (" 193 cm (6 ft 4 in) tall", "193 cm"), (" 100 kg (220 lb 7 oz)", "100 kg"),
                         (" 9.8 m/s² (32 ft/s²)", "9.8 m/s²"), (" 116 years (1337 to 1453)", "116 years"), (" 5 km (3.1 mi", "5 km")):
        assert matching_answer(said, [answer]) == answer, said
    # "--" is a typed em dash: before lower-case words it ends the name, before a capital it carries it on.
    assert matching_answer(" Paris--the capital of France", ["Paris"]) == "Paris"
    assert matching_answer(" Guinea--Bissau", ["Guinea"]) is None
    # A middle dot joins a foreign name in Chinese and katakana, not kanji.
    assert matching_answer(" 马丁·路德·金", ["马丁·路德"]) is None
    assert matching_answer(" ギニア・ビサウ", ["ギニア"]) is None
    assert matching_answer(" 東京・大阪", ["東京"]) == "東京"
    # A symbol and its atomic number; a bracketed restatement of the answer; elisions inside single quotes.
    assert matching_answer(" H 1.", ["H"]) == "H"
    assert matching_answer(" Paris (actually Paris)", ["Paris"]) == "Paris"
    assert matching_answer(" Beijing (I mean Peking)", ["Beijing", "Peking"]) == "Beijing"
    assert matching_answer(" 1969 (actually 1970)", ["1969"]) is None
    assert matching_answer(" Gerard 't Hooft, with his students' help", ["Gerard 't Hooft"]) == "Gerard 't Hooft"
    assert matching_answer(" the '80s' music", ["the '80s"]) == "the '80s"
    assert matching_answer(" 北京（或作北平）", ["北京"]) == "北京"
    assert matching_answer(" 北京（或上海）", ["北京"]) is None
    assert a_cut_may_hide_an_answer(" Weird Al Yank", ['"Weird Al" Yankovic'])


def test_a_numbered_list_on_one_line_ends_its_first_item_at_the_second_number():
    # A sequel number before a full stop carries a title on ("Toy Story 2."); a list's " 2. " begins its next item.
    assert matching_answer(" 1. Paris 2. Lyon", ["Paris"]) == "Paris"
    assert matching_answer(" 1) Paris 2) Lyon", ["Paris"]) == "Paris"
    assert matching_answer("1. Toy Story 2. Toy Story 3", ["Toy Story"]) == "Toy Story"
    assert matching_answer(" Toy Story 2. It was a hit", ["Toy Story"]) is None
    assert matching_answer(" 1. Guinea-Bissau 2. Mali", ["Guinea"]) is None
    assert matching_answer(" 1. Paris or Lyon 2. Nice", ["Paris"]) is None


def test_what_follows_a_restated_amount_is_judged_as_what_follows_the_answer():
    assert matching_answer(" 5 km (3.1 mi) from the coast", ["5 km"]) == "5 km"
    assert matching_answer(" 5 km (3.1 mi) or 6 km", ["5 km"]) is None
    assert matching_answer(" £100 ($130) a night", ["£100"]) is None
    assert matching_answer(" £100 / $130 million", ["£100"]) is None
    assert matching_answer(" $5 billion / €4.6 billion", ["$5 billion"]) == "$5 billion"
    assert matching_answer(" 100 °C / 212 °F to 120 °C", ["100 °C"]) is None


def test_an_answer_that_starts_with_a_quote_or_bracket_is_said_as_written():
    for answer in ("'s-Hertogenbosch", '"Weird Al" Yankovic', "(500) Days of Summer", "*NSYNC"):
        assert matching_answer(f" {answer}", [answer]) == answer, answer
        assert matching_answer(f" {answer.lstrip(chr(39) + chr(34) + '(*')} and more", [answer]) == answer, answer


def test_a_glued_symbol_makes_another_word_and_a_joined_number_another_number():
    for said in (" C++", " C#"):
        assert matching_answer(said, ["C"]) is None, said
    assert matching_answer(" C, a language", ["C"]) == "C"
    for said, answer in ((" 1/2", "1"), (" 1:30", "1"), (" 3-4", "3"), (" 3–4", "3"), (" 10^3", "10")):
        assert matching_answer(said, [answer]) is None, said
    assert matching_answer(" 5 to 6", ["5"]) is None and matching_answer(" 42.", ["42"]) == "42"  # a range in words


def test_the_minus_sign_is_a_minus_and_joins_a_name_as_a_hyphen_does():
    assert matching_answer(" \u22125 degrees", ["-5"]) == "-5"
    assert matching_answer(" Guinea\u2212Bissau", ["Guinea"]) is None
    # An em dash carries a name on before a capital only: it is also a sentence's dash.
    assert matching_answer(" Guinea\u2014Bissau", ["Guinea"]) is None
    assert matching_answer(" Paris\u2014the capital", ["Paris"]) == "Paris"


def test_a_number_with_or_without_thousands_separators_is_one_answer():
    for said, answer in ((" 1,000 years", "1000"), (" 1000 years", "1,000"), (" 8\u202f848 m", "8,848"), (" 8848 m", "8 848")):
        assert matching_answer(said, [answer]) == answer, said
    # Still another number: more digits, or a decimal comma.
    for said, answer in ((" 1,000", "1"), (" 1,000,000", "1000"), (" 1,5 million", "1"), (" 10,000,000", "10,000")):
        assert matching_answer(said, [answer]) is None, said


def test_more_ranges_powers_and_scales_carry_a_number_on_and_a_fraction_reads_alike_both_ways():
    for said, answer in ((" 4\u20145", "4"), (" 4~5", "4"), (" 10**8", "10"), (" 3 milliard", "3"), (" 3 Mrd", "3"),
                         (" 5 to 10 million people", "5"), (" 5 or 6 years.", "5"), (" 1960's.", "1960")):
        assert matching_answer(said, [answer]) is None, said
    assert matching_answer(" ½ cup", ["1/2"]) == "1/2" and matching_answer(" 1/2 cup", ["½"]) == "½"
    assert matching_answer(" 5 years to go", ["5"]) == "5" and matching_answer(" 1965's hits", ["1965"]) == "1965"


def test_superscripts_fractions_and_products_carry_a_number_on():
    for said, answer in ((" 1½ cups", "1"), (" 1½ cups", "11"), (" 2² = 4", "2"), (" 2² = 4", "22"), (" 10³ metres", "10"),
                         (" 10³ metres", "103"), (" ½", "1"), (" 3 × 10⁸ m/s", "3"), (" 3 x 4", "3"), (" 1\u202f000 km", "1"),
                         (" 1\u2009000 km", "1")):
        assert matching_answer(said, [answer]) is None, (said, answer)
    for said, answer in ((" 1½ cups", "1½"), (" 1\u202f000 km", "1,000"), (" 5 times", "5"), (" 10 m²", "10")):
        assert matching_answer(said, [answer]) == answer, (said, answer)


def test_markdown_underscores_and_a_trademark_sign_are_not_part_of_the_word():
    for said in (" _Paris_", " __Paris__", " Paris™", " Paris®", " Paris_"):
        assert matching_answer(said, ["Paris"]) == "Paris", said


def test_an_apostrophe_before_a_capital_carries_a_name_on():
    assert matching_answer(" O'Brien", ["O"]) is None and matching_answer(" D\u2019Angelo", ["D"]) is None
    assert matching_answer(" Paris's tower", ["Paris"]) == "Paris"


def test_compatibility_forms_fold_as_before_where_no_number_comes_first():
    for said, answer in ((" E=mc²", "E=mc2"), (" km²", "km2"), (" ½", "1⁄2"), (" Windows 7 x64", "Windows 7"),
                         (" 1\u00a0000", "1,000")):
        assert matching_answer(said, [answer]) == answer, (said, answer)
    for said, answer in ((" 10⁻³", "10"), (" 3⋅4", "3"), (" str_replace", "str"), (" foo__bar", "foo"), (" 1\u00a0000", "1")):
        assert matching_answer(said, [answer]) is None, (said, answer)


def test_more_number_separators_scale_words_apostrophes_and_invisible_characters():
    for said, answer in ((" 1'000", "1"), (" 1’000", "1"), (" 1 000", "1"), (" 3 million", "3"), (" 3 billion people", "3"),
                         (" 1 ½", "1"), (" 3٫5", "3"), (" 3٬000", "3")):
        assert matching_answer(said, [answer]) is None, (said, answer)
    for said, answer in ((" O'Neil", "O’Neil"), (" don't", "don’t"), (" „Paris“", "Paris"), (" 「Paris」", "Paris"),
                         (" ’Paris’", "Paris"), (": Paris", "Paris"), ("\u200bParis", "Paris"), ("\ufeffParis", "Paris"),
                         (" 1 000", "1,000"), (" 1 and done", "1")):
        assert matching_answer(said, [answer]) == answer, (said, answer)


def test_numbers_go_on_in_words_scales_currencies_eras_and_mixed_fractions():
    for said, answer in ((" twenty-five", "twenty"), (" thirty one", "thirty"), (" five hundred", "five"),
                         (" five thousand", "five"), (" $5 million", "$5"), (" €3 billion", "€3"), (" 1867 BC", "1867"),
                         (" 1867 B.C.", "1867"), (" 300 BCE", "300"), (" 5 1/2", "5"), (" 5 millions", "5"), (" 5 bn", "5"),
                         (" 5-million", "5")):
        assert matching_answer(said, [answer]) is None, (said, answer)
    for said, answer in ((" twenty years", "twenty"), (" five, in all", "five"), (" $5 each", "$5"), (" 1867 AD", "1867"),
                         (" 1867 by law", "1867"), (" 5 of them", "5"), (" one of the", "one")):
        assert matching_answer(said, [answer]) == answer, (said, answer)


def test_sharps_flats_and_dashes_invisible_hyphens_and_joiners_continue_a_word():
    for said in (" C\u266f", " C\u266d"):
        assert matching_answer(said, ["C"]) is None, said
    for said in (" Guinea\u2015Bissau", " Guinea\u00adBissau", " Guinea\u200dBissau", " Guinea\u200cBissau"):
        assert matching_answer(said, ["Guinea"]) is None, said
    assert matching_answer(" Paris\u2015the capital", ["Paris"]) == "Paris"


def test_a_generation_cut_by_the_token_limit_says_an_answer_only_where_three_whole_words_follow_it():
    for said, answer in ((" 10,000,", "10,000"), (" Paris", "Paris"), (" Paris, France", "Paris"), (" 1 mil", "1"),
                         (" 3 bill", "3"), (" twenty-fi", "twenty"), (" 1066 B", "1066"), (" 5 1/", "5"), (" 3 ×", "3"),
                         (" C +", "C"), (" 5 and a quar", "5")):
        assert matching_answer(said, [answer], cut=True) is None, said  # what comes next could carry it on
    assert matching_answer(" Paris, the capital of", ["Paris"], cut=True) == "Paris"
    assert matching_answer(" 10,000,", ["10,000"]) == "10,000"  # it ended there (a newline or end of text)


def test_variants_of_numbers_in_words_fractions_scales_notes_and_abbreviations_go_on():
    for said, answer in ((" one hundred thousand", "one hundred"), (" two thousand five hundred", "two thousand"),
                         (" one hundred and five", "one hundred"), (" a hundred and fifty", "a hundred"),
                         (" two-thirds", "two"), (" one third of", "one"), (" three quarters", "three"),
                         (" twenty-first century", "twenty"), (" seventy-seventh", "seventy"), (" five and a half", "five"),
                         (" zero point five", "zero"), (" 3 quadrillion", "3"), (" $5 quadrillion", "$5"), (" 5 dozen", "5"),
                         (" £3 m", "£3"), (" 5 1\u20442", "5"), (" 5 \u00b9\u2044\u2082", "5"), (" 2 and a half", "2"),
                         (" 1 and 1/2", "1"), (" C sharp minor", "C"), (" B flat major", "B"), (" C\U0001d12a", "C"),
                         (" U.S.S.R.", "U.S"), (" ASP.NET", "ASP"), (" Node.js", "Node"), (" Guinea\u2063Bissau", "Guinea"),
                         (" 1066 before Christ", "1066")):
        assert matching_answer(said, [answer]) is None, (said, answer)
    for said, answer in ((" one of the", "one"), (" C major", "C"), (" $5 each", "$5"), (" 5 m tall", "5"),
                         (" Paris. The", "Paris"), (" 2 and 3", "2"), (" one hundred", "one hundred")):
        assert matching_answer(said, [answer]) == answer, (said, answer)


def test_chinese_japanese_and_korean_answers_end_at_a_particle_and_go_on_into_another_word():
    # These scripts write no space after a word: a particle or a copula ends it, any other character goes on.
    for said, answer in ((" 北京是中国的首都", "北京"), (" 東京は日本の首都です", "東京"), (" 서울은 한국의 수도", "서울"),
                         (" 中国的首都", "中国"), (" 北京。", "北京"), (" 東京", "東京")):
        assert matching_answer(said, [answer]) == answer, said
    for said, answer in ((" 北京大学", "北京"), (" 東京都", "東京"), (" 서울시", "서울"), (" 中国人", "中国")):
        assert matching_answer(said, [answer]) is None, said


@pytest.mark.parametrize("generated, answer", [
    (" 5〜6", "5"), (" 5..10", "5"), (" 5...10", "5"), (" 5…10", "5"), (" 5 through 10", "5"), (" five through ten", "five"),
    (" 3∶1", "3"), (" 3 : 1", "3"), (" 3∕4", "3"), (" 3÷4", "3"), (" 3 ÷ 4", "3"),
    (" 5 Mio", "5"), (" 5 Mio.", "5"), (" 3 x10^8", "3"), (" 3x 10^8", "3"), (" 3x10⁸", "3"),
])
def test_more_ranges_ratios_scales_and_products_carry_a_number_on(generated, answer):
    assert matching_answer(generated, [answer]) is None


@pytest.mark.parametrize("generated, answer", [
    (" 《东京》", "东京"), (" 〈东京〉", "东京"), (" 【东京】", "东京"), (" 〔東京〕", "東京"), (" 〖東京〗", "東京"),
    (" 5. Then 6", "5"), (" Windows 7 x64", "Windows 7"), (" 3 times a day", "3"), (" 5, 6th", "5"),
])
def test_title_brackets_are_not_part_of_an_answer_and_a_lone_full_stop_or_x_ends_a_number(generated, answer):
    assert matching_answer(generated, [answer]) == answer


@pytest.mark.parametrize("generated, answer", [
    (" 1 mW", "1 MW"), (" 1 MW", "1 mW"), (" 5 mm", "5 Mm"), (" 5 Mb", "5 MB"), (" 1 mA", "1 MA"), (" 5 M", "5 m"),
    (" 100 k", "100 K"), (" 5 S", "5 s"), (" 5mW", "5 MW"),
])
def test_a_unit_symbol_keeps_its_case(generated, answer):
    # SI symbols are case-sensitive: milli is not mega, a bit not a byte, kilo not kelvin, a siemens not a second.
    assert matching_answer(generated, [answer]) is None
    assert answer_key(generated.strip()) != answer_key(answer)


def test_a_unit_written_in_either_case_for_one_unit_matches_and_so_do_identical_units():
    for generated, answer in ((" 100 MPH", "100 mph"), (" 5 PM", "5 pm"), (" 300 HP", "300 hp"), (" 1 MW.", "1 MW"),
                              (" 5km", "5 km"), (" 5 s", "5 s"), (" 20 °C", "20°C")):
        assert matching_answer(generated, [answer]) == answer, generated
        assert answer_key(generated.strip().rstrip(".")) == answer_key(answer)


def test_a_day_and_month_is_said_when_its_year_follows():
    for generated, answer in ((" 20 July 1969", "20 July"), (" 4 July 1776.", "4 July"), (" 1 January 2002", "1 January"),
                              (" 14 Jul 1789", "14 Jul"), (" 14 juillet 1789", "14 juillet")):
        assert matching_answer(generated, [answer]) == answer, generated
    assert matching_answer(" 5 km 200 m", ["5 km"]) is None  # a quantity still goes on into a compound


def test_an_answer_in_a_script_without_spaces_is_decided_by_characters_when_the_token_limit_cut_it():
    for generated, answer in ((" 北京。北京是中国的首都", "北京"), (" 北京是中国的首都，也是", "北京"),
                              (" 東京は日本の首都です。", "東京")):
        assert matching_answer(generated, [answer], cut=True) == answer, generated
    for generated, answer in ((" 北京大", "北京"), (" 北京", "北京"), (" Paris, France.", "Paris")):
        assert matching_answer(generated, [answer], cut=True) is None, generated  # what comes next could carry it on


def test_thai_lao_khmer_and_burmese_answers_end_at_a_copula_and_go_on_into_another_word():
    for generated, answer in ((" กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "กรุงเทพมหานคร"), (" ວຽງຈັນແມ່ນນະຄອນຫຼວງ", "ວຽງຈັນ"),
                              (" ភ្នំពេញគឺជារាជធានី", "ភ្នំពេញ"), (" ရန်ကုန်သည်", "ရန်ကုန်")):
        assert matching_answer(generated, [answer]) == answer, generated
    for generated, answer in ((" กรุงเทพมหานคร", "กรุงเทพ"), (" ภูเก็ตทาวน์", "ภูเก็ต")):
        assert matching_answer(generated, [answer]) is None, generated


def test_an_ampersand_between_capitalised_words_makes_one_name_and_a_footnote_mark_is_not_part_of_a_word():
    for generated, answer in ((" Johnson & Johnson", "Johnson"), (" Procter & Gamble", "Procter"),
                              (" Marks & Spencer", "Marks"), (" AT&T", "AT")):
        assert matching_answer(generated, [answer]) is None, generated
    for generated, answer in ((" Johnson & Johnson", "Johnson & Johnson"), (" Paris & then", "Paris"),
                              (" Rome\u00b9", "Rome"), (" Rome.\u00b2 It", "Rome"), (" Rome\u00b9\u00b2, Italy", "Rome")):
        assert matching_answer(generated, [answer]) == answer, generated
    assert matching_answer(" 5 km\u00b2", ["5 km"]) is None  # after a unit a superscript is still a power


@pytest.mark.parametrize("generated", [" 44 v. Chr.", " 44 v.Chr.", " 44 av. J.-C.", " 44 a. C.", " 44 a.C.", " 44 a. de C.",
                                       " 44 до н. э.", " 44 f.Kr.", " 44 eKr.", " 44 p.n.e.", " 44 př. n. l.", " 44 π.Χ."])
def test_a_year_before_christ_in_other_languages_is_not_the_year_after(generated):
    assert matching_answer(generated, ["44"]) is None


def test_a_year_after_christ_in_other_languages_is_the_year():
    for generated in (" 44 n. Chr.", " 44 ap. J.-C.", " 44 d. C.", " 44 e.Kr."):
        assert matching_answer(generated, ["44"]) == "44", generated


@pytest.mark.parametrize("generated, answer", [
    (" 5 Millionen", "5"), (" 5 Milliarden", "5"), (" 5 millones", "5"), (" 5 milioni", "5"), (" 5 млн", "5"),
    (" 5 Tausend", "5"), (" 5 mil", "5"), (" 5 mille", "5"), (" $5 tn", "$5"), (" 10 bis 12", "10"), (" 5 à 10", "5"),
    (" 50%-60%", "50%"), (" 50% to 60%", "50%"), (" 50 %–60 %", "50 %"), (" $5-$10", "$5"), (" $5 to $10", "$5"),
    (" 5 km to 10 km", "5 km"), (" 5 km – 10 km", "5 km"), (" 20 °C to 25 °C", "20 °C"),
    (" 6 ft. 2 in.", "6 ft"), (" 2 hr. 30 min.", "2 hr"), (" 10 ** 3", "10"), (" 10 to the power of 6", "10"),
    (" 2 squared", "2"), (" 5 + 3", "5"), (" $5 and 50 cents", "$5"), (" 5 and one half", "5"), (" five twelfths", "five"),
    (" five hundredths", "five"), (" $5/hour", "$5"), (" $5 per hour", "$5"), (" $5 a day", "$5"), (" 5 %/year", "5 %"),
    (" 45°30′", "45°"), (" 45° 30′", "45°"), (" 90°F", "90°"),
])
def test_numbers_and_amounts_going_on_into_ranges_rates_scales_and_arithmetic_are_not_said(generated, answer):
    assert matching_answer(generated, [answer]) is None


def test_amounts_that_end_are_said():
    for generated, answer in ((" $5 each", "$5"), (" 50%.", "50%"), (" 5 km away", "5 km"), (" 45°, north", "45°"),
                              (" $5, then", "$5"), (" 100 °C at sea level", "100 °C"), (" 2 and 3", "2")):
        assert matching_answer(generated, [answer]) == answer, generated


def test_an_epithet_or_fils_carries_a_name_on():
    for generated, answer in ((" Pliny the Younger", "Pliny"), (" Ivan the Terrible", "Ivan"), (" Dumas fils", "Dumas")):
        assert matching_answer(generated, [answer]) is None, generated
    for generated, answer in ((" Dumas père", "Dumas"), (" Paris the capital", "Paris"), (" Ivan the Terrible", "Ivan the Terrible")):
        assert matching_answer(generated, [answer]) == answer, generated


def test_korean_particles_end_a_word_only_before_a_space_and_more_copulas_and_final_particles_end_one():
    for generated, answer in ((" 한국은행", "한국"), (" 서울도서관", "서울"), (" 부산은행", "부산")):
        assert matching_answer(generated, [answer]) is None, generated
    for generated, answer in ((" 서울은 한국의 수도", "서울"), (" 서울에서는 비가", "서울"), (" 서울이에요.", "서울"),
                              (" 東京だ。", "東京"), (" 東京だよ", "東京"), (" 北京吧", "北京"), (" 北京啊", "北京")):
        assert matching_answer(generated, [answer]) == answer, generated


def test_optional_diacritics_are_left_out_on_both_sides_and_letters_made_by_marks_stay():
    for generated, answer in ((" ΑΘΗΝΑ", "Αθήνα"), (" القاهرةُ", "القاهرة"), (" יְרוּשָׁלַיִם", "ירושלים"), (" Москва́", "Москва"),
                              (" Αθήνα", "ΑΘΗΝΑ")):
        assert matching_answer(generated, [answer]) == answer, generated
    assert matching_answer(" Иошкар-Ола", ["Йошкар-Ола"]) is None  # й is a letter of its own
    assert matching_answer(" cafe", ["café"]) is None  # Latin accents are not optional


def test_a_list_bullet_a_number_or_a_quote_mark_before_the_answer_is_not_part_of_it():
    for generated in (" ¡Madrid!", " - Madrid", " • Madrid", " 1. Madrid", " > Madrid", " 1) Madrid",
                      " ... Madrid", " … Madrid", " — Madrid", " – Madrid"):
        assert matching_answer(generated, ["Madrid"]) == "Madrid", generated
    # A spaced hyphen is a bullet, also before a number (a minus is written against it); a spaced plus is a sign.
    assert matching_answer(" - 1969", ["1969"]) == "1969" and matching_answer(" - 50%", ["50%"]) == "50%"
    assert matching_answer(" - 5", ["-5"]) is None and matching_answer(" + 5", ["5"]) is None
    assert matching_answer(" • 1969", ["1969"]) == "1969" and matching_answer(" 1) 5 km", ["5 km"]) == "5 km"
    assert matching_answer(" 2. Bundesliga", ["Bundesliga"]) is None  # a German ordinal: a list starts at 1
    assert matching_answer(" 1. Madrid", ["1"]) == "1"  # the answer as written is tried first


def test_a_short_symbol_keeps_its_case():
    for generated, answer in ((" CO", "Co"), (" HF", "Hf"), (" NO", "No"), (" SN", "Sn"), (" fe", "Fe"), (" Co", "CO")):
        assert matching_answer(generated, [answer]) is None, generated
        assert answer_key(generated.strip()) != answer_key(answer)
    for generated, answer in ((" Co.", "Co"), (" 'Fe'", "Fe"), (" PARIS", "Paris"), (" paris", "Paris"), (" co", "co")):
        assert matching_answer(generated, [answer]) == answer, generated
    # Only a cased capital makes a symbol: text without case keeps its one key.
    assert answer_key("北京") == normalise("北京") and answer_key("ΗΠΑ") == "ΗΠΑ" and answer_key("Paris") == "paris"


def test_a_line_end_ends_a_generation_the_token_limit_cut_later():
    for generated in (" Paris\rThe capital of Spain", " Paris\u2028The capital", " Paris\x85The"):
        assert matching_answer(generated, ["Paris"], cut=True) == "Paris", generated


def test_a_spaced_unit_that_reads_as_an_ordinal_or_decade_ending_is_not_the_ordinal_or_decade():
    for generated, answer in ((" 1st", "1 st"), (" 1960s", "1960 s")):
        assert matching_answer(generated, [answer]) is None, generated
        assert answer_key(generated.strip()) != answer_key(answer)


def test_matching_of_the_fifteenth_pass():
    said = [(" 12 апреля 1961 года", "12 апреля"), (" 4 luglio 1776", "4 luglio"), (" 25 mei 1990", "25 mei"),
            (" Googleは1998年に設立", "Google"), (" 8です", "8"), (" iPhone是苹果的产品", "iPhone"), (" Samsung은 한국 회사", "Samsung"),
            (" 서울이고, 인구는", "서울"), (" 서울이라고 합니다", "서울"), (" 서울인데", "서울"), (" 500 mL of water", "500 ml"),
            (" 2 l", "2 L"), (" 64 KB", "64 kB"), (" 1960's", "1960s"), (" 1960s", "1960's"), (" I.", "I"), (" No.", "No"),
            (" Fe, iron", "Fe"), (" He (helium)", "He"), (" Li was born in Beijing", "Li"), (" UN was founded", "UN"),
            (" red, like blood", "Red"), (" 5 Kg", "5 kg"), (" 20 °c", "20 °C"), (" 25° C", "25 °C"), (" 500 mg, 3 times a day", "500 mg"),
            (" 2001: A Space Odyssey, 1968", "2001: A Space Odyssey"), (" 한국이었다", "한국"), (" 서울이었습니다.", "서울"),
            (" すしです", "すし"), (" ねこだ", "ねこ")]
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    not_said = [(" 3 billones", "3"), (" 3 mld", "3"), (" 150 mln", "150"), (" 2 hours, 30 minutes", "2 hours"),
                (" 6 feet, 2 inches tall", "6 feet"), (" 90° F", "90°"), (" 45° N", "45°"), (" Paris or Lyon", "Paris"),
                (" Paris/Lyon", "Paris"), (" red or green", "red"), (" I don't know", "I"), (" I think it is", "I"),
                (" No, it is not", "No"), (" As a rule", "As"), (" He was", "He"), (" たこやき", "たこ"), (" At least two", "At"),
                (" I apologize", "I"), (" He's not sure", "He"), (" No element has", "No"), (" He is a noble gas", "He"),
                (" 3 times 10^8 m/s", "3"), (" 3 times 10", "3"), (" 5 plus 3", "5"), (" Paris / Lyon", "Paris"), (" Paris (or Lyon)", "Paris"),
                (" Paris, or Lyon", "Paris"), (" Paris and/or Lyon", "Paris"), (" Москва или Санкт-Петербург", "Москва"),
                (" 東京か大阪", "東京"), (" 90° F", "90°"), (" dna", "DNA")]
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated
    assert matching_answer(" 44 before the common er", ["44"], cut=True) is None
    assert answer_key("'s-Hertogenbosch") == answer_key("s-Hertogenbosch") and answer_key("1960's") == answer_key("1960s")
    assert answer_key("500 mL") == answer_key("500 ml") and answer_key("64 KB") == answer_key("64 kB")
    assert answer_key("Red") == answer_key("red") and answer_key("5 Kg") == answer_key("5 kg")


def test_overlapping_korean_particles_are_read_in_linear_time():
    import time

    start = time.perf_counter()
    assert matching_answer(" 서울" + "이야" * 400 + "행", ["서울"]) is None
    assert time.perf_counter() - start < 1.0  # backtracking over "이야" and "이" + "야" took days at 40 repetitions


def test_hedges_in_scripts_whose_normalising_changes_the_word_and_more_amounts_going_on():
    for generated, answer in ((" القاهرة أو الإسكندرية", "القاهرة"), (" Αθήνα ή Θεσσαλονίκη", "Αθήνα"), (" 100 grand", "100"),
                              (" 50%+", "50%"), (" $5+", "$5")):
        assert matching_answer(generated, [answer]) is None, generated
    assert matching_answer(" 20 augusti 1969", ["20 augusti"]) == "20 augusti"


def test_numbers_written_another_way_are_the_same_number():
    # Zero decimals, a spaced currency sign, a spaced or long range dash, a mixed fraction, a percentage in words,
    # digits of other scripts, an ordinal on a date's day, a unit symbol of four letters glued to its number.
    said = [(" $5.00, the price", "$5"), (" 5.0 on the scale", "5"), (" 5.00 pm", "5 pm"), (" $ 5", "$5"), (" € 5", "€5"),
            (" 1914 – 1918", "1914-1918"), (" 1879—1955", "1879-1955"), (" 5½ hours", "5 1/2"), (" 5 1/2 hours", "5½"),
            (" 5 ½ hours", "5½"), (" 92 per cent of voters", "92%"), (" 92 percent", "92%"), (" 92%", "92 per cent"),
            (" ١٩٦٩", "1969"), (" १९६९ में", "1969"), (" July 20th, 1969", "July 20"), (" 20th July 1969", "20 July"),
            (" July 20, 1969", "July 20th"), (" 100Mbps download", "100 Mbps"), (" 5mmHg", "5 mmHg"), (" 5 Kcal", "5 kcal"),
            (" 3 100-metre races", "3"), (" 90° i.e. a right angle", "90°")]
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    # Three zeros are a thousands group, a decimal part that only ends in zero is another number (a version), a
    # version's further part stays; a unit symbol keeps its case.
    not_said = [(" 5.000 Einwohner", "5"), (" Python 3.10", "Python 3.1"), (" 1.0.1", "1.0"), (" 100 MBps", "100 Mbps"),
                (" 5 Mbps", "5 MBps"), (" 1914 – 1918", "1914"), (" 5 ½", "5"), (" 3 100 people", "3"), (" 90° F", "90°")]
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated
    for one, other in (("$5.00", "$5"), ("5.0", "5"), ("5½", "5 1/2"), ("July 20th", "July 20"), ("92 per cent", "92%"),
                       ("1914 – 1918", "1914-1918"), ("100 Mbps", "100Mbps"), ("١٩٦٩", "1969")):
        assert answer_key(one) == answer_key(other), one
    assert answer_key("100 Mbps") != answer_key("100 MBps") and answer_key("3.10") != answer_key("3.1")


def test_a_name_in_prose_ends_where_the_prose_begins_and_number_words_of_other_languages_go_on():
    said = [(" Paris — It is the capital", "Paris"), (" Tokyo — Japan's capital", "Tokyo"), (" Paris - The City of Light", "Paris"),
            (" Paris 2024", "Paris"), (" Isaac Newton FRS", "Isaac Newton"), (" Jonas Salk, MD", "Jonas Salk"),
            (" Salzburg im Jahr 1756.", "Salzburg"), (" Berlin am Montag", "Berlin"), (" München im Süden", "München"),
            (" Bonn zu Beginn", "Bonn"), (" deux, en tout", "deux"), (" sept ans", "sept")]
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    not_said = [(" Charles I was king", "Charles"), (" Guinea – Bissau is a country", "Guinea"), (" Frankfurt am Main", "Frankfurt"),
                (" Paris — Texas", "Paris"), (" Martin Luther King Jr.", "Martin Luther King"), (" deux mille", "deux"),
                (" vingt et un", "vingt"), (" treinta y dos", "treinta"), (" zwei Millionen", "zwei"), (" dos mil", "dos")]
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated


def test_the_outside_reviews_matching_corpus():
    # Every generated text of two outside reviews (tests/data/matching_corpus.json), with the verdict a careful grader
    # gives; all wrong lines are listed at once.
    corpus = json.loads((Path(__file__).parent / "data" / "matching_corpus.json").read_text(encoding="utf-8"))
    wrong = [f"{generated!r} for {answers!r} (cut={cut}): {got!r}, not {says!r}"
             for generated, answers, cut, says in corpus["cases"]
             if (got := matching_answer(generated, answers, cut=cut)) != says]
    assert not wrong, "\n".join(wrong)
    assert [pair for pair in corpus["key_same"] if answer_key(pair[0]) != answer_key(pair[1])] == []
    assert [pair for pair in corpus["key_different"] if answer_key(pair[0]) == answer_key(pair[1])] == []


def test_a_doubt_after_the_answer_qualifies_it_whatever_follows_the_doubt():
    for generated, answer in ((" Paris, maybe Lyon", "Paris"), (" 5 (maybe 6)", "5"), (" Paris (maybe Lyon)", "Paris"),
                              (" București sau Cluj", "București"), (" Paris, perhaps Europe's most visited city", "Paris"),
                              (" Paris (possibly founded in 250 BC)", "Paris"), (" Paris, probably.", "Paris"),
                              (" Paris I think", "Paris"), (" deux, je pense", "deux"), (" ¿Madrid?", "Madrid")):
        assert matching_answer(generated, [answer]) is None, generated
    assert matching_answer(" Hà Nội sau đó", ["Hà Nội"]) == "Hà Nội"  # Vietnamese "after that", no Romanian "or"


def test_matching_of_the_nineteenth_pass():
    # What a small English chat model writes after an answer: glosses, renamings, post-nominal letters before a full
    # stop, counts after a name, corrections.
    said = [(" Au, or aurum in Latin.", ["Au"]), (" Mumbai, or Bombay as it was formerly called.", ["Mumbai", "Bombay"]),
            (" Henry VIII of England.", ["Henry VIII"]), (" Isaac Newton FRS.", ["Isaac Newton"]),
            (" Russia 17 million square kilometres.", ["Russia"]), (" sixty seconds.", ["sixty"]), (" 5 odd numbers", ["5"]),
            (" 1969 and over 600 million people watched", ["1969"]), (" William Shakespeare - English playwright", ["William Shakespeare"]),
            (" 0 degrees Celsius or 32 degrees Fahrenheit.", ["0 degrees Celsius"])]
    for generated, answers in said:
        assert matching_answer(generated, answers) == answers[0], generated
    not_said = [(" Paris, or rather Lyon", ["Paris"]), (" Mumbai, or Bombay", ["Mumbai"]), (" Bank of England", ["Bank"]),
                (" Toy Story 2 is a film", ["Toy Story"]), (" 20-odd", ["20"]), (" Paris — wait, no, Lyon.", ["Paris"]),
                (" 1968. Nope, 1969.", ["1968"]), (" Paris, I mean Lyon.", ["Paris"]), (" 5 degrees or 6 degrees", ["5 degrees"]),
                (" William Shakespeare, perhaps English literature's greatest writer.", ["William Shakespeare"])]
    for generated, answers in not_said:
        assert matching_answer(generated, answers) is None, generated


def test_a_correction_to_another_answer_is_not_said_and_narrowing_down_is():
    for generated, answers in ((" 1968 — sorry, 1969.", ["1968"]), (" Sydney. Actually, it's Canberra.", ["Sydney"]),
                               (" Sydney — correction: Canberra.", ["Sydney"]), (" 5, actually 6", ["5"]),
                               (" Paris, or rather Lyon", ["Paris"]), (" Lyon. Oops, I meant Paris", ["Lyon", "Lyons"]),
                               # A longer name or number is another answer.
                               (" 5, actually 50", ["5"]), (" Guinea — sorry, Guinea-Bissau.", ["Guinea"]),
                               (" New York. Actually, New York City.", ["New York"]),
                               # Lower-case words after "or rather" that lead into another answer.
                               (" Paris, or rather the city of Lyon", ["Paris"]), (" Sydney, or more precisely the capital, Canberra", ["Sydney"]),
                               (" 1968, or rather nineteen sixty-nine", ["1968"]), (" 5, or more precisely six", ["5"])):
        assert matching_answer(generated, answers) is None, generated
    for generated, answers in ((" Paris. Sorry, Paris.", ["Paris"]), (" Paris or more precisely its centre.", ["Paris"]),
                               (" Paris, or rather its Île de la Cité.", ["Paris"]), (" one second.", ["one"])):
        assert matching_answer(generated, answers) == answers[0], generated
    # A correction word qualifies the answer even where what follows adds to it rather than correcting it.
    for generated, answers in ((" Paris. Actually, it is the largest city too.", ["Paris"]), (" Paris. Actually, Paris is older.", ["Paris"]),
                               (" Paris, sorry.", ["Paris"]), (" Canberra. Actually, Sydney is often mistaken for the capital.", ["Canberra"]),
                               (" 1969. Actually, 600 million people watched it.", ["1969"])):
        assert matching_answer(generated, answers) is None and qualifier(generated, answers) in ("Actually", "sorry"), generated
    # An ordinal after a number word is still a fraction or an ordinal: "one third" is not one, "twenty second" not twenty.
    assert matching_answer(" one third", ["one"]) is None and matching_answer(" twenty second", ["twenty"]) is None


def test_a_quantity_counted_in_a_bigger_unit_of_its_kind_is_said_and_a_rate_is_not():
    for generated, answer in ((" 365 days a year.", "365 days"), (" 12 inches per foot.", "12 inches"), (" 60 minutes an hour", "60 minutes"),
                              (" 1,609 metres per mile.", "1,609 metres"), (" 52 weeks in a year", "52 weeks"), (" 2,000 pounds to a ton", "2,000 pounds"),
                              (" 1000 meters per kilometer", "1000 meters")):
        assert matching_answer(generated, [answer]) == answer, generated
    # What follows the bigger unit is read as what follows the answer: a hedge, a denial, a word going on.
    for generated, answer in ((" 3 hours a day or 4", "3 hours"), (" 3 days a week. No, 4 days", "3 days"),
                              (" 365 days a year — sorry, 366", "365 days"), (" 3 days a year-long", "3 days")):
        assert matching_answer(generated, [answer]) is None, generated
    # Another kind, a smaller unit, no unit at all, or money: a rate.
    for generated, answer in ((" 5 km per hour", "5 km"), (" 5 miles per hour", "5 miles"), (" 100 years per day", "100 years"), (" 8 a day", "8"),
                              (" $80 a barrel", "$80"), (" 5 kcal per gram", "5 kcal")):
        assert matching_answer(generated, [answer]) is None, generated


def test_a_cut_may_hide_an_answer_only_where_one_begins_the_generation():
    # An answer said up to the cut, or one the generation stops partway through: a higher limit may say it.
    assert a_cut_may_hide_an_answer(" Paris", ["Paris"])
    assert a_cut_may_hide_an_answer(" 10,000,", ["10,000,000"])
    assert a_cut_may_hide_an_answer(" Leonardo da V", ["Leonardo da Vinci"])
    # Another answer, or prose: no limit makes these said.
    assert not a_cut_may_hide_an_answer(" a symbol of the city's history and culture. It's a place", ["Paris"])
    assert not a_cut_may_hide_an_answer(" Alfred Jas", ["Leonardo da Vinci"])
    # The README's examples: a number word, a list's bullet, a quote cut before the answer.
    assert a_cut_may_hide_an_answer(" twenty-fi", ["twenty-five"]) and a_cut_may_hide_an_answer(" - Leonardo da V", ["Leonardo da Vinci"])
    assert a_cut_may_hide_an_answer(' "', ["Paris"]) and a_cut_may_hide_an_answer(" 1,5", ["1,500"])
    # Tokens that wrote nothing at all (a padded embedding's rows) began no answer: a higher limit is no advice.
    assert not a_cut_may_hide_an_answer("", ["Paris"]) and not a_cut_may_hide_an_answer("  ", ["Paris"])


def test_an_answer_named_later_in_the_line_is_found_for_the_failure_text():
    assert answer_named_later("The Chernobyl disaster occurred in the year 1986.", ["1986"]) == "1986"
    assert answer_named_later(" Frescoes by Leonardo da Vinci", ["Leonardo da Vinci", "Leonardo"]) == "Leonardo da Vinci"
    # Every rule of matching holds there too: "19865" names no 1986, and the next line is not read.
    assert answer_named_later(" in 19865", ["1986"]) is None
    assert answer_named_later(" no\n1986", ["1986"]) is None
    # The first word is the answer generation judged, not one named later (with or without a leading space).
    assert answer_named_later(" Paris, the", ["Paris"]) is None and answer_named_later("Paris, the", ["Paris"]) is None


def test_an_at_sign_a_backslash_or_a_tilde_glued_between_words_makes_another_word():
    for generated in (" Paris@Lyon", " Paris\\Lyon", " Paris~Lyon"):
        assert matching_answer(generated, ["Paris"]) is None, generated
    assert matching_answer(" Paris~", ["Paris"]) == "Paris" and matching_answer(" Paris @ noon", ["Paris"]) == "Paris"


def test_the_benign_prose_pass_ordinary_descriptions_after_an_answer_are_no_qualifiers():
    # From an outside review of plain prose that the closed list had marked qualified.
    for generated, answer in ((" महात्मा गांधी ने नमक सत्याग्रह किया।", "महात्मा गांधी"),  # "या" inside a past tense
                              (" Portland, OR", "Portland"), (" Boston, MA.", "Boston"),  # state abbreviations
                              (" Mercury, which has no moons.", "Mercury"), (" Peter Pan, the boy who never grew up", "Peter Pan"),
                              (" The Colosseum, which could hold 50,000 people", "The Colosseum"),
                              (" Tokyo, with an estimated 37 million residents", "Tokyo"), (" Harvard (est. 1636)", "Harvard"),
                              (" Paris. I hope this helps!", "Paris"), (" Paris. Anything else you'd like to know?", "Paris"),
                              (" Mumbai, otherwise known as Bombay", "Mumbai"), (" 東京は今でも日本の首都です", "東京"),
                              (" Berlin, nicht nur die Hauptstadt", "Berlin"), (" Madrid, no solo la capital", "Madrid")):
        assert matching_answer(generated, [answer]) == answer, generated
    # Their near neighbours that do qualify: a denial with a copula, a hedged amount, a question about the answer.
    for generated, answer in ((" Sydney, which is not the capital", "Sydney"), (" 1450 (est.)", "1450"),
                              (" Paris?", "Paris"), (" Paris, I hope.", "Paris"), (" दिल्ली, या मुंबई", "दिल्ली")):
        assert matching_answer(generated, [answer]) is None, generated


def test_matching_of_the_twenty_seventh_pass():
    # A list word written with a capital after another word is part of a name or title, not a qualifier.
    for generated, answer in ((" Richard Curtis, director of Love Actually", "Richard Curtis"),
                              (" Terence Young, who directed Dr. No", "Terence Young"),
                              (" Oasis, known for Don't Look Back in Anger", "Oasis"),
                              (" Szczecin, on the Oder River", "Szczecin"),
                              # A dash before a possessive of two words, or a nationality: prose.
                              (" Brazil — South America's largest country", "Brazil"),
                              (" Oman — Omani sultanate", "Oman"), (" Brazil - South American country", "Brazil"),
                              # A symbol and its atomic number; a bare number beside a number of another size.
                              (" Au 79", "Au"), (" 1969, 600 million watched", "1969"), (" July 20, 1969", "July 20")):
        assert matching_answer(generated, [answer]) == answer, generated
    for generated, answer, word in ((" Paris. Actually, Paris is older", "Paris", "Actually"), (" Paris, I believe", "Paris", "I believe"),
                                    (" Paris (Maybe)", "Paris", "Maybe"), (" Paris. Don't forget Lyon", "Paris", "n't"),
                                    # Lists and ranges of amounts or dates of one kind.
                                    (" 1969, 1970", "1969", "1970"), (" $5, $6", "$5", "$6"), (" 5 km, 6 km", "5 km", "6 km"),
                                    (" July 20 – July 24", "July 20", "July 24"), (" 20 July to 24 July 1969", "20 July", "24 July"),
                                    # Hedges and corrections the 26th list lacked.
                                    (" Warszawa, chyba", "Warszawa", "chyba"), (" Amsterdam, denk ik", "Amsterdam", "denk ik"),
                                    (" Canberra (edit: Sydney)", "Canberra", "edit:"), (" Toronto, err, Ottawa", "Toronto", "err")):
        assert matching_answer(generated, [answer]) is None, generated
        assert qualifier(generated, [answer]) == word, generated


def test_matching_of_the_twenty_eighth_pass():
    # ", or" and a lower-case word glosses a name or a symbol, not another one offered, nor an amount.
    assert matching_answer(" Au, or aurum in Latin", ["Au"]) == "Au"
    for generated, answer in ((" Edison, or one of his assistants", "Edison"), (" Napoleon, or his brother", "Napoleon"),
                              (" 6 GB, or less", "6 GB"), (" 20 °C, or warmer", "20 °C"),
                              # An arrow typed in ASCII offers another answer, as "→" does.
                              (" Canberra -> Sydney", "Canberra"), (" 1968 => 1969", "1968"),
                              # Hedges the 27th list lacked; "может" as "maybe", alone or before another answer.
                              (" Canberra, as I recall.", "Canberra"), (" 1968 (I misspoke, 1969)", "1968"),
                              (" Oslo, kanskje", "Oslo"), (" Москва, может Петербург", "Москва"), (" 東京、あるいは大阪", "東京")):
        assert matching_answer(generated, [answer]) is None, generated
    assert matching_answer(" Москва, которая может похвастаться метро.", ["Москва"]) == "Москва"  # "can", in a description


def test_matching_of_the_twenty_ninth_pass():
    # "not to be confused with" names another thing of the answer's name, which the answer is not: no denial of it.
    for generated in (" Paris, not to be confused with Paris, Texas.", " Paris (not to be confused with the city in Texas)"):
        assert matching_answer(generated, ["Paris"]) == "Paris", generated
    assert matching_answer(" Paris, not to be confused with Lyon, or Marseille", ["Paris"]) is None  # its "or" still hedges
    # "technically" closing a clause hedges what it follows; before a description it is part of it.
    for generated, answer in ((" Edison. Well, Swan technically.", "Edison"), (" Amsterdam, technically.", "Amsterdam")):
        assert qualifier(generated, [answer]) == "technically", generated
    assert matching_answer(" Mercury, technically the smallest planet", ["Mercury"]) == "Mercury"


def test_matching_of_the_twenty_ninth_pass_outside_review():
    not_said = (
        # A modal outside a relative clause: a pronoun's, or a relative word's that opens a sentence.
        (" Sydney. It may be Canberra.", "Sydney"), (" Jupiter. It may have as many as 95 moons.", "Jupiter"),
        (" Sydney. Which could be Canberra.", "Sydney"),
        # "that" after a verb that takes a clause, or opening a sentence, begins no relative clause.
        (" 1969. Conspiracy theorists claim that the landing never happened.", "1969"),
        (" Mercury, and note that it has no moons.", "Mercury"), (" Sydney. That could be Canberra.", "Sydney"),
        # Another amount offered after an amount is no restatement in another unit; a bracket's words after one are read.
        (" 20 minutes, or 30 at rush hour.", "20 minutes"), (" 365 days, or 366 in a leap year.", "365 days"),
        (" 24 hours or 25 hours during DST changes.", "24 hours"), (" 5 km (6 maybe).", "5 km"),
        (" 8 hours (7 for adults over 65, though).", "8 hours"), (" 1,000 people (2,000 according to some).", "1,000 people"),
        # Approximations and bounds after an amount, in more wordings and languages.
        (" 2,000 people, at the very least.", "2,000 people"), (" 37 million, around.", "37 million"),
        (" 3,2 millones aprox.", "3,2 millones"), (" 1947 के आसपास", "1947"), (" 1923 civarı", "1923"),
        (" 1,5 miljoen, ongeveer.", "1,5 miljoen"), (" 3000 BC, at the latest.", "3000 BC"), (" 5km 정도입니다.", "5km"),
        # Hedges and contrasts the 28th list lacked.
        (" Paris, to my knowledge.", "Paris"), (" Paris (90% confident).", "Paris"), (" Paris. Ignore that, it's Lyon.", "Paris"),
        (" Ankara, ama İstanbul daha büyük.", "Ankara"), (" Warszawa, ale Kraków był stolicą wcześniej.", "Warszawa"),
        (" William Shakespeare, whose authorship some dispute.", "William Shakespeare"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated
    said = (
        # A relative clause's modal, a few words after its relative word; a restatement in a unit still says it.
        (" Paris, where it may rain often.", "Paris"), (" The Nile, where crocodiles may be found.", "The Nile"),
        (" Mercury, the planet that has no moons.", "Mercury"), (" 5 cm (2 in)", "5 cm"), (" 12 inches, or 30 cm", "12 inches"),
        # A year's estimate dates a figure.
        (" 37 million (2023 est.)", "37 million"), (" 67 million (2023 estimate)", "67 million"),
        # A number and its scale word with a capital is no name; after a name's abbreviation a sentence may begin.
        (" 5 Millionen Einwohner", "5 Millionen"), (" 83 Millionen Menschen leben in Deutschland.", "83 Millionen"),
        (" Martin Luther King Jr. He delivered the speech in 1963.", "Martin Luther King Jr."),
        (" Washington, D.C. The city was founded in 1790.", "Washington, D.C."), (" Berlin, rund um die Uhr", "Berlin"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    assert matching_answer(" U.S. Virgin Islands", ["U.S."]) is None  # a name that goes on


def test_matching_of_the_thirtieth_pass_outside_review():
    not_said = (
        # Hedges, bounds and corrections in wordings the 29th list lacked.
        (" Paris, to the best of my knowledge.", "Paris"), (" Paris, as far as I'm aware.", "Paris"), (" 5,000, at minimum.", "5,000"),
        (" $500, tops.", "$500"), (" 5,000, nearly.", "5,000"), (" 10 miljoner, ungefär.", "10 miljoner"),
        (" Sydney. The right answer is Canberra.", "Sydney"), (" 1968. Make it 1969.", "1968"),
        (" Sydney. I take that back: Canberra.", "Sydney"),
        # "But" and "maybe" in more languages; Chinese 但 alone.
        (" Ankara, belki İstanbul.", "Ankara"), (" 北京，但上海是最大的城市。", "北京"), (" Helsinki, mutta Turku oli ennen pääkaupunki.", "Helsinki"),
        # ", or at least" offers a doubt, no gloss; "that" after "confirmed" or "explain" begins no relative clause.
        (" Edison, or at least his lab.", "Edison"), (" 1969. NASA has confirmed that no one has returned since 1972.", "1969"),
        # A qualifier between a relative word and its modal is read.
        (" Jupiter, which I think may have 95 moons.", "Jupiter"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated
    said = (
        (" Stephen Hawking CH CBE FRS", "Stephen Hawking"), (" Tim Berners-Lee OM KBE", "Tim Berners-Lee"),
        (" Jupiter, whose core could be rocky.", "Jupiter"), (" Mercury, which, unlike Venus, has no moons.", "Mercury"),
        (" Jupiter, a gas giant which, according to NASA, may have 95 moons.", "Jupiter"),
        (" Paris, non pas Lyon.", "Paris"), (" Lisboa, e não o Porto.", "Lisboa"),
        (" Washington, D.C. Many people visit it each year.", "Washington, D.C."),
        (" Martin Luther King Jr. Every January, Americans honour him.", "Martin Luther King Jr."),
        # A figure for another case in brackets is a note; one that ends a clause with "nearly" describes another amount.
        (" 20 minutes (30 at rush hour)", "20 minutes"), (" 37 million, nearly a third of Japan.", "37 million"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated


def test_matching_of_the_thirty_first_pass_outside_review():
    # The 29th and 30th passes' words left benign prose unsaid: an approximation after a name that holds a number, a
    # name written with a list word, "minimum" describing something else, CJK characters inside other words, Portuguese
    # "o" and Serbian "u" after a comma, English "ale" and Spanish "ama".
    said = (
        (" Apollo 11, which brought back roughly 22 kg of lunar samples.", "Apollo 11"),
        (" COVID-19, which killed an estimated 7 million people.", "COVID-19"), (" 7-Eleven, with roughly 85,000 stores.", "7-Eleven"),
        (" 1918, when Max Planck won the Nobel Prize in Physics.", "1918"), (" $7.25, the federal minimum wage since 2009.", "$7.25"),
        (" 2001年9月11日，纽约世贸中心遭到袭击。", "2001年9月11日"), (" 1392년, 정도전이 조선을 세웠다.", "1392년"),
        (" Pelé, o Rei do Futebol.", "Pelé"), (" São Paulo, o maior município do Brasil.", "São Paulo"), (" Beograd, u Srbiji.", "Beograd"),
        (" Burton upon Trent, famous for its pale ale.", "Burton upon Trent"), (" Lionel Messi, quien ama el fútbol desde niño.", "Lionel Messi"),
        # Relative clauses with "when", "whom", a preposition before "which", a negation after the modal.
        (" 1969, when humans could first walk on the Moon.", "1969"),
        (" Abraham Lincoln, whom no president could match in eloquence.", "Abraham Lincoln"),
        (" Mercury, on which there is no atmosphere to speak of.", "Mercury"),
        (" Beethoven, who was deaf and could not hear his last works.", "Beethoven"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    not_said = ((" 5km 정도입니다.", "5km"), (" 1947 के आसपास", "1947"), (" 5,000 max.", "5,000"), (" 5000左右", "5000"),
                (" Gabriel García Márquez, o Gabo para los amigos.", "Gabriel García Márquez"), (" Warszawa, ale Kraków", "Warszawa"),
                (" Warszawa, ale może Kraków.", "Warszawa"), (" Sydney, which is not what could be called the capital", "Sydney"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated


def test_matching_of_the_thirty_second_pass_outside_review():
    # Words of the list in another sense: Portuguese "no" ("in the") in a Portuguese line, Italian "nei", Tagalog
    # "may", "wait" and "rather" and "pardon" and "debated" and "disputes" as ordinary words, "false teeth".
    said = ((" Brasília, localizada no centro do país.", "Brasília"), (" 1822, no dia 7 de setembro.", "1822"),
            (" Roma, nei pressi del Tevere.", "Roma"), (" Maynila, na may populasyon na 1.8 milyon.", "Maynila"),
            (" Tokyo, where commuters wait for packed trains.", "Tokyo"), (" Jupiter, a rather large gas giant.", "Jupiter"),
            (" Gerald Ford, who granted Richard Nixon a pardon in 1974.", "Gerald Ford"),
            (" Abraham Lincoln, who debated Stephen Douglas in 1858.", "Abraham Lincoln"),
            (" Geneva, where the WTO resolves trade disputes.", "Geneva"), (" George Washington, who famously wore false teeth.", "George Washington"),
            (" Amsterdam, met maar liefst 900.000 inwoners.", "Amsterdam"), (" 1969. There is evidence that cannot be faked.", "1969"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    # A relative clause of the answer that negates its being it denies it, as "which is not the capital" does.
    not_said = ((" Sydney, which has never been Australia's capital.", "Sydney"), (" Sydney, which cannot be the capital.", "Sydney"),
                (" Sydney, no it's Canberra.", "Sydney"), (" Paris — wait, Lyon.", "Paris"), (" Paris; rather, Lyon.", "Paris"),
                (" Oslo, nei, Bergen.", "Oslo"), (" Alexander Graham Bell (Antonio Meucci disputes this)", "Alexander Graham Bell"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated


def test_matching_of_the_thirty_third_pass_outside_review():
    # A later sentence that asks whether the answer is right, doubts it, asks to check it, or offers another answer
    # without a list word.
    not_said = ((" Paris. Right?", "Paris"), (" Paris. Is that correct?", "Paris"), (" 1969. Am I right?", "1969"),
                (" Canberra. Is it?", "Canberra"), (" Paris. Who knows.", "Paris"), (" Paris. Take with a grain of salt.", "Paris"),
                (" Paris. Please verify.", "Paris"), (" Paris [citation needed]", "Paris"), (" Paris. And Lyon.", "Paris"),
                (" Paris. Lyon, too.", "Paris"), (" Paris. Lyon is also possible.", "Paris"), (" 1969. 1970 is also possible.", "1969"),
                (" Paris. Another answer is Lyon.", "Paris"), (" 1450, approximately 1455.", "1450"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated
    # Their neighbours: a later question that asks something else, a later sentence about the answer, a brand's firm,
    # a chemical symbol that is also a sentence's first word followed by a description of its element, a figure's
    # history, an approximation of another figure.
    said = ((" Paris. Anything else you'd like to know?", "Paris"), (" Paris. It is also the largest city.", "Paris"),
            (" Paris. France is also famous for wine.", "Paris"), (" Paris, as many sources confirm.", "Paris"),
            (" Coca-Cola Company.", "Coca-Cola"), (" Samsung Electronics Co., Ltd.", "Samsung Electronics"),
            (" He, a noble gas.", "He"), (" As, atomic number 33", "As"), (" He, number 2 on the periodic table", "He"),
            (" 8,849 m, revised from 8,848 m in 2020", "8,849 m"), (" 3M, with approximately 92,000 employees.", "3M"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    # A symbol that begins a sentence about something else is still no element.
    for generated, answer in ((" I, a language model, cannot say.", "I"), (" No, the capital is Lyon.", "No")):
        assert matching_answer(generated, [answer]) is None, generated


def test_matching_of_the_thirty_fourth_pass_outside_review():
    # The 33rd pass's later-sentence rules read too much: a tag question on a comment, a request about something else,
    # a capitalised common noun, another name of the answer; they are held to sentences that only ask, doubt or offer.
    said = ((" Paris. Pretty cool, right?", "Paris"), (" Paris. Want the correct pronunciation?", "Paris"),
            (" Paris. Please check out the Louvre while there.", "Paris"), (" Paris. Anyone who knows France knows that.", "Paris"),
            (" Paris. It is correct.", "Paris"), (" Paris. Yes, that is correct.", "Paris"),
            (" Europa. Life is also possible there.", "Europa"), (" Beijing. Also Peking.", "Beijing"),
            (" General Motors Company", "General Motors"), (" He: atomic number 2", "He"), (" I, the halogen", "I"),
            (" In, which is indium", "In"), (" No, an actinide", "No"), (" 8,849 m, as revised in 2020", "8,849 m"),
            (" 8,849 m, per the 2020 revised survey", "8,849 m"), (" 1.4 billion people, out of approximately 8 billion", "1.4 billion people"),
            (" 12 km, or approximately 7.5 miles", "12 km"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    not_said = ((" Paris. Agree?", "Paris"), (" Paris. Would you agree?", "Paris"), (" Paris. Is my answer correct?", "Paris"),
                (" Paris. Source needed.", "Paris"), (" Paris. Fact-check me.", "Paris"), (" Paris. Who can say.", "Paris"),
                (" Paris. Lyon would also fit.", "Paris"), (" Paris. Lyon is equally valid.", "Paris"),
                (" Paris. A second option is Lyon.", "Paris"), (" 1969. Also 1970.", "1969"),
                (" No, the symbol Nb belongs to niobium.", "No"), (" No, the element is niobium, not nobelium.", "No"),
                (" I, for one, think so.", "I"), (" 1970, since corrected from 1970 to 1969", "1970"),
                (" 8 hours, it takes approximately 9", "8 hours"), (" 330 m, standing approximately 300 metres", "330 m"),
                (" 206, with some counts giving roughly 213 bones", "206"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated


def test_matching_of_the_review_of_the_thirty_fourth_pass():
    # A review of the 33rd and 34th passes' rules: the answer itself in a later sentence offers nothing else; estimates
    # of another figure, what some museums give, "a number of" describe nothing about the answer.
    said = ((" Paris. Paris is a valid answer.", "Paris"), (" Tokyo, with estimates of 37 million residents.", "Tokyo"),
            (" Paris, with some museums giving free entry on Sundays.", "Paris"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    not_said = ((" No, a number of elements share this.", "No"), (" I, a number of times, said so.", "I"),
                (" Paris. Anything else? Is that correct?", "Paris"), (" 206, with some counts giving roughly 213 bones", "206"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated


def test_matching_of_the_forty_seventh_pass():
    # Descriptions and a chat answer's closing words hold "or", a second negation or "not" of another thing; a later
    # sentence that changes the answer, or calls another one right, qualifies it.
    said = ((" Paris, nicknamed the City of Light or the City of Love.", "Paris"),
            (" Paris, where you can visit the Louvre or the Eiffel Tower.", "Paris"),
            (" Paris. Let me know if you'd like more details or have other questions.", "Paris"),
            (" Mercury, which has no moons or rings.", "Mercury"), (" Mercury, which has no moons and no rings.", "Mercury"),
            (" Paris, France (not Paris, Texas).", "Paris"), (" Georgia, the country, not the US state.", "Georgia"),
            (" Paris. I hope that answers your question!", "Paris"), (" Paris. Don't forget to visit the Louvre!", "Paris"),
            (" Paris.The capital of Germany is Berlin.", "Paris"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    assert matching_answer(" 8,849 metres (29,032 ft) above sea level", ["8,849 metres"], cut=True) == "8,849 metres"
    not_said = ((" Paris. I'll go with Lyon.", "Paris", "I'll go with"), (" Paris. On second thoughts, Lyon.", "Paris", "On second thoughts"),
                (" Paris. Updated answer: Lyon.", "Paris", "Updated answer"), (" Paris. Lyon is the answer.", "Paris", "the answer"),
                (" Paris. The answer is (C) Lyon.", "Paris", "The answer"), (" Paris. Lyon or Marseille are options too.", "Paris", "or"),
                (" Paris, which is the capital, or Lyon.", "Paris", "or"), (" Paris. Either that or Lyon.", "Paris", "or"),
                (" Paris. Don't forget Lyon", "Paris", "n't"), (" Sydney, which has never been the capital and never will be.", "Sydney", "never"))
    for generated, answer, word in not_said:
        assert matching_answer(generated, [answer]) is None, generated
        assert qualifier(generated, [answer]) == word, generated


def test_matching_of_the_forty_eighth_pass():
    # The 47th pass's rules, attacked: "or" after the answer said again, or before an open choice, still offers
    # another; a relative clause of the speaker's doubts; more wordings of a changed answer, and the answer itself named
    # in one is none; more naming words and chat closers describe.
    said = ((" Paris, known locally as Paname or the City of Light.", "Paris"), (" Beijing, also spelled Peking or Pekin.", "Beijing"),
            (" Paris. I hope this answer helps!", "Paris"), (" Paris. Do not hesitate to ask if you have more questions.", "Paris"),
            (" Paris.It's the capital of France.", "Paris"), (" Neil Armstrong. Armstrong is right.", "Neil Armstrong"),
            (" Paris. After checking, Yes.", "Paris"), (" Oxygen, without which we could not breathe.", "Oxygen"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
    not_said = ((" Paris. It's Paris or Évry.", "Paris", "or"), (" Red. Well, red or orange.", "red", "or"),
                (" Paris. It's Paris, or else Lyon.", "Paris", "or"), (" 1969. That was the year, or close to it.", "1969", "or"),
                (" Paris, known as the City of Light, or Lyon.", "Paris", "or"),
                (" Paris, which I'm not sure about.", "Paris", "I'm not"), (" Sydney, which might be the capital.", "Sydney", "might"),
                (" Paris. Don't forget to consider Lyon.", "Paris", "n't"), (" Paris. I'm going with Lyon.", "Paris", "I'm going with"),
                (" Paris. The correct city is Lyon.", "Paris", "The correct city is"), (" Paris. Lyon is my final answer.", "Paris", "is my final answer"),
                (" Paris. I'll go with Lyon, since it's older.", "Paris", "I'll go with"))
    for generated, answer, word in not_said:
        assert matching_answer(generated, [answer]) is None, generated
        assert qualifier(generated, [answer]) == word, generated


def test_matching_of_the_forty_ninth_pass():
    # The 48th pass's rules, attacked: a name holding the answer is another one; a closer's words are no cover for a
    # hedge; the speaker praising, and "may be" before a possessive, describe.
    not_said = ((" Niger. Final answer: Nigeria.", "Niger"), (" Guinea. Final answer: Guinea-Bissau.", "Guinea"),
                (" Sudan. Updated answer: South Sudan.", "Sudan"), (" Paris. Don't forget to take this with a grain of salt.", "Paris"),
                (" Paris. Don't hesitate to consider Lyon as well.", "Paris"))
    for generated, answer in not_said:
        assert matching_answer(generated, [answer]) is None, generated
    said = ((" Paris, which I can't recommend enough!", "Paris"), (" Shakespeare, who may be England's greatest writer.", "Shakespeare"),
            (" 1969. To be precise, July 1969.", "1969"), (" Paris. I pick Paris, France.", "Paris"))
    for generated, answer in said:
        assert matching_answer(generated, [answer]) == answer, generated
