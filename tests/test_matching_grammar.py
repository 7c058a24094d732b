"""Answer matching against small grammars of answers: an answer followed by what ends it is said; followed by what
carries it on into another answer (a longer number, a longer name, another word) it is not.

The examples in test_matching.py pin single cases; these draw answers and what follows them from grammars of
numbers, number words, names and common nouns, so that a rule that holds for the example but not for its class
shows up here.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from factcheck.says.matching import matching_answer, qualifier

# ---- numbers ---------------------------------------------------------------------------------

integers = st.integers(min_value=0, max_value=10**7).map(str)
decimals = st.tuples(st.integers(0, 999), st.integers(0, 99)).map(lambda p: f"{p[0]}.{p[1]}")
numbers = st.one_of(integers, decimals)
years = st.integers(min_value=1000, max_value=2099).map(str)
# What ends a number: punctuation, a unit, a lower-case word, a clause.
number_endings = st.sampled_from(["", ".", ",", ", which", ". The", " years", " km", " people", " in total", " and then",
                                  ")", " (in all)", "!", ";", " metres", " degrees", " times", "\nQ:"])
# What carries a number on into another number: a decimal part, a thousands group, a ratio, a fraction, a range, a
# power, a product, a scale word.
number_continuations = st.sampled_from([".5", ",000", ":30", "/2", "^3", "-4", "\u20134", "\u20144", "~7", " \u00d7 10^3",
                                        " x 10", "**2", " million", " billion", "-million", " thousand", " hundred",
                                        " to 10", " or 6", " 1/2", " and a half", " bn", " BC", " B.C.",
                                        " - 6", " \u2013 6", " \u2014 6", " / 2", " ~ 7"])


@given(number=numbers, ending=number_endings)
def test_a_number_followed_by_what_ends_it_is_said(number, ending):
    assert matching_answer(f" {number}{ending}", [number]) == number


@given(number=numbers, going_on=number_continuations, ending=number_endings)
def test_a_number_carried_on_into_another_number_is_not_said(number, going_on, ending):
    assert matching_answer(f" {number}{going_on}{ending}", [number]) is None


@given(number=integers, digits=st.integers(0, 9).map(str))
def test_a_number_is_not_the_start_of_a_longer_one(number, digits):
    assert matching_answer(f" {number}{digits}", [number]) is None


@given(year=years, ending=st.sampled_from(["", ".", ",", " AD", " CE", " in Paris", ", when", " and 1900"]))
def test_a_year_followed_by_what_ends_it_is_said(year, ending):
    assert matching_answer(f" {year}{ending}", [year]) == year


@given(year=years, going_on=st.sampled_from(["s", "'s", " BC", " BCE", " B.C.", "-1955", "\u20131955", "/1880", ".5"]))
def test_a_year_carried_on_into_another_date_is_not_said(year, going_on):
    # A decade, a year before Christ, a range or a season ("1879/1880") is another answer.
    if going_on == "'s" and not year.endswith("0"):
        going_on = "s"  # "1879's" reads as the year's ("1879's census"); only a decade's "'s" carries it on
    assert matching_answer(f" {year}{going_on}", [year]) is None


# ---- number words ----------------------------------------------------------------------------

tens = st.sampled_from(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
units = st.sampled_from(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@given(word=st.one_of(tens, units), ending=st.sampled_from(["", ".", ",", " years", " people", " of them", " in all"]))
def test_a_number_word_followed_by_what_ends_it_is_said(word, ending):
    assert matching_answer(f" {word}{ending}", [word]) == word


@given(word=tens, unit=units, joint=st.sampled_from(["-", " "]))
def test_a_tens_word_carried_on_by_a_unit_is_not_said(word, unit, joint):
    assert matching_answer(f" {word}{joint}{unit}", [word]) is None


@given(word=units, scale=st.sampled_from([" hundred", " thousand", " million", "-million", " and a half", " point five",
                                         " or six", " to ten", " - nine", " \u2013 nine"]))
def test_a_number_word_carried_on_by_a_scale_is_not_said(word, scale):
    assert matching_answer(f" {word}{scale}", [word]) is None


# ---- names -----------------------------------------------------------------------------------

lower = "abcdefghijklmnopqrstuvwxyz"
capitalised = st.tuples(st.sampled_from(lower.upper()), st.text(alphabet=lower, min_size=2, max_size=9)).map("".join)
names = st.lists(capitalised, min_size=1, max_size=3).map(" ".join)
# What ends a name: punctuation, a lower-case word, a possessive, a list joined by "and", a clause.
name_endings = st.sampled_from(["", ".", ",", ", France", " is the capital", " and Lyon", "'s", " (the city)", " in 1990",
                                "!", ";", ":", " of course", " \u2013 the city", " - a country", "\n"])
# What carries a name on into another name: a hyphen, a further capitalised word, a particle before a capital.
name_continuations = st.one_of(
    capitalised.map(lambda word: f"-{word}"),
    capitalised.map(lambda word: f"\u2013{word}"),
    capitalised.map(lambda word: f" {word}"),
    st.tuples(st.sampled_from(["de", "del", "upon", "am", "of", "van", "von der", "de los", "bin", "ibn", "ben", "op",
                               "aan den", "ob der", "zu"]), capitalised).map(lambda p: f" {p[0]} {p[1]}"),
    capitalised.map(lambda word: f" d'{word}"),
    capitalised.map(lambda word: f" al-{word}"),
)


@given(name=names, ending=name_endings)
def test_a_name_followed_by_what_ends_it_is_said(name, ending):
    assert matching_answer(f" {name}{ending}", [name]) == name


@given(name=names, going_on=name_continuations, ending=name_endings)
def test_a_name_carried_on_into_a_longer_name_is_not_said(name, going_on, ending):
    assert matching_answer(f" {name}{going_on}{ending}", [name]) is None


@given(name=names, going_on=name_continuations, ending=name_endings)
def test_the_longer_name_given_as_an_alias_is_said(name, going_on, ending):
    longer = f"{name}{going_on}"
    assert matching_answer(f" {longer}{ending}", [name, longer]) == longer


@given(name=names, glued=st.text(alphabet=lower, min_size=1, max_size=4))
def test_a_name_glued_to_more_letters_is_not_said(name, glued):
    assert matching_answer(f" {name}{glued}", [name]) is None


@given(name=names, before=st.sampled_from(["not ", "the city of ", "maybe ", "either ", "no, "]))
def test_a_name_said_after_other_words_is_not_said(name, before):
    assert matching_answer(f" {before}{name}", [name]) is None


@given(name=names, quotes=st.sampled_from([('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("(", ")"), ("**", "**"), ("_", "_"),
                                           ("\u00ab", "\u00bb"), ("\u00bb", "\u00ab"), ("\u2039", "\u203a"), ("\u203a", "\u2039"),
                                           ("\u200e", ""), ("\u2067", "\u2069"), ("\u200f", "")]))
def test_a_name_in_quotes_brackets_or_emphasis_is_said(name, quotes):
    opening, closing = quotes
    assert matching_answer(f" {opening}{name}{closing}", [name]) == name


# ---- common nouns and adjectives ---------------------------------------------------------------

common = st.text(alphabet=lower, min_size=2, max_size=10)


@given(word=common, ending=st.sampled_from(["", ".", ",", " and", " in colour", "!", " Square"]))
def test_a_common_word_followed_by_what_ends_it_is_said(word, ending):
    # A capitalised word after a common noun starts a new word ("red Square" says red): only names go on so.
    assert matching_answer(f" {word}{ending}", [word]) == word


@given(word=common, going_on=st.one_of(common.map(lambda w: f"-{w}"), st.sampled_from(["++", "#", "&T", ".js"])))
def test_a_common_word_carried_on_into_another_word_is_not_said(word, going_on):
    assert matching_answer(f" {word}{going_on}", [word]) is None


@given(word=common.map(lambda w: w + "n"))
def test_a_word_in_a_negative_contraction_is_not_said(word):
    assert matching_answer(f" {word}'t", [word]) is None


# ---- one answer written several ways ---------------------------------------------------------

hyphens = st.sampled_from(["-", "\u2010", "\u2011", "\u2012", "\u2013"])


@given(first=capitalised, second=capitalised, written=hyphens, expected=hyphens, ending=name_endings)
def test_a_hyphenated_name_is_said_whichever_hyphen_or_dash_joins_it(first, second, written, expected, ending):
    # "Guinea–Bissau" (an en dash) says Guinea-Bissau; only the hyphens and the en dash join words so.
    assert matching_answer(f" {first}{written}{second}{ending}", [f"{first}{expected}{second}"]) is not None


@given(start=years, end=years, written=hyphens, expected=hyphens)
def test_a_range_is_said_whichever_dash_joins_it(start, end, written, expected):
    assert matching_answer(f" {start}{written}{end}.", [f"{start}{expected}{end}"]) is not None


initials = st.lists(st.sampled_from(lower.upper()), min_size=1, max_size=3)


@given(letters=initials, surname=capitalised, written=st.sampled_from([". ", "."]), expected=st.sampled_from([". ", "."]),
       ending=name_endings)
def test_initials_are_said_spaced_or_not(letters, surname, written, expected, ending):
    # "J. K. Rowling" and "J.K. Rowling" are one name.
    def name(joint: str) -> str:
        return joint.join(letters) + ". " + surname
    assert matching_answer(f" {name(written)}{ending}", [name(expected)]) == name(expected)


@given(letters=initials, surname=capitalised, other=capitalised)
def test_initials_of_another_name_are_not_said(letters, surname, other):
    answer = ". ".join(letters) + ". " + surname
    if other != surname:
        assert matching_answer(" " + ". ".join(letters) + ". " + other, [answer]) is None
    assert matching_answer(" " + ".".join(letters) + "." + surname + "son", [answer]) is None


# ---- quantities -------------------------------------------------------------------------------

quantity_units = st.sampled_from(["km", "m", "kg", "\u00b0C", "metres", "feet", "mph", "km/h"])


@given(number=st.one_of(integers, decimals), unit=st.sampled_from(["km", "m", "kg", "\u00b0C", "mph", "km/h", "%", "\u00b0"]),
       written=st.sampled_from([" ", ""]), expected=st.sampled_from([" ", ""]),
       ending=st.sampled_from(["", ".", ",", " high", " long", " (measured)", " away"]))
def test_a_quantity_followed_by_what_ends_it_is_said_with_or_without_a_space(number, unit, written, expected, ending):
    # "5 km" and "5km", "20 °C" and "20°C", "50 %" and "50%" are one quantity (a unit written as a word keeps its space).
    answer = f"{number}{expected}{unit}"
    assert matching_answer(f" {number}{written}{unit}{ending}", [answer]) == answer


@given(number=integers, unit=quantity_units, other=st.sampled_from(["kilometres", "kgs", "mm", "ms"]))
def test_a_quantity_in_another_unit_is_not_said(number, unit, other):
    if not other.startswith(unit):
        assert matching_answer(f" {number}{other}", [f"{number} {unit}"]) is None
    assert matching_answer(f" {number}{unit}{other}", [f"{number} {unit}"]) is None


@given(number=integers, unit=quantity_units.filter(lambda unit: unit[-1].isalpha()),
       going_on=st.sampled_from(["2", "\u00b2", "^2", "/s", "/h", "-long"]))
def test_a_quantitys_unit_carried_on_into_another_unit_is_not_said(number, unit, going_on):
    # "5 km²" is an area, "5 m/s" a speed: neither is 5 km or 5 m.
    assert matching_answer(f" {number} {unit}{going_on}", [f"{number} {unit}"]) is None


@given(number=integers, unit=quantity_units, going_on=st.sampled_from([" 2 in", " 2", " 500 g", " and 6 months", " and a half",
                                                                       " x 3 m", " per hour", "\u00b7h\u207b\u00b9"]))
def test_a_quantity_in_a_compound_product_or_rate_is_not_said(number, unit, going_on):
    # "6 ft 2 in" is not 6 ft, "5 m x 3 m" not 5 m, "5 km per hour" not 5 km.
    assert matching_answer(f" {number} {unit}{going_on}", [f"{number} {unit}"]) is None


qualifying_words = st.sampled_from(["or", "maybe", "perhaps", "probably", "not", "but", "though", "actually", "sorry",
                                    "I think", "I believe", "some say", "unless", "never", "presumably", "IIRC", "my bad",
                                    "erroneously", "‽", "±"])
plain_words = st.sampled_from(["the", "capital", "a", "city", "in", "its", "north", "founded", "by", "with", "of", "and"])


# An answer that is itself a denial ("no", "false") is agreed with, not qualified, by another: "No, it isn't".
not_a_denial = common.filter(lambda word: word not in ("not", "no", "nope", "never", "none", "false", "nein", "non"))


@given(word=not_a_denial, before=st.lists(plain_words, max_size=3), qualifying=qualifying_words,
       after=st.lists(plain_words, max_size=3), pause=st.sampled_from([" ", ", ", ". ", " (", " — ", "; "]))
def test_a_qualifying_word_anywhere_after_the_answer_leaves_it_unsaid_and_is_named(word, before, qualifying, after, pause):
    said = " " + " ".join([word + pause.rstrip(" ") if pause.strip() else word, *before, qualifying, *after])
    if qualifying == "or" and pause == ". " and after:
        # In a sentence of its own, "or" between lower-case words joins things other than answers ("Let me know if
        # you'd like more details or have other questions").
        assert matching_answer(said, [word]) == word or word.lower() in " ".join(before).lower(), said
        return
    assert matching_answer(said, [word]) is None, said
    if before:  # right after the answer, an older rule may have read the word before the qualifiers are looked for
        assert qualifier(said, [word]).lower() == qualifying.lower(), said


@given(word=common, words=st.lists(plain_words, max_size=6), pause=st.sampled_from([" ", ", ", ". ", " — "]))
def test_an_answer_followed_by_plain_words_is_said_and_unqualified(word, words, pause):
    said = " " + word + (pause + " ".join(words) if words else "")
    assert matching_answer(said, [word]) == word, said
    assert qualifier(said, [word]) is None, said


@given(number=st.integers(min_value=1, max_value=10 ** 6).map(str), approximation=st.sampled_from(
    ["approximately", "roughly", "circa", "est.", "at least", "at most", "(estimated)", "or so"]))
def test_an_approximation_qualifies_an_amount_and_only_describes_a_name(number, approximation):
    # "1450, approximately" hedges the year; "Tokyo, with approximately 37 million residents" describes another number.
    assert matching_answer(f" {number}, {approximation}", [number]) is None
    assert matching_answer(f" Tokyo, with {approximation} {number} residents", ["Tokyo"]) == "Tokyo" or approximation == "or so"


@given(number=st.integers(min_value=1, max_value=10 ** 6).map(str), other=st.integers(min_value=2, max_value=10 ** 6).map(str),
       approximation=st.sampled_from(["approximately", "roughly", "circa", "an estimated"]),
       noun=st.sampled_from(["employees", "viewers", "people", "deaths", "stores"]))
def test_an_approximation_of_another_figure_after_an_amount_describes_that_figure(number, other, approximation, noun):
    # "3M, with approximately 92,000 employees" says 3M; "1450, approximately 1455" and "8 hours, it takes
    # approximately 9 hours" offer another figure of the answer's kind.
    assert matching_answer(f" {number}, with {approximation} {other} {noun}.", [number]) == number
    assert matching_answer(f" {number}, {approximation} {other}.", [number]) is None
    assert matching_answer(f" {number} {noun}, it took {approximation} {other} {noun}.", [f"{number} {noun}"]) is None


@given(number=st.integers(min_value=10, max_value=10 ** 5), unit=st.sampled_from([
    ("km²", ["sq km", "square kilometres", "km2", "sq. km"]), ("mph", ["miles per hour", "mph"]),
    ("km/h", ["kph", "km/h", "kilometres per hour", "kmh"]), ("%", ["percent", "per cent", "%"]), ("km", ["kms", "kilometres"])]),
       pick=st.integers(min_value=0, max_value=3), approximation=st.sampled_from(["about ", "around ", "roughly ", ""]))
def test_another_value_of_the_answers_quantity_in_any_spelling_of_its_unit_is_not_said(number, unit, pick, approximation):
    # The 40th pass: "60 mph (about 65 miles per hour)" and "100 km/h (about 110 kph)" were said.
    symbol, spellings = unit
    answer = f"{number}{symbol}" if symbol == "%" else f"{number} {symbol}"
    other = f"{number + 1 + number // 10:,}"
    said = f" {answer} ({approximation}{other}{'' if spellings[pick % len(spellings)] == '%' else ' '}{spellings[pick % len(spellings)]})"
    assert matching_answer(said, [answer]) is None, said
    assert matching_answer(f" {answer} (a record)", [answer]) == answer


@given(hour=st.integers(min_value=1, max_value=11), minute=st.integers(min_value=0, max_value=50), later=st.integers(min_value=1, max_value=9),
       half=st.sampled_from(["a.m.", "p.m.", "am", "PM"]), approximation=st.sampled_from(["about ", "around ", ""]))
def test_a_time_of_day_given_another_value_is_not_said_and_one_described_is(hour, minute, later, half, approximation):
    # The 40th pass: "8:15 a.m. (8:20 a.m.)" was said, a clock time being read as its hour alone.
    answer = f"{hour}:{minute:02d} {half}"
    assert matching_answer(f" {answer} ({approximation}{hour}:{minute + later:02d} {half})", [answer]) is None
    assert matching_answer(f" {answer}, {approximation.strip() or 'around'} {hour}:{minute + later:02d}", [answer]) is None
    assert matching_answer(f" {answer} (local time)", [answer]) == answer


@given(amount=st.integers(min_value=2, max_value=900), scale=st.sampled_from([("billion", "million", 1000), ("million", "thousand", 1000)]),
       currency=st.sampled_from(["euros", "pounds", "yen"]))
def test_a_sum_restated_in_another_currency_or_scale_is_said_and_another_of_its_kind_is_not(amount, scale, currency):
    # The 41st pass: "$5 billion, or about 4.6 billion euros" and "1.4 billion people, or 1,400 million" were not said.
    big, small, factor = scale
    assert matching_answer(f" ${amount} {big}, or about {amount * 9 // 10} {big} {currency}.", [f"${amount} {big}"]) == f"${amount} {big}"
    assert matching_answer(f" {amount} {big} people, or {amount * factor:,} {small}.", [f"{amount} {big} people"]) == f"{amount} {big} people"
    # ... not the same count again in the answer's own unit ("about" hedges it), nor another count of it.
    assert matching_answer(f" {amount} {big} people, or about {amount * factor:,} {small}.", [f"{amount} {big} people"]) is None
    assert matching_answer(f" {amount} {big} people, or {amount * factor + 7:,} {small}.", [f"{amount} {big} people"]) is None


@given(number=st.integers(min_value=2, max_value=10 ** 6), unit=st.sampled_from(["", " km", " people", "%"]),
       approximation=st.sampled_from(["roughly", "approximately", "an estimated"]),
       describing=st.sampled_from(["the size of Texas", "twice the size of France", "a fifth of them", "as hot as the Sun",
                                   "six times that"]))
def test_an_approximation_of_something_else_after_an_amount_leaves_it_said(number, unit, approximation, describing):
    # The 42nd pass: "643,801 km², roughly the size of Texas" and "1969. The mission lasted roughly eight days." were
    # not said: an approximation anywhere after an amount was read as a hedge of it.
    answer = f"{number:,}{unit}"
    if approximation != "an estimated":
        assert matching_answer(f" {answer}, {approximation} {describing}.", [answer]) == answer
    assert matching_answer(f" {answer}. The mission lasted {approximation} eight days.", [answer]) == answer
    assert matching_answer(f" {answer}. Of these, {approximation} {number // 2 + 1:,} are new.", [answer]) == answer
    # ... while one of the answer itself still hedges it, in its sentence or opening the next alone.
    assert matching_answer(f" {answer}, {approximation.removeprefix('an ')}.", [answer]) is None
    assert matching_answer(f" {answer}. {approximation.removeprefix('an ').capitalize()}.", [answer]) is None
    if approximation != "an estimated":  # "909, estimated 1,000" reads as an estimate of another count
        assert matching_answer(f" {answer}. {approximation.capitalize()} {number + 1 + number // 10:,}{unit}.", [answer]) is None


@given(word=st.sampled_from(["Paris", "1969", "6,650 km"]), later=st.sampled_from([
    "In round figures, 2 million people live there.", "Google has 180,000 employees today.", "A recent study shows that 30% agree.",
    "New data shows the mountain grows 4 mm a year.", "At a rough count, 400,000 people worked on it.", "JK Rowling wrote there."]))
def test_a_hedge_wording_about_something_else_in_a_later_sentence_leaves_the_answer_said(word, later):
    # The 41st pass's hedges read anywhere on the line took right answers from descriptive prose (the 42nd pass).
    assert matching_answer(f" {word}. {later}", [word]) == word


@given(years=st.sampled_from([(10, "a decade"), (20, "two decades"), (100, "a century"), (1, "twelve months")]),
       share=st.sampled_from([("50%", "half"), ("25%", "a quarter"), ("71%", "about 7 in 10"), ("75 percent", "three-quarters")]))
def test_an_amount_restated_after_or_as_a_share_or_in_other_time_words_is_said_and_another_is_not(years, share):
    # The 42nd pass: "50%, or half" and "20 years, or two decades" were read as hedges ("5, or 6" still is one).
    count, words = years
    answer = f"{count} years" if count != 1 else "1 year"
    assert matching_answer(f" {answer}, or {words}.", [answer]) == answer
    assert matching_answer(f" {answer}, or {count + 1} years.", [answer]) is None
    percent, in_words = share
    assert matching_answer(f" {percent}, or {in_words}.", [percent]) == percent
    assert matching_answer(f" {percent}, or 90%.", [percent]) is None
    assert matching_answer(" 1.4 billion, or about 18% of the world's population.", ["1.4 billion"]) == "1.4 billion"


@given(number=st.integers(min_value=100, max_value=10 ** 6), unit=st.sampled_from(["", " km", " people"]),
       approximation=st.sampled_from(["Roughly", "Approximately", "About"]))
def test_a_later_sentence_about_another_figure_leaves_the_answer_said_and_one_about_the_answer_does_not(number, unit, approximation):
    # The 43rd pass: "1912. Roughly 1,500 people died." was not said (the search for the sentence's start stopped at the
    # approximation and never saw its capital); "6,650 km. That's roughly right." and "2.1 million. In round figures."
    # were said.
    answer = f"{number:,}{unit}"
    assert matching_answer(f" {answer}. {approximation} {number // 2 + 1:,} of them died.", [answer]) == answer
    assert matching_answer(f" {answer}. That's {approximation.lower()} right.", [answer]) is None
    assert matching_answer(f" {answer}. In round figures.", [answer]) is None
    assert matching_answer(f" {answer}. In round figures, {number * 3:,} more live nearby.", [answer]) == answer
