"""Answer text as answers are compared: a Unicode-compatibility fold and a case fold. Shared by the say-check, which
reads answers with it, and the suites, whose validation must see answers as the say-check will."""

from __future__ import annotations

import functools
import re
import unicodedata

WHITESPACE = re.compile(r"\s+")
# Quotes and leading punctuation a model may put before its answer ("'Paris'", "*Paris*"): stripped from the start
# of a generated answer and of an expected one alike.
LEADING_NOISE = " \t\"'`*_([{“‘’ʼ«»‹›„‚「『《〈【〔〖:¡¿"


def normalise(text: str) -> str:
    """Unicode-compatibility fold, case fold (a dotted capital I and a dotless i fold to a plain i: 'İstanbul' is 'istanbul'),
    collapse whitespace, trim."""
    return WHITESPACE.sub(" ", "".join(map(fold, compatible(text)))).strip()


# Characters whose compatibility form would merge them into the number before them: a power ("10³" would read 103,
# "10⁻³" 10-3) and a vulgar fraction ("1½" would read 11⁄2: it is the mixed fraction 1 1⁄2); after anything else they
# fold as usual ("E=mc²" is E=mc2, "½" is 1⁄2). A trademark sign would read "TM" glued to the word ("Paris™").
_POWER = re.compile(r"(?<=\d)[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+")
_FRACTION_AFTER_A_DIGIT = re.compile(r"(?<=\d) ?([¼½¾⅐-⅞])")
_TRADEMARKS = str.maketrans({"™": " ", "℠": " "})
# A decade written with an apostrophe is the decade: "1960's" is 1960s.
_DECADE_APOSTROPHE = re.compile(r"(?<=\d0)['’]s(?!\w)")
# A degree sign spaced from its scale's letter is one unit: "25° C" is 25°C.
_DEGREE_SPACE = re.compile(r"°\s(?=[CFK](?!\w))")
# Marks that are written or left out at will: Greek accents and breathings (capitals drop them: "ΑΘΗΝΑ" is Αθήνα),
# Russian stress marks ("Москва́"), Arabic short vowels and the tatweel that stretches a word, Hebrew vowel points and
# cantillation, and the Devanagari nukta ("फ्रांस" is फ़्रांस). Left out on both sides; the marks that make another
# letter (Russian й, Greek ϊ) stay.
_OPTIONAL_MARK_SCRIPTS = re.compile("[\u0370-\u03ff\u1f00-\u1fff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f]")
_GREEK_OR_CYRILLIC_MARKS = re.compile("([\u0370-\u03ff\u1f00-\u1fff])([\u0300-\u036f]+)|([\u0400-\u04ff])([\u0300\u0301]+)")
_GREEK_OPTIONAL_MARKS = "\u0300\u0301\u0342\u0313\u0314\u0345"
_ARABIC_HEBREW_AND_DEVANAGARI_MARKS = re.compile("[\u093c\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0610-\u061a\u0640"
                                      "\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")
# A superscript number after a word of four or more letters, or after the punctuation that ends a word, is a footnote
# mark ("Rome¹", "Rome.²"), not part of the text: NFKC would glue it to the word as a digit. After a short word or a
# unit written as a word it stays a power ("km²", "mc²", "5 metres²").
_SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"  # letters to \w, so kept out of the letters before them below
_FOOTNOTE_AFTER_A_WORD = re.compile(rf"(\d[ \u00a0]?)?\b([^\W\d_{_SUPERSCRIPT_DIGITS}]{{4,}})[{_SUPERSCRIPT_DIGITS}]+(?!\w)")
_FOOTNOTE_AFTER_PUNCTUATION = re.compile(rf"(?<=[^\W\d_{_SUPERSCRIPT_DIGITS}][.,;:!?)\]])[{_SUPERSCRIPT_DIGITS}]+(?!\w)")
# A comma, an apostrophe or a space of any width between digit groups is a thousands separator: "1,000", "1 000" and
# "1000" are one
# number (a comma before fewer or more than three digits is not: "1,5" stays a decimal comma; nor a space before a
# compound: "3 100-metre races").
# An apostrophe groups digits in Switzerland ("1'000"), and India groups by two above the thousands ("1,00,000").
_DIGIT_GROUP_SEPARATOR = re.compile(r"(?<=\d)(?:[,'\u2019]|[ \u00a0\u2009\u202f](?!\d{3}-[^\W\d_]))(?=\d{3}(?!\d))"
                                    r"|(?<=\d),(?=(?:\d{2},)*\d{2},\d{3}(?!\d))")
# Decimal digits of every script read as the digits everyone types ("١٩٦٩" and "१९६९" are 1969); NFKC folds only the
# full-width ones.
class _DigitsOfOtherScripts(dict):
    """A str.translate table filled as characters are met (made for all of Unicode up front, it cost 35 ms at import)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        self[code] = str(unicodedata.digit(char)) if code >= 0x80 and unicodedata.category(char) == "Nd" else char
        return self[code]


_DIGITS_OF_OTHER_SCRIPTS = _DigitsOfOtherScripts()
# A decimal part of one or two zeros is no part of the number's value: "5.0", "5.00" and "$5.00" are 5 and $5. Three
# zeros are a thousands group ("5.000" is five thousand in German), and a version's further parts stay ("1.0.1");
# a decimal part that only ends in a zero stays too ("3.10" is a version apart from 3.1).
_ZERO_DECIMALS = re.compile(r"(?<![\d.,])(\d+)[.,]0{1,2}(?!\d|[.,]\d)")
# A currency symbol spaced from its amount, or after it, is the amount: "$ 5" and "5 €" are $5 and €5 (a cent sign
# stays after its number).
_SPACED_SIGN = re.compile(r"([^\w\s]) (?=\d)")
_SIGN_AFTER_AN_AMOUNT = re.compile(r"(?<![\d.,])(?<![^\w\s+\-\u2010-\u2013\u2212])([-+\u2010-\u2013\u2212]?)"
                                   r"(\d[\d.,]*\d|\d) ?([^\w\s¢])(?!\w)")  # not after another sign: "$0$" stays
# The Arabic decimal, thousands and percent signs are the ones everyone types ("٣٫١٤" is 3.14, "٥٠٪" 50%).
_ARABIC_NUMBER_SIGNS = str.maketrans({"\u066b": ".", "\u066c": ",", "\u066a": "%"})
# Other ways of writing one thing after a number: "5 p.m." is 5 pm, "44 B.C." 44 BC, "90º" (an ordinal sign) and
# "90˚" 90°, "6.02 × 10^23" 6.02×10^23; and "Martin Luther King, Jr." is Martin Luther King Jr.
_DOTTED_ERA_OR_TIME = re.compile(r"(?:(?<=\d)|(?<=century)|(?<=millennium))( ?)(?:([AaPp])\.\s?([Mm])\.|([Bb])\.\s?([Cc])\.(?:\s?([Ee])\.)?|([Aa])\.\s?([Dd])\."
                                 r"|([Cc])\.\s?([Ee])\.)")
# The common era's names are the older ones: "44 BCE" is 44 BC, "79 CE" 79 AD, "5th century BCE" 5th century BC.
_COMMON_ERA = re.compile(r"(?:(?<=\d)|(?<=century)|(?<=millennium))( ?)(BCE|CE|bce|ce)(?!\w)")
_DEGREE_LOOKALIKE = re.compile(r"(?<=\d)\s?[º˚]")
_SPACED_PRODUCT = re.compile(r"(?<=\d)\s?([×·⋅])\s?(?=\d)")
_COMMA_BEFORE_A_GENERATION = re.compile(r",\s(?=(?:Jr|Sr)\.?(?!\w))")
# A power written with a caret after a letter is the power NFKC makes of a superscript there: "km^2" is km², km2.
_CARET_AFTER_A_LETTER = re.compile(r"(?<=[^\W\d_])\^(?=\d)")
# English number words, which matching reads too. One written hyphenated or not is one number: "sixty-nine" is sixty
# nine.
DIGIT_WORDS = "one two three four five six seven eight nine".split()
TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
NUMBER_WORDS = ["zero", *DIGIT_WORDS, *"ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(),
                *TENS_WORDS]
_HYPHEN_IN_A_NUMBER_WORD = re.compile(rf"(?<![^\W\d_])({'|'.join(TENS_WORDS)})-(?=(?:{'|'.join(DIGIT_WORDS)})(?!\w))",
                                      re.IGNORECASE)
# A dash between two numbers is a range, spaced or not, of any length: "1914 – 1918" and "1879—1955" are 1914-1918
# and 1879-1955.
_DASH_BETWEEN_NUMBERS = re.compile("(?<=\\d)(?: [-\u2010-\u2015\u2212] |[\u2014\u2015])(?=\\d)")
# A percentage written in words is the percent sign: "92 per cent" and "92 percent" are 92%.
_PERCENT_WORDS = re.compile(r"(?<=\d) ?(?:per ?cent|percent|pct|prozent|por ciento|por cento|pour cent|per cento|procent|prosent"
                            r"|процент(?:ов|а)?|відсотк(?:ів|а)|procentu?)(?!\w)",
                            re.IGNORECASE)
# Characters that are not there for a reader: zero-width spaces and joiners, a soft hyphen, a byte-order mark, and the
# marks, embeddings and isolates that set the direction of right-to-left text. Taken out, the words they sat between
# are one word ("Guinea\u00adBissau" does not say Guinea).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# The space between initials: "J. K. Rowling" and "J.K. Rowling" are one name.
_SPACE_BETWEEN_INITIALS = re.compile(r"(?<![^\W\d_])([^\W\d_]\.) (?=[^\W\d_]\.)")
_INITIAL_BEFORE_AN_INITIAL = re.compile(r"(?<![^\W\d_])([^\W\d_]\.)(?=[^\W\d_]\.)")
# An initial written against the surname: "J.R.R.Tolkien" is J.R.R. Tolkien.
_INITIAL_AGAINST_A_SURNAME = re.compile(r"(?<![^\W\d_])([A-Z]\.)(?=[A-Z][a-z])")
# An answer that is a number and one unit symbol ("5 km", "100%", "-40 °C", "3 m/s"), whose space before the unit is
# optional; a unit written as a word ("26 miles", "3 days") keeps its space, and an ordinal's or a decade's ending
# is no unit ("5th", "1960s"). Symbols of four or more letters are listed: "100 Mbps", "5 kcal", "120 mmHg".
_LONG_UNIT_SYMBOLS = ("kbps Mbps Gbps Tbps KBps kBps MBps GBps TBps kbit Mbit Gbit Tbit kcal Kcal mmHg cmHg inHg mmol "
                      "µmol μmol nmol pmol mbar ppmv").split()
_NUMBER_AND_UNIT = re.compile(r"([-+]?\d[\d.,]*)( ?)([^\d\s.,]\S{0,2}|[^\d\s.,]\S*[^\w\s]\S*|(?i:"
                              + "|".join(_LONG_UNIT_SYMBOLS) + "))")
_NUMBER_SUFFIXES = {"s", "'s", "st", "nd", "rd", "th", "ST", "ND", "RD", "TH", "S"}
# Month names and their short forms: "4 Jul" is a date, not a quantity (a year may follow it, a unit's number may not).
MONTHS = frozenset(("january february march april may june july august september october november december "
                    "jan feb mar apr jun jul aug sep sept oct nov dec "
                    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
                    "januar februar märz juni juli oktober dezember "
                    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre "
                    "janeiro fevereiro março maio junho julho setembro outubro novembro dezembro "
                    "gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre "
                    "januari februari maart mei augustus mars maj augusti "
                    "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia "
                    "января февраля марта апреля мая июня июля августа сентября октября ноября декабря").split())
# An ordinal on a date's day is the day: "July 20th" is July 20, "20th July" 20 July.
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORDINAL_DAY_AFTER_A_MONTH = re.compile(rf"(?<!\w)((?:{_MONTH_NAMES})\.? \d{{1,2}})(?:st|nd|rd|th)(?!\w)", re.IGNORECASE)
_ORDINAL_DAY_BEFORE_A_MONTH = re.compile(rf"(?<![\w.,])(\d{{1,2}})(?:st|nd|rd|th)(?= (?:{_MONTH_NAMES})(?!\w))", re.IGNORECASE)
# Unit symbols keep their case (1 mW is not 1 MW, 5 Mb not 5 MB, 100 k not 100 K), except these abbreviations, which
# are written in either case for one unit ("100 mph" and "100 MPH", "5 pm" and "5 PM").
_UNITS_OF_ANY_CASE = frozenset("mph kph kmh hp bhp rpm mpg bpm psi ft lb lbs oz yd yds mi sq am pm a.m. p.m. bc ad bce ce "
                               "km/h l ml cl dl hl kg km cm hz khz ghz °c °f kcal kj kw kwh".split())  # the litre is l or L
# One unit written two ways: a kilobyte is kB or KB.
_UNIT_SPELLINGS = {"KB": "kB"}


def without_invisible(text: str) -> str:
    """`text` without the characters that are not there for a reader (see _INVISIBLE)."""
    return _INVISIBLE.sub("", text)


def compatible(text: str) -> str:
    """NFKC, with one answer's spellings made one (see above) and the characters above kept apart from the number
    before them."""
    text = _INVISIBLE.sub("", text).translate(_TRADEMARKS).translate(_DIGITS_OF_OTHER_SCRIPTS).translate(_ARABIC_NUMBER_SIGNS)
    # Before NFKC, which would turn these into letters or digits glued to what comes before them:
    text = _DEGREE_SPACE.sub("°", _DEGREE_LOOKALIKE.sub("°", text))
    text = _FOOTNOTE_AFTER_A_WORD.sub(lambda match: match.group() if match.group(1) else match.group(2), text)
    text = _FOOTNOTE_AFTER_PUNCTUATION.sub("", text)
    text = _POWER.sub(lambda match: "^" + unicodedata.normalize("NFKC", match.group()), text)
    text = _FRACTION_AFTER_A_DIGIT.sub(lambda match: " " + unicodedata.normalize("NFKC", match.group(1)), text)
    text = unicodedata.normalize("NFKC", text)
    # After it, on the digits, signs and single spaces it leaves (a superscript or full-width digit is a digit by then,
    # a line separator a space), until nothing changes: normalising twice gives what normalising once does.
    text = WHITESPACE.sub(" ", text)
    # One rewrite can make the text another one applies to ("0$—0": the sign moved, then a dash between numbers).
    for _ in range(_MOST_REWRITE_ROUNDS):
        rewritten = _one_spelling(text)
        if rewritten == text:
            break
        text = rewritten
    return _without_optional_marks(text) if _OPTIONAL_MARK_SCRIPTS.search(text) else text


_MOST_REWRITE_ROUNDS = 4


def _one_spelling(text: str) -> str:
    """One round of the rewrites that make one answer's spellings one (see above)."""
    text = _DIGIT_GROUP_SEPARATOR.sub("", _CARET_AFTER_A_LETTER.sub("", text))
    text = _SPACED_SIGN.sub(_currency_glued, _DASH_BETWEEN_NUMBERS.sub("-", text))
    text = _ZERO_DECIMALS.sub(r"\1", _SIGN_AFTER_AN_AMOUNT.sub(_currency_first, text))
    text = _PERCENT_WORDS.sub("%", text)
    text = _ORDINAL_DAY_BEFORE_A_MONTH.sub(r"\1", _ORDINAL_DAY_AFTER_A_MONTH.sub(r"\1", text))
    text = _DOTTED_ERA_OR_TIME.sub(lambda match: "".join(part or "" for part in match.groups()), text)
    text = _COMMON_ERA.sub(lambda match: match.group(1) + {"bce": "BC", "ce": "AD"}[match.group(2).lower()], text)
    text = _HYPHEN_IN_A_NUMBER_WORD.sub(r"\1 ", _COMMA_BEFORE_A_GENERATION.sub(" ", _SPACED_PRODUCT.sub(r"\1", text)))
    text = _INITIAL_AGAINST_A_SURNAME.sub(r"\1 ", text)
    return _DECADE_APOSTROPHE.sub("s", _SPACE_BETWEEN_INITIALS.sub(r"\1", text))


def _currency_glued(sign_and_space: re.Match) -> str:
    sign = sign_and_space.group(1)
    return sign if unicodedata.category(sign) == "Sc" else sign_and_space.group()


def _currency_first(amount: re.Match) -> str:
    minus, number, sign = amount.groups()
    return minus + sign + number if unicodedata.category(sign) == "Sc" else amount.group()


def _without_optional_marks(text: str) -> str:
    decomposed = _ARABIC_HEBREW_AND_DEVANAGARI_MARKS.sub("", unicodedata.normalize("NFD", text))

    def kept(match: re.Match) -> str:
        if match.group(1):  # Greek: its accents and breathings go, a diaeresis stays
            return match.group(1) + "".join(mark for mark in match.group(2) if mark not in _GREEK_OPTIONAL_MARKS)
        return match.group(3)  # Cyrillic: its stress marks go

    return unicodedata.normalize("NFC", _GREEK_OR_CYRILLIC_MARKS.sub(kept, decomposed))


def fold(char: str) -> str:
    """One character as answers are compared: case-folded, with the variants below read as the plain one."""
    # Case folding turns "İ" into "i" + a combining dot above; without the dot it matches the i everyone types, as
    # does the dotless ı (a capital I stands for both in Turkish: "DİYARBAKIR" is Diyarbakır). Russian writes ё as е at
    # will ("Петр" is Пётр). Persian writes Arabic's yeh and kaf its own way ("ایران" is ايران).
    # The minus sign, the Unicode hyphens, the figure dash and the en dash are the hyphen-minus everyone types ("−5"
    # says -5, "Guinea–Bissau" Guinea-Bissau, "1879–1955" 1879-1955); the em dash is a pause, kept apart.
    # A typographic apostrophe, or the modifier letter that looks like it, is the one everyone types ("O’Neil" is
    # O'Neil, "Georgiaʼs" Georgia's).
    # The fraction slash and the division slash are the slash everyone types ("½" is 1/2), the ratio sign a colon,
    # the wave dash (a Japanese range, "5〜6") a tilde. Romanian's s and t with a comma below are written with a cedilla
    # as often ("Timişoara" is Timișoara): one letter in two encodings, not an accent left out.
    return _FOLDED.get(char) or char.casefold()


_FOLDED = {"\u0130": "i", "\u0131": "i", "\u0401": "\u0435", "\u0451": "\u0435", "\u06cc": "\u064a", "\u06a9": "\u0643",
           "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2019": "'", "\u02bc": "'",
           "\u2044": "/", "\u2215": "/", "\u2236": ":", "\u301c": "~",
           "\u015e": "\u0219", "\u015f": "\u0219", "\u0218": "\u0219", "\u0162": "\u021b", "\u0163": "\u021b", "\u021a": "\u021b"}


def spellings(answer: str) -> list[str]:
    """The answer, then the other ways it is written that are read as the same answer: initials spaced or not
    ("J. K. Rowling", "J.K. Rowling"), a quantity with or without a space before its unit ("5 km", "5km"). The
    ranking scores each, as generation accepts each."""
    initials = [_INITIAL_BEFORE_AN_INITIAL.sub(r"\1 ", answer), _SPACE_BETWEEN_INITIALS.sub(r"\1", answer)]
    return list(dict.fromkeys([*unit_spellings(answer), *initials]))


def unit_spellings(answer: str) -> list[str]:
    """The answer, and for a quantity the same with or without a space before its unit ("5 km", "5km"): the one
    spelling difference that normalising leaves (initials are already one spelling once normalised)."""
    quantity = number_and_unit(answer)
    if quantity is None or quantity[2] in _NUMBER_SUFFIXES:  # "1 st" (a stone) is not "1st", nor "1960 s" "1960s"
        return [answer]
    number, space, unit = quantity
    return [answer, f"{number}{'' if space else ' '}{unit}"]


# Ranking reads every candidate's key once per fact: a relation of a thousand objects asks for the same keys again
# and again.
@functools.lru_cache(maxsize=1 << 16)
def answer_key(text: str) -> str:
    """What tells two answers apart: the normalised text, with a quantity's unit glued to its number, so that every
    spelling generation accepts as one answer is one key ("5 km" and "5km"; "J. K." and "J.K." already normalise alike)."""
    if keeps_its_case(text):
        return as_written(text)
    key = normalise(text).lstrip(LEADING_NOISE)  # as matching reads an answer: "'s-Hertogenbosch" is s-Hertogenbosch
    quantity = number_and_unit(key)
    if quantity is None:
        return key
    written = number_and_unit(as_written(text))
    unit = unit_as_compared(written[2]) if written else quantity[2]
    # Glued, a unit that reads as an ordinal's or a decade's ending would make another answer's key ("1 st", "1st").
    return quantity[0] + (" " if unit in _NUMBER_SUFFIXES else "") + unit


@functools.lru_cache(maxsize=1 << 16)  # matching reads each answer's case for every generated text it is tried on
def as_written(text: str) -> str:
    """The text as normalised but with its case kept: what a quantity's unit and a short symbol are compared in."""
    return WHITESPACE.sub(" ", compatible(text)).strip().lstrip(LEADING_NOISE)


# A symbol of one or two letters written with a capital, or of three capitals ("Co", "HF", "Sn", "I", "DNA"): its case
# tells it apart ("CO" is carbon monoxide, "Co" cobalt, "NO" nitric oxide, "No" nobelium). A capitalised word of three
# letters ("Red", "Tin") is a word.
_SHORT_SYMBOL = re.compile(r"[^\W\d_]{1,2}|[^\W\d_]{3}")


def keeps_its_case(answer: str) -> bool:
    """Whether `answer` is compared with its case kept: a short symbol with a capital in it (see _SHORT_SYMBOL)."""
    written = as_written(answer)
    if not _SHORT_SYMBOL.fullmatch(written):
        return False
    return written.isupper() if len(written) == 3 else any(char.isupper() for char in written)


def unit_as_compared(unit: str) -> str:
    """A unit symbol as two quantities' units are compared: its case kept (SI symbols are case-sensitive: m is milli,
    M mega), the few abbreviations written in either case folded; other characters folded as everywhere."""
    if unit.casefold() in _UNITS_OF_ANY_CASE:
        return unit.casefold()
    return "".join(_FOLDED.get(char, char) for char in _UNIT_SPELLINGS.get(unit, unit))


def number_and_unit(text: str) -> tuple[str, str, str] | None:
    """(number, the space before its unit or "", unit) where `text` is a number and one unit symbol, else None."""
    quantity = _NUMBER_AND_UNIT.fullmatch(text)
    if quantity is None or quantity.group(3).casefold().rstrip(".") in MONTHS:
        return None
    # An ordinal's or a decade's ending is written against its number; spaced, "s" is a second.
    if not quantity.group(2) and quantity.group(3) in _NUMBER_SUFFIXES:
        return None
    return quantity.group(1), quantity.group(2), quantity.group(3)
