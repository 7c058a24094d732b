"""Does a generated answer say the expected object? Normalised, alias-aware, at a word boundary."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Sequence

from factcheck.answer_text import (LEADING_NOISE, MONTHS, NUMBER_WORDS, WHITESPACE, as_written, compatible, fold,
                                   keeps_its_case, normalise, number_and_unit, unit_as_compared, unit_spellings)

# Generation stops at a newline; a line or paragraph separator, a vertical tab or a form feed ends a line too.
_LINE_END = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def _is_word_char(char: str) -> bool:
    # Combining marks count (a letter's accent written apart).
    return unicodedata.category(char)[0] in "LNM"


def _word_goes_on(said: str, at: int) -> bool:
    """Whether the word before `at` goes on: a word character, also after underscores ("str_replace"); underscores
    that end it are markdown emphasis ("_Paris_"). Chinese, Japanese, Korean, Thai, Lao, Khmer and Burmese write no
    space after a word: there a particle or a copula right after it ends it ("東京は", "北京是", "서울은",
    "กรุงเทพฯเป็น"), any other character carries it on ("北京大学" is not 北京, "서울시" not 서울)."""
    rest = said[at:].lstrip("_")
    if not rest or not _is_word_char(rest[0]):
        return False
    if at > 0 and (_UNSPACED.match(said[at - 1]) or _UNSPACED.match(rest[0])) and (ending := _UNSPACED_WORD_ENDS.match(rest)):
        # A one-kana particle after a word written in hiragana, with more hiragana after it, may be the word going on
        # ("たこやき" is not たこ; "ねこだ" and "すしです" say ねこ and すし).
        return bool(_HIRAGANA.match(said[at - 1]) and _HIRAGANA.fullmatch(ending.group()) and _HIRAGANA.match(rest[1:2]))
    return True


def goes_on_by_the_commonest_rules(answer: str, text: str) -> bool:
    """Whether `text`, right after `answer`, carries it on by the commonest rules alone: a word character after a
    word character ("8" then "5", "Paris" then "ian"; a particle after a CJK word ends it), a decimal point or a
    thousands separator and a digit after a number, a name going on ("New York" then " City", "Guinea" then
    "-Bissau"). Cheap enough for a whole vocabulary; `matching_answer` applies every rule. It reads of `answer`
    only `commonest_rules_key`."""
    ends_in_a_word = bool(answer) and _is_word_char(answer[-1])
    if ends_in_a_word and _word_goes_on(answer + text, len(answer)):
        return True
    # A number goes on past a decimal point or a thousands separator: "8" then ",000" or ".5".
    if answer[-1:].isdigit() and len(text) >= 2 and text[0] in _NUMBER_JOINERS and text[1].isdigit():
        return True
    return _looks_like_a_name(answer) and _continues_the_name(text, answer)


def commonest_rules_key(answer: str) -> tuple[bool, bool, bool, bool]:
    """What `goes_on_by_the_commonest_rules` reads of an answer: answers alike in it are carried on by the same texts."""
    last = answer[-1:]
    return bool(last) and _is_word_char(last), bool(_UNSPACED.match(last)), last.isdigit(), _looks_like_a_name(answer)


# Scripts written without spaces between words: Han ideographs, kana, Hangul syllables (Korean spaces phrases, not
# words), Thai, Lao, Burmese and Khmer.
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                       "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]")
_HIRAGANA = re.compile("[\u3040-\u309f]")
# What follows a noun in those scripts without being part of it: Japanese particles (hiragana), Chinese copulas and
# particles, Korean particles and copulas, and the copulas, linking and possessive words of Thai, Lao, Khmer and
# Burmese (ending a name written in those scripts is otherwise out of reach without a dictionary).
_UNSPACED_WORD_ENDS = re.compile("(?:です|でした|でしょう|だった|なんです|なんだ|から|まで|なら|って|[はがのをにでともへやだよね]"
                                 "|是|的|在|和|与|與|位于|位於|为|為|也|吧|呢|啊|吗|嗎|呀|于|了|哦|嘛|"
                                 # Korean writes a space after a word's particles: one not followed by a space or
                                 # punctuation begins the next part of a compound ("한국은행" is not 한국).
                                 # Possessive (++): particles that overlap ("이야", "이" + "야") must not backtrack.
                                 "(?:으로|에서|에게|입니다|이다|이에요|예요|이야|이고|이며|이라서|라서|이라고|이라는|이라|인데|이지만|"
                                 "이었|였|었|습니다|어요|니다|이죠|이지요|지요|이네요|네요|이니까|니까|이므로|므로|까지|부터|처럼|보다"
                                 "|[은는이가을를의에와과도로만요야고며다죠])++(?![\uac00-\ud7af])"
                                 "|เป็น|คือ|ซึ่ง|และ|ของ|ที่|ใน|ครับ|ค่ะ|คะ|นะ|ไม่|นั่นเอง"
                                 "|ແມ່ນ|ເປັນ|ຊຶ່ງ|ແລະ|ຂອງ|ທີ່|ໃນ"
                                 "|គឺ|ជា|ដែល|និង|របស់|នៃ|នៅ"
                                 "|သည်|ဖြစ်|၏|နှင့်|မှာ|ကို)")


def _is_capital(char: str) -> bool:
    return unicodedata.category(char) in ("Lu", "Lt")


def _looks_like_a_name(answer: str) -> bool:
    """A name (its last word capitalised: 'Guinea', 'New York'), which a hyphen or a further capitalised word
    would continue into another name; a quantity whose unit is a capital is none ('6 GB', '230 V'), nor a number
    and its scale word written with a capital ('5 Millionen': '5 Millionen Einwohner' says it)."""
    words = answer.split()
    scaled_number = len(words) == 2 and words[0][0].isdigit() and re.fullmatch(_SCALE_WORDS, words[1], re.IGNORECASE)
    return bool(words) and _is_capital(words[-1][0]) and number_and_unit(answer) is None and not scaled_number


def _continues_the_name(rest: str, answer: str) -> bool:
    """Whether the generated text right after a name carries the name on: 'Guinea-Bissau', 'New York City',
    'Guinea—Bissau' and 'Guinea – Bissau' (a dash, spaced or not, before a capital; 'Paris—the capital' and
    'Paris – the capital' still say Paris)."""
    if len(rest) >= 2 and rest[0] in _HYPHENS and _is_word_char(rest[1]) and rest[:2] != "--":
        return True
    # After a dash, a sentence's first word or a possessive begins prose: "Paris — It is the capital", "Tokyo — Japan's
    # capital".
    if (dash := _DASH_BEFORE_A_WORD.match(rest)) and _is_capital(rest[dash.end()]):
        return not _PROSE_AFTER_A_DASH.match(rest, dash.end())
    # Lower-case particles inside a name: "Santiago de Cuba", "Kingston upon Hull", "Frankfurt am Main", "Côte d'Ivoire",
    # "Mohammed bin Salman", "Abdullah al-Saud"; not a German preposition before a common noun ("Berlin am Montag").
    if ((particles := _NAME_PARTICLES.match(rest)) and _is_capital(rest[particles.end()])
            and not _GERMAN_PREPOSITION_BEFORE_A_NOUN.match(rest)):
        return True
    # French, Spanish, Italian and Portuguese put a place's adjective after its name, in lower case: "Guinée
    # équatoriale", "Timor oriental", "Congo belge" name other places.
    if _ROMANCE_PLACE_ADJECTIVE.match(rest):
        return True
    # Another act: "The Beatles cover band", "Beatles tribute act".
    if re.match(r" (?:tribute|cover) (?:band|act|group)\b", rest):
        return True
    # Letters after a name that do not make another person: "Isaac Newton FRS", "Jonas Salk, MD"; nor does "I" with
    # its verb ("Paris I think"; "Charles I" is another name).
    if _POST_NOMINAL_OR_I_WITH_A_VERB.match(rest):
        return False
    # A title's sequel number carries it on: "Toy Story 2", "Toy Story 2.", "Alien 3", also before a verb ("Toy Story 4 came
    # out in 2019", "Toy Story 3 grossed") ("Paris 2024" says Paris: a year;
    # "Brazil 5 times" and "Russia 17 million square kilometres" a count; "Au 79", "Au 79." and "H 1" a symbol of one
    # or two letters and its atomic number).
    if re.match(r" (?:\d(?!\d|[.,:/]\d)|\d\d(?![\d.,:/]))(?! (?!(?:is|was|are|were|will|and|has|had|became|came|won|made|took|went|got|hit|sold|began|broke|set|[a-z]+ed"
                r"|remains|follows|marks|pits|sees|finds|takes|tells|stars|features|introduces|continues|brings|opens|ends"
                r"|begins|also|then|later|eventually|quickly|finally|soon|still|even|again|beat|brought|gave|ran|explores|reunites"
                r"|holds|did|does|nearly|almost|picks|shows|gets|makes|puts|returns)\b)[a-z])",
                rest):
        return len(answer.strip()) > 2
    # A subtitle after a colon, in title case, carries a title on: "Avatar: The Way of Water", "Dune: Part Two" (and so
    # "Paris: The City of Light" names no Paris; "Paris: the capital of France" and "Tokyo: Japan's capital" do).
    if (subtitle := re.match(r": ([^.,;!?()]+)", rest)) and _in_title_case(re.split(r"\s[-\u2013\u2014]\s", subtitle.group(1))[0]):
        return True
    # A planet's letter after its star: "Proxima Centauri b", "Gliese 581 c".
    if re.match(r" [b-h](?![\w.'’])", rest):
        return True
    # "Dumas fils" is the son, not Dumas ("Dumas père" is the father, and says him).
    if re.match(r" fils(?!\w)", rest):
        return True
    # An ampersand between capitalised words makes one name: "Johnson & Johnson", "Marks & Spencer".
    if rest.startswith(" & ") and len(rest) > 3 and _is_capital(rest[3]):
        return True
    # After a name that ends in an abbreviation's full stop, a sentence may begin: "Martin Luther King Jr. He
    # delivered ...", "Washington, D.C. The city ..." ("U.S. Virgin Islands" goes on).
    if answer.rstrip().endswith(".") and rest[:1] == " " and (_PROSE_AFTER_A_DASH.match(rest, 1)
                                                              or re.match(r" (?:[A-Z][a-z'’]*,? [a-z]|(?:Every|Each|Many|Most|Some"
                                                                          r"|Several|Despite|Although|While|Because|Since|When|After|Before)\b)", rest)):
        return False
    # A verb in title-case or upper-case prose (every word capitalised) begins a sentence about the name: "Paris Is The
    # Capital Of France", "PARIS IS THE CAPITAL".
    if _CAPITALISED_VERB.match(rest):
        return False
    # An apostrophe before a capital carries a name on too: "O'Brien" does not say "O" ("Paris's" still says Paris).
    return len(rest) >= 2 and rest[0] in " '\u2019" and _is_capital(rest[1])


_CAPITALISED_VERB = re.compile(r" (?:Is|IS|Was|WAS|Are|ARE|Were|WERE|Has|HAS|Had|HAD|Will|WILL|Became|BECAME|Remains|REMAINS)"
                               r" [A-Z]")


_MINOR_TITLE_WORDS = frozenset("a an the of in on at to for and or but nor by with from as vs de la le du".split())


def _in_title_case(phrase: str) -> bool:
    """Whether every word of `phrase` is capitalised (or a number), small words aside after the first."""
    words = phrase.split()
    return bool(words) and all(_is_capital(word[0]) or word[0].isdigit() or (index and word in _MINOR_TITLE_WORDS)
                               for index, word in enumerate(words))


# Hyphens, the figure dash, the en dash ("Guinea–Bissau") and the minus sign, which joins words as a hyphen does.
_HYPHENS = "-\u2010\u2011\u2012\u2013\u2212\u05be\u058a"  # also Hebrew's maqaf and the Armenian hyphen
# Not "and": it joins a list of names far more often than it makes one ("English and French" says English).
# Nor "on" or "y", which begin a date or join a list as often ("Ulm on March 14", "Madrid y Barcelona").
_NAME_PARTICLES = re.compile(r" (?:de\s)?(?:d|l|dell|dall|nell)['\u2019](?=\w)|(?: (?:de|da|del|della|di|do|dos|das|du|des|la|le|les|los|las|el|van|von|der|den|ten|ter|"
                             r"upon|an|am|im|of|op|aan|ob|zu|bin|bint|ibn|ben|the))+ (?=\w)"
                             r"| (?:al|el|ad|ash|as|at|az)-(?=\w)")
# Lower-case adjectives of direction, of the equator and of a colonial power, as French, Spanish, Italian and Portuguese
# write them after a place's name.
_ROMANCE_PLACE_ADJECTIVE = re.compile(
    r" (?:(?:orient|occident|septentrion|m[ée]ridion)(?:al|ale|ales|aux|ali)|centrale|[ée]quatoria(?:l|le|les|ux)|ecuatorial|ecuatoriana"
    r"|equatoriale|am[ée]ricaine?s?|american[aeo]s?|fran[çc]ais(?:es?)?|francese|franc[ée]sa?|espagnole?s?|espa[ñn]ol[a]?|spagnol[ao]"
    r"|portugaise?s?|portugu[ée]sa?|portoghese|britanniques?|brit[áa]nic[ao]|britannic[ao]|belges?|belga|allemande?|alemana"
    r"|tedesc[ao]|n[ée]erlandaise?|holandesa|olandese|italienne|danoise|russe|rusa|russa|turque|turca|ottomane?|ottomana)(?![\w'’-])")
# A dash of any kind, spaced or not, before a word.
_DASH_BEFORE_A_WORD = re.compile(r" ?(?:--|[-\u2010-\u2015\u2212]) ?(?=\w)")  # "--" is a typed em dash
_PROSE_AFTER_A_DASH = re.compile(r"(?:The|A|An|It|Its|This|That|These|Those|There|Here|He|She|They|We|I|You|His|Her|Their"
                                 r"|Our|Also|Known|Not|Yes|No|In|On|At|As|For|From|With|By|Since|After|Before|During|Once"
                                 r"|Today|Now|Home|Located|Situated|Founded|Born|Built|Famous|Called|Named|Capital|Officially"
                                 r"|Formerly|Correct|Right|Answer|But|And|So|Which|What|Who|Where|When|Why|How|Indeed|Actually)(?!\w)"
                                 # A nationality: "William Shakespeare - English playwright", "Picasso – Spanish painter".
                                 r"|(?:German|Greek|Swiss|Soviet|Welsh|Roman|Thai|Argentine|Bengali|Israeli|Pakistani|Iraqi|Saudi|Nepali"
                                 r"|Slovak|Croat|Serb|Filipino|Basque|Catalan|Arab|Kurdish|Afghan|Uzbek|Kazakh|Mongol|Cypriot"
                                 r"|Cuban|Kenyan|Ugandan|Tanzanian|Ghanaian|Nigerien|Malawian|Zambian|Rwandan|Sudanese|Ancient|New\sZealand"
                                 r"|American|British|Canadian|Chinese|Japanese|Korean|Indian|Australian|Italian|Spanish|French|English"
                                 r"|Irish|Scottish|Dutch|Polish|Russian|Austrian|Hungarian|Czech|Danish|Swedish|Norwegian|Finnish"
                                 r"|Portuguese|Brazilian|Mexican|Egyptian|Iranian|Persian|Turkish|Belgian|Ukrainian|Romanian"
                                 r"|Omani|Kuwaiti|Bangladeshi|Qatari|Yemeni|Emirati|Bahraini|Somali|Azerbaijani)"
                                 # ... also compound: "German-born", "German-American".
                                 r"(?:-[A-Z]?[a-z]+)?(?!\w)"
                                 # "South American", "East African"; a possessive of one or two words: "Japan's capital",
                                 # "South America's largest country", "Frank Herbert's novel".
                                 r"|(?:(?:North|South|East|West|Central|Latin|Southeast|Southern|Northern|Eastern|Western)\s)?"
                                 r"[A-Z][a-z]+(?:ish|ese|ian|ean|can|ch)(?!\w)|(?:[A-Z][\w.]*\s)?\w+['\u2019]s(?!\w)")
# German prepositions that are also name particles ("Frankfurt am Main", "Rothenburg ob der Tauber") before the common
# nouns that follow them in a sentence: a time, a season, a part of a place.
_GERMAN_PREPOSITION_BEFORE_A_NOUN = re.compile(
    r" (?:am|im|an|zu|zum|zur) (?:Jahre?|Jahrhundert|Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag|Morgen"
    r"|Abend|Tag|Sommer|Winter|Frühjahr|Frühling|Herbst|Beginn|Anfang|Ende|Alter|Süden|Norden|Osten|Westen|Zentrum"
    r"|Herzen|Rande?|Rahmen|Laufe|Zuge|Auftrag|Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober"
    r"|November|Dezember|Nordosten|Nordwesten|Südosten|Südwesten|Mittelalter|Ersten|Zweiten|Dritten|Krieg|Weltkrieg"
    r"|Bundesland|Freistaat|Land|Landkreis|Bezirk|Stadtteil|Stadtzentrum|Schatten|Vergleich|Gegensatz)(?!\w)")
_POST_NOMINAL_OR_I_WITH_A_VERB = re.compile(
    r"(?:,? (?:CH|OM|PRS|CVO|GCB|KCB|GBE|DBE|KCMG|CMG|PC|FREng|FMedSci|FRCP|FRCS|FRSL|FRSA|VC|GC|DSO|OBE|CBE|MBE|KBE|FRS))+(?!\w|\.\w)|,? (?:FRS|FRSE|FBA|PhD|Ph\.D\.|MD|M\.D\.|DSc|KBE|OBE|CBE|MBE|KG|KC|QC|MP|Esq\.?)(?!\w|\.\w)"
    # A company's legal form: "Apple Inc.", "Volkswagen AG", "Nintendo Co., Ltd.".
    r"|,? (?:Inc|Corp|Ltd|LLC|L\.L\.C|PLC|plc|AG|GmbH|SA|S\.A|SE|NV|N\.V|BV|AB|ASA|KK|SpA|S\.p\.A|Co|Pty|Corporation"
    r"|Incorporated|Limited|Company|Oyj|Oy|A/S|KGaA|SAS|SARL|Srl|LLP|LP|Holdings|Group)\.?(?!\w)"
    # A Russian surname's initials: "Пушкин А. С." is Pushkin.
    r"| [А-ЯЁ]\.\s?[А-ЯЁ]\.(?!\w)"
    r"| I (?:think|believe|guess|suppose|assume|reckon|hope|know|mean|am|'m|'d|’m|’d|don't|don’t)(?!\w)")
# After a number, a character that carries the number on when a digit follows: 1.5, 1,000, 1:30, 1/2, 10^3, 3-4.
# Read in the folded text, where the en dash is a hyphen and the fraction slash a slash ("3–4", "1⁄2").
_NUMBER_JOINERS = ".,:/-~\u2014'\u066b\u066c÷"  # also Swiss 1'000, the Arabic decimal and thousands signs, 4—5, 4~5, 3÷4
# After a number, a product or a scale word that makes it a mantissa: "3 × 10⁸", "3 x 10^8", "3 million", "3-million"
# and "3 bn" are not 3 ("Windows 7 x64" is 7); a mixed fraction ("5 1/2") is not 5, nor a year BC the year AD, a range
# in words ("5 to 10 million", "5 or 6") 5, nor a decade ("1960's") its first year; a range spaced or not is one.
_SCALE_WORDS = (r"(?:hundred|thousand|million|milliard|billion|trillion|quadrillion|dozen|bn|mn|mrd|mio|lakh|crore|tn|cr"
                # German, Spanish, Portuguese, Italian, French, Dutch, Scandinavian, Russian
                r"|grand(?!\s(?:slam|prix|prize|tour|canyon|central|theft|piano|jury|duke|master|rapids|final|champion"
                r"|national|opening|total|old|hotel|marnier))|tausend|millionen|milliarden?|mil|millones|millón|milhões|milhão|bilhões|mila|milioni?|miliardi?|mille"
                r"|mld|mln|billones|billón|miliony|miliardy|miljoen|miljard|miljoner|miljarder|тыс|тысяч[аи]?|млн|млрд|миллион(?:а|ов)?|миллиард(?:а|ов)?"
                # Finance's abbreviations, and more of German, Dutch, Scandinavian and Russian
                r"|bln|trln|tsd|duizend|tusen|трлн|триллион(?:а|ов)?"
                r")s?")
# Scale words of Polish, Czech, Hungarian, Turkish, Finnish, Ukrainian, Indonesian, Vietnamese, Greek, Hindi and Arabic,
# as normalising writes them (Greek without accents, Arabic without its hamza), then any character but a letter.
_OTHER_SCALE_WORDS = ("tysięcy tysiące tysiąc milionów miliardów tisíc milionů miliard ezer millió milliárd milyon milyar "
                      "bin tuhatta miljoonaa miljardia тисяч тисячі тисяча мільйон мільйона мільйонів мільярд мільярдів ribu "
                      "juta miliar nghìn ngàn triệu tỷ χιλιάδες εκατομμύρια εκατομμύριο δισεκατομμύρια हज़ार हजार लाख करोड़ "
                      "ألف آلاف مليون ملايين مليار مليارات tys tis тис triliun अरब bio").split()
_OTHER_SCALE_WORD = re.compile(r"\s(?:" + "|".join(sorted({normalise(word) for word in _OTHER_SCALE_WORDS}, key=len, reverse=True))
                               + r")(?=[\s\d.,;:!?)\]]|$)")
# Scale characters written against the number in Chinese, Japanese, Korean and Thai ("12万", "12만 명", "12 ล้าน").
_SCALE_CHARACTERS = re.compile(r"\s?(?:[十百千万萬亿億兆만억천조백]|ล้าน|พัน|หมื่น|แสน)")
_FRACTION_WORDS = (r"(?:half|halves|third|quarter|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|twentieth"
                   r"|hundredth|thousandth|millionth)s?")
# An open-ended bound or an approximation: "50 and up", "50 or more", "18 and over", "20 and under", "5 et plus",
# "5 y más", "5 und mehr", "20-odd", "20-ish", "20, give or take" (as "50+" is not 50); a spaced "plus" only where no
# word follows ("$5 plus tax" says $5).
_BOUND_OR_APPROXIMATION = (r"\s(?:and|or)\s(?:up|upwards?|over|above|more|higher|older|beyond|greater|under|below|less|fewer"
                           r"|lower|younger)\b(?!\s(?:the|a|an|this|that|its|his|her|their|than)\b|\s\d)|\s(?:et|ou)\s(?:plus|moins)\b"
                           r"|\s[yo]\s(?:más|menos)\b|\s(?:und|oder)\s(?:mehr|weniger)\b|\se\s(?:più|meno)(?!\w)"
                           r"|\s(?:и|или)\s(?:более|больше|менее|меньше)(?!\w)|-(?:odd|something|ish)\b"
                           r"|\s(?:odd|something|ish)\b(?!\s[^\W\d_])"
                           r"|,?\sgive\sor\stake\b|,?\smore\sor\sless\b|\sor\sthereabouts\b|-plus\b|\splus(?!\s[^\W\d_])"
                           r"|\splus\s(?:years?|months?|weeks?|days?|hours?|people|percent)\b"
                           # In brackets: "5 (give or take)", "50 (and up)", "20 (or so)".
                           r"|\s\((?:give\sor\stake|more\sor\sless|(?:and|or)\s(?:up|upwards|over|above|more|under|below|less|so|thereabouts))\)")
# A mixed fraction in words of other languages: "5 et demi", "5 y medio", "cinco y medio", "5 und ein halb".
_HALF_IN_OTHER_LANGUAGES = r"\s(?:et\sdemie?|y\smedi[oa]|und\sein\shalb|e\smezz[oa]|e\smei[oa]|с\sполовиной)(?!\w)"
# A range in words, in English and other languages: "5 to 10", "10 bis 12", "5 à 10", "5 a 10", "5 hasta 10".
_RANGE_WORDS = r"(?:to|or|through|thru|until|till|til|bis|oder|à|ou|a|al|o|hasta|tot|do|до|или)"
_NUMBER_GOES_ON = re.compile(r"\s?[×·⋅*]\s?\d|\*\*\d|\sx\s\d|\s?x\s?10\^|[\s-]" + _SCALE_WORDS + r"\b"
                             r"|\s(?:--|[-\u2014/~÷:])\s?\d"  # a spaced range or ratio: "5 - 6", "1914 – 1918", "1914 -- 1918", "1 / 2"
                             r"|\.{2,3}\s?\d"  # a range written with dots: "5..10", "5...10"
                             r"|\s\d+[/\u2044]\d|\s(?:and|&)\s(?:(?:a|an|one)\s(?:half|quarter|third)|\d+[/\u2044]\d)"
                             rf"|\s{_RANGE_WORDS}\s\d|(?<=0)'s(?!\w)"
                             # Arithmetic written out: "10 ** 3", "5 + 3", "10 to the power of 6", "2 squared", and in
                             # LaTeX or HTML: "3 \\cdot 10^8", "10<sup>6</sup>", "6.02 E23".
                             r"|\s?\\(?:cdot|times)\s?\d|<sup>|\se[-+]?\d"
                             r"|\s\*\*\s?\d|\s?\+\s?\d|\sto\sthe\s(?:power|\d|\w+th\b|second|third)|\s(?:squared|cubed)\b"
                             r"|\s(?:times|multiplied\sby)\s(?:\d|ten\b)|\s(?:plus|minus)\s(?:\d|a\s|an\s|one|two|three|four"
                             r"|five|six|seven|eight|nine|ten)" + "|" + _BOUND_OR_APPROXIMATION + "|" + _HALF_IN_OTHER_LANGUAGES +
                             r"|\s?(?:bce?|b\.\s?c\.?)(?!\w)|\sbefore\s(?:christ|the\scommon)"
                             # BC in other languages: German and Dutch, French, Spanish, Italian and Portuguese,
                             # Scandinavian, Finnish, Polish, Czech, Russian, Ukrainian, Bulgarian, Greek, Slovene and
                             # Croatian, Romanian, Arabic, Hindi.
                             r"|\s(?:v\.\s?chr\.?|v\.\s?u\.\s?z\.?|av\.\s?j\.?-?\s?c\.?|a\.\s?(?:de\s)?c\."
                             r"|f\.\s?kr\.?|ekr\.?|p\.\s?n\.\s?e\.?|př\.\s?n\.\s?l\.?|до\s?н\.\s?[эе]\.?|пр\.\s?н\.\s?е\.?"
                             r"|π\.\s?χ\.?|п\.\s?н\.\s?е\.?|pr\.\s?kr\.?|î\.\s?hr\.?|ق\.\s?م\.?|قبل\sالميلاد|ईसा\sपूर्व|ई\.\s?पू\.?"
                             # Written out, with Russian's "year" before it, before the common era and before present.
                             r"|vor\s(?:christus|christi\sgeburt)|antes\sde\s(?:cristo|jesucristo)|avant\s(?:j\.?-?\s?c\.?|jésus-christ)"
                             r"|г\.\s?до\s?н\.\s?[эе]\.?|a\.?\s?e\.?\s?c\.?|b\.?\s?p\.?)(?!\w)")
_BEFORE_OUR_ERA = re.compile(r"\s(?:bce?|b\.\s?c\.(?:\s?e\.)?|before\s(?:christ|the\scommon\sera))(?!\w)")
# A quantity: a number and its unit ("5 km", "3.5kg", "20 °C"); a day and a month ("20 July") is none, a year may follow.
_QUANTITY = re.compile(r"[-+]?\d.*[^\W\d_]$")
# After a quantity, what makes it part of a compound, a product or a rate: "6 ft 2 in" is not 6 ft, "2 h 30 min" not
# 2 h, "5 m x 3 m" not 5 m, "5 km per hour" and "40 km·h⁻¹" not 5 km or 40 km, "1 year and 6 months" not 1 year; after
# a comma, only time and imperial units ("2 hours, 30 minutes" is not 2 hours; "500 mg, 3 times a day" says 500 mg).
_QUANTITY_GOES_ON = re.compile(r"\.?\s\d|,\s\d+\s?(?:months?|weeks?|days?|hours?|hrs?|minutes?|mins?|seconds?|secs?|"
                               r"inch(?:es)?|in|ounces?|oz|pounds?|lbs?|feet|foot|ft)\b"
                               r"|\s(?:and|&)\s(?:a\s)?(?:half|quarter|third|\d)|\s?[x×*·⋅]\s?\d|\sper\s|[·⋅]\w"
                               r"|(?:(?<=degrees)|(?<=degree))\s(?:[cfkrnsew]|north|south|east|west|fahrenheit|celsius|centigrade|kelvin)(?!\w)")
# After an amount (a quantity, a percentage or a sum of money: "5 km", "50%", "$5", "45°"), what makes it one end of a
# range or a part of a rate: "50%-60%", "$5 to $10", "5 km – 10 km", "$5/hour", "5 %/year", "$5 per hour", "$5 and 50
# cents"; and after one that ends in a symbol, a letter or a digit glued to it: "90°F" is not 90°, "45°30′" not 45°.
_AMOUNT = re.compile(r"[-+]?[^\w\s]?\d[\d.,]*(?:\s?\S+)?")  # a number and at most one word: not "(500) Days of Summer"
_AMOUNT_GOES_ON = re.compile(r"\+|\s?[-~\u2014]\s?[^\w\s]?\d|(?<=[°′″'])\s\d"
                             rf"|\s{_RANGE_WORDS}\s[^\w\s]?\d"
                             r"|\s?/\s?[^\W\d_]|\s(?:per|a|an)\s(?:year|month|week|day|night|hour|minute|second|head|person"
                             r"|gallon|litre|liter|barrel|pound|kilo|kilogram|ounce|ton|tonne|share|unit|item|piece|mile|kilometre"
                             r"|kilometer|metre|meter|foot|square)\b|\sp\.\s?a\."
                             # "$15 hourly" is a rate; "50 daily newspapers" is 50.
                             r"|\s(?:hourly|daily|weekly|monthly|yearly|annually)(?![ \t][^\W\d_])"
                             r"|\sper\s|\s(?:and|&)\s\d+\s?(?:cents?|pence|p|c)\b|" + _BOUND_OR_APPROXIMATION +
                             # A scale or a direction after degrees: "90° F", "45° north" (as "90°F" is not 90°).
                             r"|(?<=°)\s(?:[cfkrnsew]|north|south|east|west|fahrenheit|celsius|centigrade|kelvin)(?!\w)")


def _ends_in_a_month(expected: str) -> bool:
    return expected.split()[-1].rstrip(".") in MONTHS


def _is_a_quantity(expected: str) -> bool:
    return bool(_QUANTITY.match(expected)) and not _ends_in_a_month(expected)


def _amount_goes_on(said: str, expected: str) -> bool:
    """Whether the amount `expected` (a number with a unit, a percent sign or a currency) goes on in `said`."""
    if not _AMOUNT.fullmatch(expected) or _ends_in_a_month(expected):
        return False
    if _AMOUNT_GOES_ON.match(said, len(expected)):
        return True
    following = said[len(expected) : len(expected) + 1]
    return not expected[-1].isalnum() and expected[-1] not in ".,;:!?)]}" and bool(following) and following.isalnum()


# After an amount of money, a one-letter scale: "£3 m", "$5 bn", "€2k".
_CURRENCY_SCALE = re.compile(r"\s?[kmb](?!\w)")
# A number written in words goes on with another number word: "twenty-five" is not twenty, "five hundred" not five,
# "five or six" and "five to ten" not five.
_ORDINAL_WORDS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth twentieth "
                  "thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth hundredth thousandth").split()
_NUMBER_WORD_GOES_ON = re.compile(r"[\s-](?:" + "|".join(NUMBER_WORDS) + "|(?!seconds\\b)(?:" + "|".join(_ORDINAL_WORDS) + ")s?|" + _SCALE_WORDS
                                  + r"|an?\s" + _SCALE_WORDS + "|"
                                  + _FRACTION_WORDS + r"|point|(?:and\s(?:a\s)?|or\s|to\s|through\s|-\s)(?:half|"
                                  + "|".join(NUMBER_WORDS) + r"))\b")
# Number words of French, Spanish, Italian, Portuguese and German, which go on with another ("deux mille" is not deux),
# also after "and" ("vingt et un", "treinta y dos").
_OTHER_NUMBER_WORDS = ("un une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize vingt "
                       "trente quarante cinquante soixante cent cents "
                       "uno una dos tres cuatro cinco seis siete ocho nueve diez doce quince veinte treinta cuarenta "
                       "cincuenta sesenta setenta ochenta noventa cien ciento cientos doscientos trescientos quinientos "
                       "due tre quattro cinque sette otto nove dieci venti trenta quaranta sessanta settanta ottanta "
                       "novanta cento um dois duas três sete oito dez vinte trinta quarenta sessenta oitenta cem "
                       "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig dreißig vierzig fünfzig "
                       "sechzig siebzig achtzig neunzig hundert cuatrocientos seiscientos setecientos ochocientos novecientos "
                       "один одна два две три четыре пять шесть семь восемь девять десять двадцать тридцать сорок "
                       "пятьдесят шестьдесят семьдесят восемьдесят девяносто сто двести триста "
                       "twee drie vier vijf zes zeven acht negen tien twintig dertig veertig vijftig honderd duizend").split()
_OTHER_NUMBER_WORD_GOES_ON = re.compile(_HALF_IN_OTHER_LANGUAGES + r"|\s(?:(?:et|y|e|und|bis|à|a|al|ou|o|u|oder|hasta|tot|и|или|до)\s)?(?:"
                                        + "|".join(_OTHER_NUMBER_WORDS) + "|" + _SCALE_WORDS
                                        + r")(?!\w)")
_NUMBER_WORD = re.compile(r"(?:" + "|".join(NUMBER_WORDS) + "|" + _SCALE_WORDS + "|" + _FRACTION_WORDS + r")")
_OTHER_NUMBER_WORD = re.compile(r"(?:" + "|".join(_OTHER_NUMBER_WORDS) + "|" + _SCALE_WORDS + r")")
# A note name goes on as a sharp or flat: "C sharp minor" is not C.
_NOTE_GOES_ON = re.compile(r"\s(?:sharp|flat|natural)\b")
_NOT_CONTRACTED = re.compile(r"'t(?!\w)")
# After a word, a character that makes another word of it: C++, C#, C♯ and C♭ are not C.
_WORD_JOINERS = "+#&@\\\u266f\u266d\U0001d12a\U0001d12b"  # also AT&T, an address's "@" and a backslash
# A generation cut by the token limit may go on right after what it said ("10,000," may be 10,000,000, "twenty-fi"
# twenty-five, "3 mil" 3 million, "5 and a quar" 5 and a quarter): the rules above read up to the three words after an
# answer, so a cut answer is decided only where three whole words follow it (a fourth has begun). In a script without
# spaces each character counts as a word ("北京。北京是中" is decided, "北京大" is not).
_WORDS_AFTER_A_CUT = 4
_WORD_OR_UNSPACED_CHARACTER = re.compile(_UNSPACED.pattern + "|[^\\s" + _UNSPACED.pattern[1:-1] + "]+")


def matching_answer(generated: str, answers: Sequence[str], cut: bool = False) -> str | None:
    """The answer that the generated text says: the first answer it starts with, ending where the answer does and
    left standing after it; else None.

    "Paris, France" and "Paris." say "Paris"; "Parisian" and "not Paris" do not. A name ends only where the
    name does: "Guinea-Bissau" does not say "Guinea", nor "New York City" "New York" (give such a name as an
    alias when it is also right). An answer that a word after it qualifies is not said: "Paris or Lyon", "Paris,
    I think", "1969. Actually, 1970" (see `qualifier`). `cut`: generation stopped at the token limit, so an answer
    right at its end is not said (what comes next could carry it on).
    """
    found = answer_at_the_start(generated, answers, cut)
    return None if found is None or _qualifier_in(found[1], found[0]) is not None else found[0]


def qualifier(generated: str, answers: Sequence[str], cut: bool = False) -> str | None:
    """The word after an answer that the text starts with that qualifies it, so that it is not said ("or" in "Paris
    or Lyon", "maybe" in "1969, maybe 1970"); None where the text starts with no answer or leaves it standing."""
    found = answer_at_the_start(generated, answers, cut)
    return None if found is None else _qualifier_in(found[1], found[0])


def answer_at_the_start(generated: str, answers: Sequence[str], cut: bool = False) -> tuple[str, str] | None:
    """The first answer that the generated text starts with, ending where the answer does, and the text after it
    that is left to judge for qualifiers; else None. Whether a word carries an answer on reads this alone."""
    # Text that reached a line end ended there, whatever the token limit cut after it.
    cut = cut and not _LINE_END.search(generated)
    line = WHITESPACE.sub(" ", compatible(_LINE_END.split(generated, 1)[0]))
    # An answer that holds wrapping marks itself ("the '80s", "Gerard 't Hooft") is also looked for as written.
    marked = any(mark in answer for answer in answers for mark in _MARK_CHARACTERS)
    for written in dict.fromkeys([unwrapped(line), line] if marked else [unwrapped(line)]):
        if (found := _said_at_the_start(written.strip().lstrip(LEADING_NOISE), answers, cut)) is not None:
            return found
    return None


def _said_at_the_start(written: str, answers: Sequence[str], cut: bool) -> tuple[str, str] | None:
    found = _answer_and_rest_in(written, answers, cut)
    if found is None and (marker := _LIST_OR_QUOTE_MARKER.match(written)):
        # A list item or a quoted line: "- Paris", "1. Paris", "> Paris" (an answer that starts like one is tried first).
        item = written[marker.end() :].lstrip(LEADING_NOISE)
        if marker.group().startswith("1"):  # a numbered list on one line ends its first item at the second's number
            item, cut = (item, cut) if (second := _SECOND_ITEM.search(item)) is None else (item[: second.start()], False)
        found = _answer_and_rest_in(item, answers, cut)
    return found


def begins_like_an_answer(generated: str, answers: Sequence[str]) -> str | None:
    """The answer whose letters the generated text begins with, whatever follows them (for the failure text of one that
    the rules then leave unsaid: "Paris or Lyon", "Guinea-Bissau", "5 km (6 maybe)"); None where it begins otherwise."""
    line = normalise(unwrapped(_LINE_END.split(generated, 1)[0])).lstrip(LEADING_NOISE).lstrip()
    return next((answer for answer in answers if normalise(answer) and line.startswith(normalise(answer))), None)


def a_cut_may_hide_an_answer(generated: str, answers: Sequence[str]) -> bool:
    """Whether generation that the token limit cut may have gone on to say an answer: one begins it and could go on
    ("10,000," for 10,000,000), it stops partway through one ("Leonardo da V", "twenty-fi", "- 19") or before any
    ('"'). Raising the limit helps only then."""
    if answer_at_the_start(generated, answers, cut=False) is not None:
        return True
    if not generated.strip():  # tokens that write nothing (a padded embedding's rows): no answer had begun
        return False
    written = normalise(unwrapped(_LINE_END.split(generated, 1)[0])).lstrip(LEADING_NOISE)
    starts = [written] + ([written[marker.end() :].lstrip(LEADING_NOISE)] if (marker := _LIST_OR_QUOTE_MARKER.match(written)) else [])
    forms = {_without_separators(spelling) for answer in answers for text in (answer, unwrapped(answer))
             for spelling in unit_spellings(normalise(text).lstrip(LEADING_NOISE))}
    return any(form.startswith(_without_separators(start)) for start in starts for form in forms)


def _without_separators(text: str) -> str:
    """Text as a prefix of an answer is compared: spaces, hyphens and digit separators left out, as normalising may
    write them otherwise in a whole answer than in a cut one ("twenty-fi" of "twenty five", "1,5" of "1500")."""
    return re.sub(r"[\s\-,.'’]", "", text)


def answer_named_later(generated: str, answers: Sequence[str]) -> str | None:
    """An answer that a later word of the generated line begins ("The Chernobyl disaster occurred in 1986." names
    1986), which generation does not count: it judges the answer the text begins with. For the failure text."""
    line = _LINE_END.split(generated, 1)[0].strip()
    for later_word in re.finditer(r"(?<=\s)\S", line):
        if (answer := matching_answer(line[later_word.start() :], answers)) is not None:
            return answer
    return None


# Emphasis, code and quotes that wrap words ("**Paris** or **Lyon**", '"Toy Story" 2', "«Paris» ou «Lyon»"): the text is
# read without them, so that the rules after an answer see what follows it rather than its closing mark. An opening
# mark starts a word and a closing one ends it; an underscore or a single quote closes only before a non-word, so
# "snake_case" and "Paris's" keep theirs, and a spaced "5 * 3" is no emphasis. Single quotes wrap at most four words
# and never an elision ("Gerard 't Hooft, with his students' help", "the '80s' music", "rock 'n' roll").
_ANY_WORDS = r"(?=[^\s*_`])(.+?)(?<=[^\s*_`])"
_FEW_WORDS_NO_ELISION = r"(?![tsn]\b|\d)([^'\u2018\u2019\s]+(?:\s[^'\u2018\u2019\s]+){0,3})"
_WRAPPING_MARKS = (("***", "***", _ANY_WORDS, ""), ("**", "**", _ANY_WORDS, ""), ("*", "*", _ANY_WORDS, ""),
                   ("__", "__", _ANY_WORDS, r"(?!\w)"), ("_", "_", _ANY_WORDS, r"(?!\w)"), ("`", "`", _ANY_WORDS, ""),
                   ('"', '"', _ANY_WORDS, ""), ("\u201c", "\u201d", _ANY_WORDS, ""), ("\u201e", "\u201c", _ANY_WORDS, ""),
                   ("\u2018", "\u2019", _FEW_WORDS_NO_ELISION, r"(?!\w)"), ("'", "'", _FEW_WORDS_NO_ELISION, r"(?!\w)"),
                   ("\u00ab", "\u00bb", _ANY_WORDS, ""), ("\u00bb", "\u00ab", _ANY_WORDS, ""), ("\u2039", "\u203a", _ANY_WORDS, ""),
                   ("\u300c", "\u300d", _ANY_WORDS, ""), ("\u300e", "\u300f", _ANY_WORDS, ""), ("\u300a", "\u300b", _ANY_WORDS, ""))
_WRAPPED = [re.compile(r"(?<![\w*_`])" + re.escape(opening) + inside + re.escape(closing) + after)
            for opening, closing, inside, after in _WRAPPING_MARKS]
_MARK_CHARACTERS = frozenset("".join(opening + closing for opening, closing, _, _ in _WRAPPING_MARKS))


def unwrapped(text: str) -> str:
    """`text` without the marks that wrap its words in pairs: '**"Paris"** or _Lyon_' is 'Paris or Lyon'."""
    for wrapped in _WRAPPED:
        text = wrapped.sub(r"\1", text)
    return text


# A list's first bullet or number, a quoted line's mark, or a pause before the answer: "• 1969", "1. Paris", "> Paris",
# "... Paris", "— Paris", "### Paris", "🇫🇷 Paris", "✅ Paris", "→ Paris", "- 1969" (a spaced hyphen is a bullet: a minus is written against its number, "-5"). A
# plus only before a word ("+ 5" may be +5); a list starts at 1 ("2. Bundesliga" is a German ordinal).
_SECOND_ITEM = re.compile(r"\s2[.)]\s")
_LIST_OR_QUOTE_MARKER = re.compile(r"(?:-(?=\s+\S)|\+(?=\s+[^\d\s])|[•‣◦▪>\u2013\u2014→➡►▶✅✔☑★⭐👉]|1[.)]|#{1,6}"
                                   r"|[\U0001f1e6-\U0001f1ff]{2})\s+"
                                   r"|(?:\.{3}|…)\s*")


def _answer_and_rest_in(written: str, answers: Sequence[str], cut: bool) -> tuple[str, str] | None:
    """answer_at_the_start on the generated text as normalised for it (`written`: compatible, one line, trimmed)."""
    # The generated text as written (for capitals) and folded (for comparing), with each folded character's
    # position in the written text: folding may change lengths ("ß" is "ss").
    folded_parts = [fold(char) for char in written]
    said = "".join(folded_parts)
    ends = []  # ends[i]: the written length that covers the first i + 1 folded characters
    for index, part in enumerate(folded_parts):
        ends += [index + 1] * len(part)
    # Leading quotes or brackets of the answer itself are stripped as the generated text's are:
    # "(500) Days of Summer" and "'s-Hertogenbosch" are said as written.
    # An answer's own wrapping marks are read as the text's are ('"Weird Al" Yankovic' is said as Weird Al Yankovic),
    # and as written where the text keeps them.
    forms = [dict.fromkeys(normalise(text).lstrip(LEADING_NOISE) for text in (unwrapped(answer), answer)) for answer in answers]
    all_expected = [form for answer_forms in forms for form in answer_forms]
    for answer, answer_forms in zip(answers, forms):
        for expected in (spelling for form in answer_forms for spelling in unit_spellings(form)):
            if (expected and said.startswith(expected)
                    and (rest := _ends_where_the_answer_does(said, written, ends, expected, answer, cut, all_expected)) is not None
                    and _case_alike_where_it_counts(written, ends, expected, answer)):
                return answer, rest
    return None


def _case_alike_where_it_counts(written: str, ends: list[int], expected: str, answer: str) -> bool:
    """Whether the generated text writes in the answer's case what folding compared without it: a short symbol
    ("CO" is not "Co") and a quantity's unit ("1 mW" is not "1 MW", the abbreviations written in either case aside)."""
    if keeps_its_case(answer):
        return written[: ends[len(expected) - 1]] == as_written(answer)
    quantity = number_and_unit(expected)
    answer_quantity = number_and_unit(as_written(answer))
    if quantity is None or answer_quantity is None:
        return True
    unit_start = len(expected) - len(quantity[2])
    said_unit = written[ends[unit_start - 1] : ends[len(expected) - 1]]
    return unit_as_compared(said_unit) == unit_as_compared(answer_quantity[2])


def _ends_where_the_answer_does(said: str, written: str, ends: list[int], expected: str, answer: str, cut: bool,
                                all_expected: Sequence[str] = ()) -> str | None:
    """Where the folded text `said`, which starts with the folded answer `expected`, ends the answer there rather
    than carrying it on into another word, number or name: the written text after the answer that is left to judge
    for qualifiers; else None (`written`: the text before folding; `ends` maps folded positions to written ones;
    `all_expected`: every answer of the fact, folded)."""
    if cut and len(_WORD_OR_UNSPACED_CHARACTER.findall(said, len(expected))) < _WORDS_AFTER_A_CUT:
        return None
    rest = written[ends[len(expected) - 1] :]
    # A year followed by its month ("1949年10月1日", "1969년 7월 20일") is said, as "20 July 1969" says 20 July.
    if expected[-1] in "年년" and _MONTH_AFTER_A_YEAR.match(said, len(expected)):
        return rest
    # "5 km (3.1 mi)" and "365 days a year" say 5 km and 365 days as "5 km" and "365 days" would: what follows the
    # restatement or the bigger unit is judged as what follows the answer ("5 km (3.1 mi) or 6 km" is a hedge, "£100
    # ($130) a night" a rate, "3 hours a day or 4" a hedge).
    restated_end = _restated_in_another_unit(said, expected)
    if restated_end is None and (conversion := _counted_in_a_bigger_unit(said, expected)):
        restated_end = conversion.end()
    if restated_end is not None:
        start, end = ends[len(expected) - 1], ends[restated_end - 1]
        # The cut was judged above, on the words after the restatement too.
        found = _answer_and_rest_in(written[:start] + written[end:], [answer], False)
        return None if found is None else found[1]
    if answer.strip() in _SENTENCE_WORDS and _names_the_element(answer.strip(), rest):
        return rest
    following = said[len(expected) : len(expected) + 1]
    # A boundary is needed where the answer ends in a word character, or in an abbreviation's full stop that a
    # letter follows ("U.S.S.R." is not "U.S."; "U.S., then" says it).
    word_ending = _is_word_char(expected[-1]) or (expected[-1] == "." and len(expected) > 1 and _is_word_char(expected[-2]))
    if following and word_ending and (_word_goes_on(said, len(expected)) or following in _WORD_JOINERS):
        return None
    # A hyphen (or a tilde) between letters makes one word: "narrow-minded" is not narrow, "black-and-white" not black.
    if _is_word_char(expected[-1]) and not expected[-1].isdigit() and following in _HYPHENS + "~" and _word_goes_on(said, len(expected) + 1):
        return None
    # A contraction: "won't" is not won, "can't" not can ("Paris's" still says Paris).
    if expected[-1] == "n" and _NOT_CONTRACTED.match(said, len(expected)):
        return None
    # A full stop with a letter right after it goes on: "Node.js" is not Node, "U.S.S.R." not "U.S". A capitalised
    # word of several letters and a space after it begins a sentence written without its space: "Paris.The capital".
    if (_is_word_char(expected[-1]) and following == "." and _word_goes_on(said, len(expected) + 1)
            and not (len(expected) > 1 and _is_word_char(expected[-2]) and _A_SENTENCE_UNSPACED.match(written, ends[len(expected) - 1] + 1))):
        return None
    # A number goes on past a decimal point, a thousands separator, a ratio, a fraction, a range or a power; a
    # quantity's unit past a power or a "per" ("5 km^2" is not 5 km, nor "5 m/s" 5 m).
    after = said[len(expected) : len(expected) + 2]
    if _is_word_char(expected[-1]) and following == "^":
        return None
    if expected[-1].isdigit() and len(after) == 2 and after[0] in _NUMBER_JOINERS and after[1].isdigit():
        return None
    if _is_a_quantity(expected) and (following == "/" and _word_goes_on(said, len(expected) + 1)
                                     or _QUANTITY_GOES_ON.match(said, len(expected)) and not _ends_a_sentence(said, expected)):
        return None
    # "15th century BC" is no 15th century (AD), as "1939 BC" is no 1939.
    if re.search(r"\b(?:century|millennium)$", expected) and _BEFORE_OUR_ERA.match(said, len(expected)):
        return None
    if expected[-1].isdigit() and (_NUMBER_GOES_ON.match(said, len(expected)) or _SCALE_CHARACTERS.match(said, len(expected))
                                     or _OTHER_SCALE_WORD.match(said, len(expected))):
        return None  # also "$5 million", "€3 billion", "12万", "12만 명"
    if _amount_goes_on(said, expected):
        return None
    if expected[-1].isdigit() and unicodedata.category(expected[0]) == "Sc" and _CURRENCY_SCALE.match(said, len(expected)):
        return None
    last_word = re.split(r"[\s-]", expected)[-1]
    # "one second" is a second of time, no fraction ("twenty second" is an ordinal).
    a_second = last_word in ("one", "a") and re.match(r" second\b", said[len(expected) :])
    if _NUMBER_WORD.fullmatch(last_word) and _NUMBER_WORD_GOES_ON.match(said, len(expected)) and not a_second:
        return None
    if _OTHER_NUMBER_WORD.fullmatch(last_word) and _OTHER_NUMBER_WORD_GOES_ON.match(said, len(expected)):
        return None
    if len(expected) == 1 and expected in "abcdefg" and _NOTE_GOES_ON.match(said, len(expected)):
        return None
    # A name as the suite writes it, or as the model does, capitalised from its first letter ("new york" written " New
    # York City" names another place; "18th century" written "18th Century England" is a century still).
    as_written = written[: ends[len(expected) - 1]].strip()
    said_as_a_name = _looks_like_a_name(answer) or (bool(as_written) and _is_capital(as_written[0]) and _looks_like_a_name(as_written))
    if said_as_a_name and _continues_the_name(rest, answer) and not _a_realm_after_a_regnal_name(answer, rest):
        return None
    # A number a hyphen joins to a capitalised word makes a name: "7-Eleven" is no 7.
    if expected[-1].isdigit() and len(rest) >= 2 and rest[0] in _HYPHENS and _is_capital(rest[1]):
        return None
    # A planet's letter after a star named by its catalogue number: "Gliese 581 c" (a name's own rule reads "Proxima
    # Centauri b").
    if re.fullmatch(r"[^\W\d_][^\s]*(?:\s\S+)*\s\d+", answer.strip()) and _is_capital(answer.strip()[0]) and re.match(r" [b-h](?![\w.'’])", rest):
        return None
    # A middle dot joins the parts of a foreign name in Chinese ("马丁·路德·金"), and in Japanese between katakana
    # ("ギニア・ビサウ"; between kanji it lists: "東京・大阪"): scripts without capitals, so no name rule above sees them.
    if re.match(r"·\w", rest) or (re.match(r"・[\u30a0-\u30ff]", rest) and "\u30a0" <= expected[-1] <= "\u30ff"):
        return None
    # A hedge between two answers says neither: "Paris or Lyon", "Paris/Lyon", "50%/60%", "C++ or Java" (as "5 or 6"
    # is not 5); so does an answer denied right after it ("東京ではなく大阪", "서울이 아니라", "Paris — no, Lyon").
    hedge = _HEDGE.match(said, len(expected))
    # After a comma, "o" is Portuguese's article before a noun or a title ("Pelé, o Rei do Futebol", "São Paulo, o maior
    # município"), and Spanish's "or" before another name ("García Márquez, o Gabo"): read in the written text.
    if hedge and re.match(r",\s[(\[]?o\s", said[len(expected) :]) and not re.match(
            r",\s[(\[]?o\s[A-ZÁÉÍÓÚÑ][^\W\d_]*(?!\s(?:do|da|dos|das)\b)(?=[\s,.;!?)]|$)", rest):
        hedge = None
    # Between two of the fact's own answers "or" renames, it does not hedge: "Mumbai, or Bombay" with both given.
    renamed = hedge and any(other and other != expected and said.startswith(other, hedge.end() - 1) for other in all_expected)
    # A symbol or a name glossed in lower-case words is no hedge: "Au, or aurum in Latin", "NaCl, or sodium chloride".
    renamed = renamed or (hedge and any(char.isupper() for char in answer) and number_and_unit(answer) is None
                          and _GLOSS.match(rest))
    # "Or" that narrows the answer down in lower-case words is no hedge: "Paris, or rather its centre" ("Paris, or
    # rather Lyon" is).
    renamed = renamed or (hedge and (narrowed := _NARROWED_DOWN.match(rest)) and not _names_another_answer(rest[narrowed.end() :]))
    renamed = renamed or (hedge and re.match(r",? or so (?:I|we) (?:believe|think|recall|understand)\b", rest))  # a belief, no doubt
    renamed = renamed or (hedge and _is_an_amount_or_a_date(answer) and _restated_in_other_words(rest, expected))
    if (hedge and not renamed and not _a_translation_after_a_slash(said, expected)) or _DENIED.match(said, len(expected)):
        return None
    # An "or" judged no doubt above is no qualifier either.
    judged = _LEADING_OR.sub("", rest, count=1) if hedge and renamed else rest
    if _REJECTED.match(rest):
        return None
    if (doubt := _HEDGE_BEFORE_A_NAME_OR_NUMBER.match(rest)) and _begins_a_name_or_number(rest[doubt.end() :]):
        return None
    if _another_by_its_modifier(rest, all_expected or [expected]) or _turned_into_another_name(rest, expected, all_expected or [expected]):
        return None
    # Another answer asked after it: "Paris? Lyon?", "1969? 1970?", "Paris (Lyon?)".
    if (asked := _ANOTHER_ANSWER_ASKED.match(rest)) and normalise(asked.group(1)) not in all_expected and _bare_answer(asked.group(1)):
        return None
    # A correction to another name or number: "1968 — sorry, 1969", "Sydney. Actually, it's Canberra" ("Paris.
    # Actually, Paris is older" keeps it).
    # Another of the answer's kind: a number for a number ("1969. Actually, it was in July." says 1969).
    if ((correction := _CORRECTION.match(rest)) and (other := _bare_answer(rest[correction.end() :]))
            and other[0].isdigit() == expected[0].isdigit()):
        # The answer restated ("Paris. Sorry, Paris.") is still said: what follows the restatement is judged.
        return rest[rest.index(other, correction.end()) + len(other) :] if normalise(other) in all_expected else None
    # A symbol that is also an English sentence's first word, with the sentence going on: "I don't know" is no
    # iodine, "No, it is not" no nobelium, "As a rule" no arsenic, "At least" no astatine, "He was" no helium ("He —
    # Helium" says He).
    if answer.strip() in _SENTENCE_WORDS and _SENTENCE_GOES_ON.match(rest) and not _describes_the_element(answer.strip(), rest):
        return None
    return judged


# After an amount and "or", the same amount as a share ("50%, or half", "1.4 billion, or about 18% of the world's
# population", "71%, or about 7 in 10") or in another unit of time in words ("20 years, or two decades").
_OR_AS_A_SHARE = re.compile(r",?\sor\s(?:about\s|roughly\s|nearly\s|almost\s|around\s|some\s|just\s(?:over|under)\s)?"
                            r"(?P<share>(?:a|one|two|three|four)[\s-](?:half|third|quarter|fifth|tenth)s?|half|three-quarters|two-thirds"
                            r"|(?:one|two|three|four|five|six|seven|eight|nine|\d)\s(?:in|out\sof)\s(?:\w+)|\d+(?:\.\d+)?\s?(?:%|percent|per\scent))(?!\w)")
_OR_IN_OTHER_TIME_WORDS = re.compile(r",?\sor\s(?P<count>a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|\d+)\s"
                                     r"(?P<unit>decades?|centur(?:y|ies)|years?|months?|weeks?|days?|hours?|minutes?|seconds?)(?!\w)")
_COUNTS_IN_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                    "nine": 9, "ten": 10, "twelve": 12, "twenty": 20}


def _restated_in_other_words(rest: str, expected: str) -> bool:
    """Whether "or" after the amount `expected` restates it in other words, as a share or in another unit of time of
    the same length; another value ("50%, or 60%", "20 years, or three decades") is a hedge."""
    if (share := _OR_AS_A_SHARE.match(rest)) is not None:
        # A percent after a percent is another value of it: "50%, or 60%".
        return not (("%" in expected or "percent" in expected) and re.search(r"%|percent|per\scent", share.group("share")))
    if (restated := _OR_IN_OTHER_TIME_WORDS.match(rest)) is None or (own := _quantity(expected)) is None:
        return False
    count_word = restated.group("count")
    count = int(count_word) if count_word.isdigit() else _COUNTS_IN_WORDS.get(count_word)
    unit, own_unit = _UNIT_SPELLINGS.get(restated.group("unit"), restated.group("unit")), own[1]  # both plural, as spelled there
    if count is None or unit == own_unit or unit not in _UNIT_SIZES or own_unit not in _UNIT_SIZES:
        return False
    return math.isclose(count * _UNIT_SIZES[unit], own[0] * _UNIT_SIZES[own_unit], rel_tol=0.01)


# After a symbol that is also a sentence's first word, what describes the element: "He, a noble gas", "As, atomic
# number 33" ("I, a language model" and "No, the capital is" begin sentences).
_ELEMENT_WORDS = (r"(?:atomic|element|number\s\d|symbol|chemical|halogen|metalloid|metal|noble|alkali|alkaline|rare"
                  r"|radioactive|inert|actinide|lanthanide|trace|essential|from\sthe\sLatin|(?:with|which\shas|having)\satomic)\b")
_AFTER_THE_SYMBOL = r"\s?[,(:;\u2014\u2013-]\s?"
_DESCRIBES_THE_ELEMENT = re.compile(_AFTER_THE_SYMBOL + r"(?:(?:a|an)\s(?:[a-z]+,?\s){0,2})?" + _ELEMENT_WORDS)
_THE_ELEMENT = re.compile(_AFTER_THE_SYMBOL + r"the\s(?:element|halogen|actinide|lanthanide|metal|metalloid|noble)\b")
_DESCRIBES_AN_ELEMENT_WITH_AN_ARTICLE = re.compile(_AFTER_THE_SYMBOL + r"(?:a|an|the)\s[a-z]")


def _describes_the_element(symbol: str, rest: str) -> bool:
    """Whether `rest`, after a symbol that is also an English sentence's first word, describes the element ("I, the
    halogen"; "No, the symbol Nb belongs to niobium" and "I, a language model" begin sentences)."""
    if _DESCRIBES_THE_ELEMENT.match(rest) or symbol != "No" and _THE_ELEMENT.match(rest):
        return True  # "No, the element is niobium" denies
    # Its name after a word that gives it: "He, for helium", "As, short for arsenic", "In, which is indium".
    if re.match(_AFTER_THE_SYMBOL + rf"(?:short\sfor|for|which\s(?:is|stands\sfor)|standing\sfor)\s{_SENTENCE_WORDS[symbol]}(?!\w)",
                rest, re.IGNORECASE):
        return True
    return symbol not in ("I", "No") and bool(_DESCRIBES_AN_ELEMENT_WITH_AN_ARTICLE.match(rest))


def _names_the_element(symbol: str, rest: str) -> bool:
    """Whether `rest` goes on with the element's name: "He, helium", "I — iodine" give the symbol."""
    return bool(re.match(rf"\s?[,:;(\u2014\u2013-]?\s?{_SENTENCE_WORDS[symbol]}(?!\w)", rest, re.IGNORECASE))


def _a_realm_after_a_regnal_name(answer: str, rest: str) -> bool:
    """Whether `rest` names the realm of a monarch's regnal name: "Henry VIII" then " of England" (other names go on:
    "Royal Bank of Scotland" is no Royal Bank)."""
    return bool(_REGNAL_NUMBER.search(answer.strip()) and _REALM_OF_A_REGNAL_NAME.match(rest))


def _ends_a_sentence(said: str, expected: str) -> bool:
    """Whether a full stop after the quantity `expected` ends a sentence: after a unit written out ("3 days. 2 of
    them"), not after an abbreviation ("6 ft. 2 in.")."""
    return said[len(expected) : len(expected) + 1] == "." and len(re.split(r"[\s\d]", expected)[-1]) > 3


def _a_translation_after_a_slash(said: str, expected: str) -> bool:
    """Whether a slash after the answer leads to the answer in another script ("Beijing / 北京", "서울/Seoul"): the
    same answer written twice, no hedge."""
    after = _SLASH.match(said, len(expected))
    if not after or after.end() >= len(said):
        return False
    scripts = _script(expected[-1]), _script(said[after.end()])
    return all(scripts) and scripts[0] != scripts[1]


def _script(char: str) -> str:
    """The script of a letter ("LATIN", "CJK", "HANGUL"); a digit or a sign has none."""
    return unicodedata.name(char, "UNKNOWN").split()[0] if char.isalpha() else ""


def _bare_answer(text: str) -> str | None:
    """The name or number that `text` gives alone, up to the end of its clause ("Canberra." gives Canberra, "1969"
    1969); None where a sentence goes on ("Sydney is often mistaken for the capital", "600 million people watched")."""
    clause = re.match(r"[^,;:!?)\]）]*?(?=\.(?:\s|$)|[,;:!?)\]）]|$)", text).group().strip()
    words = clause.split()
    if not words or not (_is_capital(clause[0]) or clause[0].isdigit()):
        return None
    return clause if all(_is_capital(word[0]) or word[0].isdigit() or word in _PARTICLES_IN_A_NAME for word in words) else None


_PARTICLES_IN_A_NAME = frozenset("of de da del della di du des la le van von der den the and y".split())


def _names_another_answer(text: str) -> bool:
    """Whether the sentence `text` names a name or a number, other than a part of the answer after a possessive: "the
    city of Lyon", "the capital, Canberra", "nineteen sixty-nine" do; "its centre", "its Île de la Cité" do not."""
    sentence = re.match(r"[^.;!?]*", text).group()
    after_a_possessive = False
    for word in sentence.replace(",", " ").split():
        if word in ("its", "his", "her", "their"):
            after_a_possessive = True
        elif _is_capital(word[0]) or word in _PARTICLES_IN_A_NAME:
            if not after_a_possessive and _is_capital(word[0]):
                return True
        else:
            after_a_possessive = False
            if word[0].isdigit() or _NUMBER_WORD.fullmatch(word.split("-")[0]):
                return True
    return False


# A catalogue's inverted name, or a name's modifier in brackets: "Guinea, Equatorial", "Sudan (South)", "Congo,
# Democratic Republic of the"; not a nationality, which lists ("English, French") or describes ("Pablo Picasso
# (Spanish)").
_MODIFIERS = (r"(?:the\s)?(?:North|South|East|West|Northern|Southern|Eastern|Western|Upper|Lower|Equatorial"
              r"|Democratic\sRepublic(?:\sof(?:\sthe)?)?|People['’]s\sRepublic(?:\sof)?)")
_INVERTED_MODIFIER = re.compile(r",\s(" + _MODIFIERS + r")(?=\s?[.;!]|\s?$)|\s?\((" + _MODIFIERS + r")\)")


def _another_by_its_modifier(rest: str, all_expected: Sequence[str]) -> bool:
    """Whether a modifier after the answer makes another name of it, as the fact's answers do not ("Sudan, South",
    "Korea (North)"; "Congo, Democratic Republic of the" says the Democratic Republic of the Congo)."""
    if not (modifier := _INVERTED_MODIFIER.match(rest)):
        return False
    words = normalise(modifier.group(1) or modifier.group(2)).split()
    return not any(all(word in answer.split() for word in words if word not in ("the", "of")) for answer in all_expected)


def _joined_to_another_name(other: str, after: str, expected: str, all_expected: Sequence[str]) -> bool:
    """"Guinea, i.e. Guinea-Bissau": the answer joined by a hyphen to another name ("Paris, i.e. Lutetia" renames it;
    "Everest, i.e. Mount Everest" and "Mexico, i.e. Mexico City" are read as the answer, as its own longer names are)."""
    return other.startswith(expected + "-") and other not in all_expected


def _a_name_not_the_answers(other: str, after: str, expected: str, all_expected: Sequence[str]) -> bool:
    """"Niger, more precisely Nigeria", "Georgia, else Alabama": a name that none of the answers is. A number or a
    month dates or counts the answer ("1969, more precisely 20 July", "1969, to be precise July 1969"), and the answer's
    own last name restates it ("Neil Armstrong, to be exact Neil Alden Armstrong"); "U.S., specifically Alaska" narrows."""
    words = other.split()
    return (not other[0].isdigit() and other not in all_expected and words[0] not in MONTHS
            and not any(words[-1] == answer.split()[-1] for answer in all_expected if answer.split()))


def _alone_after_a_pause(other: str, after: str, expected: str, all_expected: Sequence[str]) -> bool:
    """"Niger... Nigeria": another name alone after a pause corrects the answer."""
    return other not in all_expected and re.fullmatch(r"[.!]?", after) is not None


# Markers after which another name takes the answer's place, each with the test of that name (normalised, and the text
# after it) that makes it another answer. `_CORRECTION` ("sorry", "actually") takes numbers too, and reads on after a
# restated answer.
_TURNED_INTO = ((re.compile(r",?\s(?i:i\.\s?e\.|that\sis|namely),?\s"), _joined_to_another_name),
                (re.compile(r",\s(?i:more\s(?:precisely|exactly)|(?:or\s)?to\sbe\s(?:precise|exact)|properly|technically"
                            r"|strictly\sspeaking|else|failing\sthat|(?:a\s)?second\s(?:choice|guess|option)|runner-up),?:?\s"),
                 _a_name_not_the_answers),
                (re.compile(r"\s?(?:\.{3}|…)\s?(?=\S)"), _alone_after_a_pause))


def _turned_into_another_name(rest: str, expected: str, all_expected: Sequence[str]) -> bool:
    """Whether a marker after the answer (a restatement, a correction, a pause) gives, alone up to its clause's end,
    another name that takes the answer's place (see `_TURNED_INTO`)."""
    for marker, turns_it in _TURNED_INTO:
        if (found := marker.match(rest)) and (other := _bare_answer(rest[found.end() :])):
            after = rest[rest.index(other, found.end()) + len(other) :]
            if turns_it(normalise(other), after, expected, all_expected):
                return True
    return False


def _begins_a_name_or_number(text: str) -> bool:
    """Whether `text` starts with a capitalised word that is no possessive, or a number ("Lyon", "6"; not
    "Europe's")."""
    word = re.match(r"[^\s,.;:!?)\]]+", text)
    phrase = re.match(r"[^,.;:!?)\]]*", text).group()
    # A possessive anywhere in the phrase, or "I", begins prose: "perhaps English literature's greatest writer",
    # "maybe I'm wrong".
    prose = re.search(r"['’]s?(?:\s|$)", phrase + " ") or re.match(r"I\b", text)
    return bool(word) and (_is_capital(word.group()[0]) or word.group()[0].isdigit()) and not prose


# Read in the normalised text: the Arabic "أو" has lost its hamza there. Also after a pause ("Paris... or Lyon",
# "Paris? Or Lyon?", "Paris — or Lyon"), a pipe ("Paris | Lyon"), "vs.", and "or" of Chinese or Japanese after a comma,
# a bracket or the answer itself ("東京もしくは大阪", "北京（或上海）"; "北京（或称北平）" names it otherwise).
_HEDGE = re.compile(r"(?:\s|\.{3}\s?|…\s?|[?;.]\s|\s?\u2014\s?|\s[-\u2013]\s|,\s)[(\[]?(?:or|oder|ou|o|или|або|чи|ili|또는|아니면|او|يا|או|या"
                    # ... before a word, or a sum ("$5 (or $6)", "£100, or £120").
                    r"|หรือ|lub|eller|veya|atau|hoặc|vagy|nebo|tai|albo|či|oppure|ya\sda|bzw\.|либо|혹은|अथवा|ειτε|ó)[\s,]\s?(?:\w|[^\w\s]\d)"
                    r"|\s?/\s?[^\W\d_]|\s?/\s?[^\w\s]?\d|\sand/or\s|\s(?:vs\.?|versus)\s|\s?\|\s?\w|[、，,]\s?(?:もしくは|または|或者|或是|还是|或|也可能)|[(（]?(?:もしくは|または|或者|或是|也可能是)|[(（]或(?!称|者称|叫|作|译|写作|拼作)")
_SLASH = re.compile(r"\s?/\s?")
_ANOTHER_ANSWER_ASKED = re.compile(r"(?:\?\s|\.{3}\s?|…\s?|\s\()([^?!.,;:()]+)\?")
_NARROWING = r"(?:rather|more precisely|more exactly|more specifically|to be (?:precise|exact))"
_NARROWED_DOWN = re.compile(r",? or " + _NARROWING + r",? (?=[a-z])")
# Read in the written text: a pause, then a word that takes back what came before it.
_CORRECTION = re.compile(r"(?:[,.;!?]+|\s?[-\u2014\u2013]|\.{3}|…|\s\()\s?"
                         # One or more words that take it back: "Wait, actually", "Oops, I mean", "Wait, no."
                         r"(?:(?:sorry|actually|correction|oops|my mistake|my apologies|apologies|I apologi[sz]e|scratch that|make that"
                         r"|I meant|I mean|oh|well|er|um|wait|hmm|hold on|never mind|on second thought|I stand corrected"
                         r"|let me (?:correct|reconsider|rephrase)(?: that)?|that's wrong|that is wrong|that's not right)(?:[,:!.]|\s[-\u2014\u2013])?\s"
                         # "no" only with its pause: "Madrid, no Barcelona" is Spanish for "not Barcelona".
                         r"|no(?:[,:!.]|\s[-\u2014\u2013])\s){1,3}"
                         r"(?:(?:that's|that is|I meant|I think it's|I believe it's)\s(?:actually\s)?)?"
                         # The other answer may end a sentence about the answer: "the capital is Canberra", "the correct
                         # year is 1969", "it was in 1969" ("many assume it is Sydney" is no correction).
                         r"(?:(?:actually\s)?(?:the\s(?:[^\s,.;:!?]+\s){0,5}?(?:is|was)|it(?:\sis|\swas|'s)(?:\sin)?)\s(?:actually\s)?)?",
                         re.IGNORECASE)
# ", or" before lower-case words that are no doubt ("or rather", "or is it", "or else") glosses a name or a symbol.
# Not a gloss: another one offered ("Edison, or one of his assistants", "Napoleon, or his brother", "6 GB, or less").
_GLOSS = re.compile(r", or (?!(?:is|was|rather|else|perhaps|maybe|possibly|probably|even|it|more|alternatively|otherwise|so|at"
                    r"|something|whatever|thereabouts"
                    r"|one|some|someone|somebody|his|her|its|their|another|less|fewer|lower|higher|warmer|cooler|colder"
                    r"|slightly|twice|thrice|half|the\s\w+\s(?:after|before|next))\b)[a-z]")
# Read in the written text, and only before another name or number: a doubt ("Paris, maybe Lyon", "5 (maybe 6)";
# "Paris, perhaps Europe's most visited city" says Paris), also in other languages, and the "or" words that are also
# other words: Romanian "sau" ("after" in Vietnamese: "Hà Nội sau đó"), Vietnamese "hay", Greek "ή" (which normalising
# writes as the article η: "Αθήνα η πρωτεύουσα" says Αθήνα).
_HEDGE_BEFORE_A_NAME_OR_NUMBER = re.compile(r"(?:[,;]?\s|\s[(\[]|[.?!]\s|\s?[-\u2014\u2013]\s?|\.{3}\s?|…\s?)(?:(?i:but|though|although),?\s)?"
                                            # English doubts, also as a sentence's first word ("Paris. Maybe Lyon.").
                                            r"(?:(?i:maybe|perhaps|possibly|probably|likely|alternatively,?|(?:it\s)?could\salso\sbe"
                                            r"|it\s(?:might|may|could)\sbe|then\sagain,?\sit\s(?:may|might)\shave\sbeen)"
                                            r"|or\sperhaps|or\smaybe|sau|hay"

                                            r"|η|(?<!,\s)u|peut-être|vielleicht|возможно|может\sбыть|talvez|forse|quizás|quizá"
                                            r"|tal\svez|misschien|kanske|może|eventuell|yahut|czy|alebo|ali|või|vai|arba|eða|if\snot|unless\sit's|unless\sit\sis"
                                            r"|beziehungsweise|of\smisschien|ou\speut-être|o\stal\svez|o\squizás|o\sforse)\s")
# An answer denied right after it: in English after a pause ("Paris — no, Lyon", "Paris. No, wait"; not "No. 1"), in
# other languages, and in Japanese, Korean, Chinese, Thai, Hindi and Turkish negations.
_DENIED = re.compile(r"ではな|ではあ|でな[くい]|じゃな|じゃあ|[？?]\s?いいえ|[이가은는]\s아[니닙닌님]|\?\s아니|[？?，,。]?\s?不(?:对|是)|ไม่ใช่|\sनहीं|\sdeğil"
                     r"|[,.]\si\smean\s|(?:\s?[-\u2014\u2013]\s?|[?.,;!]+\s|\.{3}\s?|…\s?|\s\()(?:(?:oh\s)?wait,?\s|hmm,?\s)?"
                     r"(?:no|nope|нет|ні|nein|non|não|nie|nej|nei|οχι)"
                     # Also at the end of the line ("Paris? No."), and before a dash ("Paris—no—Lyon").
                     r"(?:[,!:]\s|\.(?!\s?\d)\s|\swait\b|[.!]?$|\s?\u2014)"
                     # A comma's "no" in Arabic, Hebrew and Hindi; "不，" and "错了" in Chinese, "いや" in Japanese, "아니고" in Korean.
                     r"|[،,]\s?(?:لا|לא|नहीं)[،,]|[？?，,。]?\s?(?:不[，,]|错了)|[、，,？?]\s?いや|\s아니[고라]")
# A sentence that rejects the answer it begins with: "Thomas Edison didn't invent it", "1968 is wrong", "Paris is a
# common guess, but ..." ("Paris is not only the capital" keeps it); or a verdict after a pause: "Paris? Wrong.".
_REJECTED = re.compile(r"\s(?:is|was|are|were|did|does|do|has|had)(?:n't|\snot)\b(?!\s(?:only|just|merely|simply)\b)"
                       r"|\s(?:is|was)\s(?:incorrect|wrong|a\scommon\s(?:guess|misconception|mistake|answer)"
                       r"|often\s(?:credited|cited|thought|assumed|named|given)|frequently\s(?:credited|cited))\b"
                       r"|(?:[?.!,;]\s|\s?[-\u2014\u2013]\s?|\s\()(?i:no\sway|definitely\snot|wrong|false|incorrect)\b")
_SENTENCE_WORDS = {"I": "iodine", "No": "nobelium", "As": "arsenic", "At": "astatine", "In": "indium", "He": "helium",
                   "Be": "beryllium"}
# A monarch's realm after the regnal number: "Henry VIII of England" is Henry VIII.
_REGNAL_NUMBER = re.compile(r"\s[IVXL]+$")
_REALM_OF_A_REGNAL_NAME = re.compile(r",? of (?:the )?[A-Z]")
# Read in the written text: a lower-case word goes on.
_SENTENCE_GOES_ON = re.compile(r"['’][a-z]|\s[a-z0-9]|\s?[,!;:\u2014\u2013-]\s?[a-z]")
_MONTH_AFTER_A_YEAR = re.compile(r"\s?\d{1,2}\s?[月월]")
# A quantity restated in another unit after a slash, a bracket, "or", "i.e." or an equals sign: "100°C/212°F", "5 km,
# or 3.1 miles", "5 km (3.1 mi)" say 100°C and 5 km (in the same unit it is a hedge: "5 km/6 km"). Each match runs to
# the end of the restated amount, its bracket closed.
_RESTATED_IN_A_CURRENCY = re.compile(r"\s?(?:/|=|≈|\(|,?\s(?:(?:or|i\.e\.)(?:\s(?:about|approximately|roughly|around|some))?|about|approximately|roughly)\s)"
                                     r"\s?([^\w\s])\d[\d.,]*(\s?" + _SCALE_WORDS + r"(?!\w))?\)?")
_UNIT_IN_WORDS = re.compile(r"\s?(?:/|=|≈|\(|,?\s(?:(?:or|i\.e\.)(?:\s(?:about|approximately|roughly|around|some))?|about|approximately|roughly)\s)\s?[-+]?\d[\d.,]*\s?"
                            r"([^\W\d_]+(?:\s[^\W\d_]+)?)")
_RESTATED = re.compile(r"\s?(?:/|=|≈|\(|,?\s(?:(?:or|i\.e\.)(?:\s(?:about|approximately|roughly|around|some))?|about|approximately|roughly)\s)\s?[-+]?\d[\d.,]*\s?"
                       r"(?:" + _SCALE_WORDS + r"\s)?([^\d\s.,;:)]+)\)?")  # "6,650 km, or 6.65 million metres"


# Units of one kind, smallest first: an amount of one "per" a bigger one is a conversion, not a rate.
_UNITS_BY_SIZE = (("seconds", "minutes", "hours", "days", "weeks", "months", "years", "decades", "centuries"),
                  ("millimetres", "centimetres", "inches", "feet", "yards", "metres", "kilometres", "miles"),
                  ("grams", "ounces", "pounds", "kilograms", "tons"))


def _spellings_of_units() -> dict[str, str]:
    """Each unit word, singular or plural, British or American, or its symbol, to its plural as `_UNITS_BY_SIZE`
    writes it."""
    irregular = {"foot": "feet", "inch": "inches", "century": "centuries", "ton": "tons", "tonne": "tons", "tonnes": "tons"}
    symbols = {"m": "metres", "km": "kilometres", "cm": "centimetres", "mm": "millimetres", "mi": "miles", "ft": "feet",
               "kg": "kilograms", "g": "grams", "lb": "pounds", "lbs": "pounds", "oz": "ounces", "h": "hours",
               "hr": "hours", "hrs": "hours", "min": "minutes", "mins": "minutes", "s": "seconds", "sec": "seconds",
               "yr": "years", "yrs": "years"}
    spellings = irregular | symbols
    for unit in (unit for units in _UNITS_BY_SIZE for unit in units):
        spellings[unit] = unit
        if unit not in irregular.values():
            spellings[unit[:-1]] = unit
        if unit.endswith("metres"):
            spellings.update({unit[:-3] + "ers": unit, unit[:-3] + "er": unit})
    return spellings


_UNIT_SPELLINGS = _spellings_of_units()
# The size of each unit of `_UNITS_BY_SIZE` in the kind's smallest unit's terms (metres and grams for the others).
_UNIT_SIZES = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800, "months": 2629800,
               "years": 31557600, "decades": 315576000, "centuries": 3155760000, "millimetres": 0.001,
               "centimetres": 0.01, "inches": 0.0254, "feet": 0.3048, "yards": 0.9144, "metres": 1, "kilometres": 1000,
               "miles": 1609.344, "grams": 1, "ounces": 28.35, "pounds": 453.6, "kilograms": 1000, "tons": 1000000}


def _another_amount(amount: str, unit: str, restated_amount: str, restated_unit: str) -> bool:
    """Whether an amount restated in another unit of its kind is another amount: "3 hours or 4 days" hedges, "3
    hours, or 180 minutes" restates (within a tenth: "5 miles or 8 km" is a rounding)."""
    words = [unit.split()[-1] if unit.split() else "", restated_unit.split()[0]]
    sizes = [_UNIT_SIZES.get(_UNIT_SPELLINGS.get(word.lower(), "")) for word in words]
    numbers = [re.sub(r"[,\s]", "", text) for text in (amount, restated_amount)]
    if None in sizes or not all(re.fullmatch(r"[-+]?\d+(?:\.\d+)?", number) for number in numbers):
        return False
    first, second = float(numbers[0]) * sizes[0], float(numbers[1]) * sizes[1]
    return abs(first - second) > 0.1 * max(abs(first), abs(second))
_PER_UNIT = re.compile(r"\s(?:per|a|an|in\sa|in\san|in\sone|to\sa|to\san|to\sthe)\s([a-z]+)(?!\w)")


def _counted_in_a_bigger_unit(said: str, expected: str) -> re.Match | None:
    """Where the quantity `expected` is counted in a bigger unit of its kind: " a year" in "365 days a year", " per
    foot" in "12 inches per foot" ("$80 a barrel" and "5 km per hour" are rates)."""
    unit = _UNIT_SPELLINGS.get(expected.rsplit(" ", 1)[-1]) if _is_a_quantity(expected) else None
    per = _PER_UNIT.match(said, len(expected))
    if unit is None or per is None or (bigger := _UNIT_SPELLINGS.get(per.group(1))) is None:
        return None
    bigger_of_its_kind = any(unit in units and bigger in units and units.index(bigger) > units.index(unit) for units in _UNITS_BY_SIZE)
    return per if bigger_of_its_kind else None


def _restated_in_another_unit(said: str, expected: str) -> int | None:
    """Where the quantity `expected` restated in another unit or currency right after it ends: "100°C/212°F" and "£100
    ($130)" restate it; "5 km/6 km" is a hedge, no restatement. A restatement in brackets ends with them ("1.93 m (6 ft
    4 in) tall"), and is none if they do not close."""
    restated, end = None, None
    if (figure := _the_same_sum_restated(said, expected)) is not None:
        restated, end = figure, figure.end()
    elif unicodedata.category(expected[0]) == "Sc" and (restated := _RESTATED_IN_A_CURRENCY.match(said, len(expected))):
        if restated.group(1) == expected[0]:
            return None
        # "£100 / $130", "$5 billion, or about €4.6 billion"; a scale word the answer lacks scales it ("£100 / $130
        # million").
        scaled_as_the_answer = restated.group(2) is None or re.search(_SCALE_WORDS + "$", expected)
        end = restated.end() if scaled_as_the_answer else restated.end(2) - len(restated.group(2))
    elif (quantity := number_and_unit(expected)) is None and _is_a_quantity(expected):
        if (restated := _UNIT_IN_WORDS.match(said, len(expected))) is None or not _is_a_unit(restated.group(1).split()[0]):
            return None  # no unit: "20 minutes, or 30 at rush hour" offers another amount
        unit = re.sub(r"^[-+]?\d[\d.,]*\s?", "", expected)  # "100 degrees celsius, or 212 degrees fahrenheit"
        if unit.startswith(restated.group(1)) or restated.group(1).split()[: len(unit.split())] == unit.split():
            return None  # in the same unit, a hedge: "5 degrees or 6 degrees", "24 hours or 25 hours during DST"
        restated_amount = re.search(r"[-+]?\d[\d.,]*", said[restated.start() : restated.start(1)]).group()
        if _another_amount(re.match(r"[-+]?\d[\d.,]*", expected).group(), unit, restated_amount, restated.group(1)):
            return None  # in another unit of its kind, another amount: "3 hours or 4 days"
        # As many words as the answer's unit has: "3 hours or 4 days a week" restates it as "4 days".
        end = restated.start(1) + len(" ".join(restated.group(1).split()[: len(unit.split())]))
    elif quantity is not None and (restated := _RESTATED.match(said, len(expected))):
        if restated.group(1).rstrip(".,;:!?") in ("", quantity[2]) or not _is_a_unit(restated.group(1).rstrip(".,;:!?")):
            return None  # "5 km (6 maybe)" offers another amount
        figure, own = _quantity(said[restated.start() + re.search(r"\d", restated.group()).start() :]), _quantity(expected)
        if figure and own and figure[1] == own[1] and own[1] not in _NAMES_OF_UNITS_OF_TWO_SIZES:
            # Its unit spelled otherwise: "10 km² (12 sq km)", "60 mph (65 miles per hour)", "10 km (12 kms)" ("1 ton
            # (0.91 tonnes)" and "200 °C (392 degrees)" convert it).
            return None
        end = restated.end()
    if restated is None:
        return None
    if said[restated.start() :].lstrip().startswith("("):
        closing = said.find(")", restated.start())
        if closing == -1 or "(" in said[restated.start() : closing].lstrip()[1:]:
            return None
        # What the brackets hold after the restatement is read too: "8 hours (7 hours for adults over 65, though)".
        return None if _qualifier_in(said[min(end, closing) : closing], expected) else closing + 1
    return end


# A restatement's marker, then a figure: "/", "=", "(", ", or (about)", ", i.e.", ", roughly".
_RESTATED_FIGURE = re.compile(r"\s?(?:/|=|≈|\(|,?\s(?:(?:or|i\.e\.)(?P<about>\s(?:about|approximately|roughly|around|some))?|(?P<alone>about|approximately"
                              r"|roughly))\s)\s?(?P<figure>[^\w\s]?\d[\d.,]*(?:\s?" + _SCALE_WORDS + r"(?!\w))?\s?(?:[^\W\d_]+)?)")
_CURRENCIES = frozenset({"dollars", "euros", "pounds", "pounds sterling", "yen", "yuan", "rupees", "francs"})


def _the_same_sum_restated(said: str, expected: str) -> re.Match | None:
    """The figure after the amount `expected` that restates it, where the unit rules above find none: its value with
    another scale word ("1.4 billion people, or 1,400 million"), or a sum in another currency named in words ("$5
    billion, or about 4.6 billion euros"); None for any other figure ("5 km, or 6" offers another)."""
    if not (figure := _RESTATED_FIGURE.match(said, len(expected))):
        return None
    restated = _quantity(figure.group("figure"))
    answer = _quantity(expected)
    if restated is None or answer is None:
        return None
    (value, unit), (answer_value, answer_unit) = restated, answer
    # Only as a plain restatement: "2, approximately 2" and "1.4 billion, or about 1,400 million" hedge it.
    same_sum = (math.isclose(value, answer_value, rel_tol=1e-9) and unit in ("", answer_unit) and not figure.group("about")
                and not figure.group("alone"))
    # Named in words (a sign is read above: "£100 / $130 million" scales it otherwise).
    another_currency = (unit != answer_unit and unit in _CURRENCIES and answer_unit in _CURRENCIES
                        and figure.group("figure")[0].isdigit())
    return figure if same_sum or another_currency else None


# Short words that read as a unit symbol after a number and are words here: "(2023 est.)", "or 30 at rush hour".
_WORDS_NOT_UNITS = frozenset("a an as at be by do if in is it of on or so to up we est est. the and for but per are was his her its "
                             "ad bc bce ce "  # an era: "1450, approximately 1455 AD" still hedges the year
                             "not may can off out via".split())


def _is_a_unit(word: str) -> bool:
    """Whether `word`, after a number, is a unit that restates an amount: a unit word ("miles", "degrees"), a unit
    symbol ("mi", "°F") or a currency's name."""
    word = word.casefold()
    return (word in _UNIT_SPELLINGS or word.rstrip("s") in ("degree", "dollar", "euro", "pound", "yen", "rupee", "yuan")
            or word in ("celsius", "fahrenheit", "kelvin") or (number_and_unit(f"1 {word}") is not None and word not in _WORDS_NOT_UNITS))


# An "or" that renames, glosses or narrows the answer down (judged above), with its "rather": left out of the qualifiers.
_LEADING_OR = re.compile(r"[\s,;(\[\u2014\u2013-]*[^\s,]+(?:\s" + _NARROWING + ",?)?")
# A closed list of the words that qualify an answer anywhere after it on its line: another answer offered ("or"), a
# doubt ("maybe", "I think", "some say"), a denial or correction ("not", "actually", "sorry"), a contrast ("but") or a
# question. The rules above read the shapes they know; whatever they let through, an answer with one of these words
# after it is not said plainly, so it fails with the word named instead of passing on a guess ("Buzz Aldrin was the
# second, not the first", "1440 (some sources say 1450)"). English words in any case ("may" only in lower case: "1
# May"), and other languages' words too.
_ENGLISH_QUALIFIERS = ("or alternatively otherwise maybe perhaps possibly probably probable likely unlikely might could "
                       "unsure uncertain unclear disputed contested unconfirmed unverified questionable dubious "
                       "doubtful tentative tentatively reportedly allegedly supposedly apparently presumably seemingly "
                       "purportedly reputedly ostensibly conjectural speculative guess guessing guessed methinks iirc "
                       "afaik tbc hopefully debunked mistakenly not cannot nope nah nay never wrong wrongly incorrect untrue inaccurate erroneous "
                       "erroneously mistake mistaken misconception misattribution misattributed refuted disproven "
                       "disproved outdated typo erratum actually sorry apologies apologise apologize oops whoops "
                       "ahem erm uh hmm correction corrected revised disregard kidding instead "
                       "but though although however whereas unless nevertheless admittedly jk idk tbd sarcasm").split()
# Words that qualify an amount, not a name: "1450, approximately" hedges the year; "Tokyo, with an estimated 37
# million residents" and "Stonehenge, built about 3000 BC" describe another number.
_APPROXIMATIONS = re.compile(r"(?<![\w'’-])(?i:approximately|approximate|approx\.?|roughly|circa|thereabouts"
                             # A year's estimate dates a figure, as a census does: "67 million (2023 estimate)", "(est. 2023)";
                             # "an estimated 1455" is a figure.
                             r"|c\.(?=\))|(?<!\d{4}\s)(?:(?<=\ban\s)estimated|(?:estimated|estimate|est\.)(?!\s?\d{4}))|estimates\sof|ca\.|at\s(?:the\s)?(?:very\s)?(?:least|most)|about(?=\W*$)|around(?=\W*$)|around\sthat\stime|más\so\smenos|environ|env\.|etwa"
                             r"|ungefähr|aproximadamente|aprox\.?|ongeveer|yaklaşık|rund(?:\sgerechnet)?(?=\W*$)|at\s(?:the\s)?(?:very\s)?latest|(?:around|about)\sthen"
                             r"|at\sthe\s(?:very\s)?earliest|at\s(?:a\s)?(?:minimum|maximum)"
                             r"|at\sthe\soutside|(?:max\.?|minimum|maximum|tops)(?=\W*$)|almost(?=\W*$)|nearly(?=\W*$)|ungefär|kurang\slebih"
                             r"|mniej\swięcej|à\speu\sprès|noin|примерно|приблизительно|geschätzt|تقريبا|تقريباً|लगभग)(?![\w'’-])")
# Approximations right after an amount, where they could mean something else further on ("纽约" holds 约, "के करीब" is
# also "near", "civarında" "in the vicinity of"): "5000左右", "5km 정도", "1947 के आसपास", "1923 civarı".
_APPROXIMATIONS_RIGHT_AFTER = re.compile(r"\s?(?:估计|大概|约|左右|上下|程度|前後|ぐらい|くらい|정도|쯤|가량"
                                         r"|(?:(?:के\s)?(?:करीब|आसपास)|civarı|civarında)(?![\w'’-]))")
# Right after the answer (or as the whole next sentence: "2.1 million. In round figures."), and up to its clause's end:
# a hedge of the answer ("206, at a rough count."), not words of a later sentence ("Paris. In round figures, 2 million
# people live there.").
_RIGHT_AFTER = r"(?:(?<=^\s)|(?<=^,\s)|(?<=^\s\()|(?<=^\()|(?<=^;\s)|(?<=^\s[-\u2014\u2013]\s)|(?<=^\.\s)|(?<=^!\s))"
_TO_ITS_END = r"(?=\s?[.!;)]|\s?$)"
# Where a hedge that may also describe what follows it ends its clause.
_CLAUSE_ENDS = r"(?=\s?[.!;,)]|\s?$)"
# ... and where it opens one after the answer: "Paris, at first glance." ("At first glance, it looks grey." and "home of a
# famous ballpark" describe).
_AFTER_A_PAUSE = r"(?:(?<=,\s)|(?<=\())"
# A pinch or grain of salt taken with the answer ("Take that with a pinch of salt", "Paris (grain of salt)"), not one in
# a recipe or of salt itself ("mashed with a pinch of salt", "A grain of salt is a tiny cube").
_A_GRAIN = r"(?:a\s(?:(?:large|big|healthy|good|small)\s)?|a\sfew\s|some\s)?(?:pinch|grain)(?:e?s)?\sof\ssalt"
_GRAIN_OF_SALT = (r"(?:(?:take|taking|treat|read)\s(?:(?:it|that|this|this\sone|this\sanswer|that\sfigure|my\sanswer|the\sabove)\s)?with\s"
                  + _A_GRAIN + r"|(?:should|must|to|best)\sbe\s(?:taken|treated|read)\swith\s" + _A_GRAIN + "|" + _RIGHT_AFTER
                  + r"(?:with\s)?" + _A_GRAIN + r"(?:\s(?:advised|recommended|needed))?" + _TO_ITS_END + ")")
# A figure said to be rounded, after it ("2.1 million (rounded)", "2.1 million people — in round figures", "rounded up from
# 2.06 million") or as a later sentence ("Round numbers, of course."): read after an amount or a date only, as a name's
# description holds figures of its own ("Paris, with 2.1 million people, in round figures").
_ROUNDING_NOTE = re.compile(
    r"(?i:(?:(?<=,\s)|(?<=\()|(?<=[;\u2014\u2013-]\s)|(?<=[.!]\s))(?:(?:as\s)?(?:a\s)?round\s(?:figure|number)s?|I['’]ve\srounded\s(?:it|that|this)(?:\s(?:up|down|off))?|in\sround\s(?:numbers|figures|terms)|(?:those|these)\s(?:are|were)\s(?:round|rounded)\s(?:figures|numbers)|(?:that|it)(?:['’]s|\sis)\s(?:a\s)?rounded\s(?:figure|number)"
    r"|(?:at|by)\sa\s(?:rough|quick|loose|crude)\s(?:count|estimate|guess|reckoning)|(?:after\s)?rounding(?:\s(?:up|down|off))?"
    r"|rounded(?:\s(?:up|down|off))?(?:\s(?:to\s[^.;!)]{1,30}|from\s[^\s.;!)]+(?:\s(?:million|billion|thousand))?))?)"
    r"(?:,\s(?:of\scourse|naturally|obviously|anyway))?(?=\s?[.!;)]|\s?$))")
# A full mark of confidence, no hedge: "confidence: 10 out of 10", "5/5", "100%".
_FULL_MARKS = r"(?:100\s?%|10/10|5/5|100/100|10\sout\sof\s10|5\sout\sof\s5|100\sout\sof\s100)(?!\d|\.\d)"
_ENGLISH_QUALIFYING_PHRASES = (
    r"(?:I|we)(?:'d|’d|\swould)?\s(?:think|believe|guess|suppose|assume|reckon|say|mean|meant|suspect|presume|imagine"
    r"|wager|gather|hope|bet)", r"in\sall\slikelihood", r"(?:seems|sounds)\s(?:plausible|probable|possible)",
    r"(?:is|was)\sa\s(?:trick\s(?:answer|question)|distractor|decoy|red\sherring)", r"I['’]d\shave\sto\s(?:check|verify|look)",
    r"not\s100\s?%", r"with\s(?!100\b)\d+\s?%\s(?:confidence|certainty)", r"confidence:\s?(?!100(?![\d.])|(?:10/10|5/5|10\sout\sof\s10|5\sout\sof\s5)(?!\d|\.\d)|1(?:\.0+)?(?![\d./]))\d+\s?%?", r"50/50|fifty-fifty",
    r"with\s(?:some|a\slittle|a\sbit\sof|much|considerable|great)\s(?:uncertainty|doubt)",
    r"pending\s(?:confirmation|verification)", r"subject\sto\s(?:confirmation|verification)", r"to\sbe\s(?:verified|checked|determined)",
    r"so\sI['’]ve\sheard", r"(?:rumou?r|word)\shas\sit", r"one\swould\s(?:assume|think|guess|suppose|imagine)",
    r"what\sI['’]d\s(?:guess|assume)", r"(?:sort\sof|kind\sof|kinda)(?=\s?[.!;)]|\s?$)", r"\(formerly\)",
    r"(?<=,\s)(?:formerly|in\sthe\spast|once)(?=\s?[.!;]|\s?$)", r"was\sthe\s(?:right\s|correct\s)?answer\suntil",
    r"being\sthe\s(?:other|alternative|second)\s(?:option|choice|answer|candidate)", r"depending\son\s(?:how|who|what|which|whom)",
    r"something\slike\sthat", r"(?<=,\s)many\s(?:believe|think|say|claim|argue)", r"I['’]m\s(?:guessing|assuming|not)", r"\((?:possible|probable)\)", r"(?<!\d)(?:(?!100\b)\d+\s?%\ssure|100\s?%\ssure(?=\s?\?))",
    r"if\s(?:I|my)\s(?:recall|remember|memory)", r"if\smemory\sserves", r"if\sI['’]m\s(?:right|correct)",
    r"as\sfar\sas\sI\sknow", r"so\sthey\ssay", r"low\sconfidence", r"confidence:\s?low", r"needs\schecking",
    r"to\sbe\sconfirmed", r"to\s(?:the\sbest\sof\s)?my\sknowledge", r"as\sfar\sas\sI['’]m\saware", r"as\sbest\sI\scan\stell",
    r"as\sI\sunderstand\sit", r"it\sseems(?=\s?[.!;,)]|\s?$|\s(?:to|like|that)\b)", r"from\swhat\sI\srecall", r"if\sI['’]m\sremembering", r"I['’]m\sinclined\sto",
    r"(?:right|correct|real|actual)\sanswer\sis", r"make\sit(?=\s(?-i:[A-Z0-9$€£]))", r"take\sthat\sback", r"double\scheck",
    r"previous\sanswer", r"try\sagain", r"second\sattempt", r"recalculat\w*", r"as\sfar\sas\sI\scan\stell", r"last\sI\schecked", r"in\smy\sopinion",
    r"not\sentirely\s(?:sure|certain|confident)", r"(?<!\d)(?!100\b)\d+\s?%\sconfident", r"ignore\sthat",
    r"retract(?:ing|ed)?\sthat", r"prob\.", r"cf\.", r"as\sI\srecall", r"I\swant\sto\ssay", r"from\swhat\sI\sremember",
    r"to\sthe\sbest\sof\smy\srecollection", r"hard\sto\ssay", r"conceivably", r"I\smisspoke", r"double-check", r"um(?=\.{3}|…)",
    r"disputes(?=\s(?:this|that|it|the|these|those|whether)\b)", r"technically(?=\s?[.,;!)]|\s?$)",
    # Words that qualify in one sense only: "wait" as a pause ("Paris — wait, Lyon"; "commuters wait for trains"),
    # "rather" as a correction ("rather, Lyon"; "a rather large planet"), "pardon" as an apology (not "granted a
    # pardon"), "debated" of the answer (not "who debated Stephen Douglas"), "false" (not "false teeth"), and "no"
    # (not Portuguese's "in the": "Brasília, localizada no centro do país").
    r"wait(?=\s?[,.;:!?…—–-]|\s?$|\s(?:no|nope|actually|sorry|I|a\s(?:sec|second|moment|minute)|that|what)\b)",
    r"rather(?=\s?[,.;:!?…—–-]|\s?$|\s(?-i:[A-Z0-9$€£]))", r"pardon(?=\s?[,.;:!?…]|\s?$|\s(?:me|my)\b)",
    r"debated(?!\s(?-i:[A-Z])|\s(?:the|a|an|his|her|their|whether|with)\b)",
    r"false(?!\s(?:teeth|eyelashes|ceiling|bottom|alarm|dawn|start|positives?|negatives?)\b)", r"no",
    # Corrections.
    r"my\sbad", r"make\sthat", r"strike\sthat", r"scratch\sthat", r"hold\son", r"second\sthought", r"stand\scorrected",
    r"let\sme\s(?:fix|correct|rephrase|reconsider)", r"on\sreflection", r"then\sagain", r"that\ssaid", r"off\sby",
    r"update:", r"edit:", r"err(?=,)", r"\(now(?=\s(?-i:[A-Z0-9$€£]))", r"alt\.(?=\s(?-i:[A-Z$€£]))", r"er(?=,)", r"(?<=,\s)yet",
    r"is\smore\s(?:plausible|likely|accurate)", r"correct\sanswer:", r"(?<=[.;]\s)(?!(?:It|This|That|Which|So|Yes|Yep|Indeed)\b)\S+(?:\s\S+)?\sis\s(?:the\s)?correct",
    r"(?:is|was)\s(?:a\s)?(?:common\s)?(?:error|myth)",
    # Other sources, other counts.
    r"some\s(?:sources|accounts|counts|records|estimates|historians|scholars)\s(?:giving|putting|suggesting)",
    r"some\s(?:\w+\s){0,2}?(?:say|says|said|claim|claims|believe|think|argue|dispute|doubt|question|suggest|put|give|date|cite|prefer|favou?r|count"
    r"|list|propose|sources|accounts|estimates)", r"some\s(?:sources|records|accounts|counts|estimates)\s?:",
    r"others\s(?:say|claim|believe|argue|suggest|put|give|date|cite|prefer|favou?r|count|list|propose)",
    r"according\sto\s(?:some|others)", r"(?:sources|estimates|accounts)\s(?:differ|vary|disagree)",
    r"(?:several|other|older)\s(?:sources|historians|scholars|accounts|estimates|experts)",
    r"also\s(?:given|cited|proposed|suggested|reported|dated)", r"if\syou\scount",
    r"many\s(?:historians|scholars|sources)\s(?:date|put|give|place|prefer|say|argue|believe)",
    r"in\ssome\s(?:conventions|sources|accounts|versions|traditions)", r"(?<=[.!?,;]\s)who\s(?:knows|can\ssay)(?:\sfor\s(?:sure|certain))?(?=\s?[.!?…]|\s?$)", _GRAIN_OF_SALT,
    # A request to check it, as a sentence of its own: "Paris. Please verify.", "Paris. Check that.", "Paris [citation
    # needed]" ("as many sources confirm" and "Please check out the Louvre" do not ask).
    r"(?:citation|source|verification)\sneeded", r"needs\s(?:verification|checking|a\ssource)",
    r"(?<=[.!]\s)(?:please\s|you\s(?:should|may\swant\sto|might\swant\sto)\s)?(?:verify|double-check|check|confirm|fact-check|look)"
    r"(?:\s(?:this|that|it|me))?(?:\son\sthat|\sup)?(?:\sindependently)?(?:\sto\sbe\s(?:sure|certain|safe))?(?=\s?[.!]|\s?$)",
    r"(?<=[.!]\s)(?:I['’]d|I\swould)\s(?:verify|double-check|check)(?:\s(?:this|that|it))?(?=\s?[.!]|\s?$)",
    r"(?<=[.!]\s)worth\s(?:checking|verifying|double-checking)(?=\s?[.!]|\s?$)",
    # Recall, a guess or a choice, a confidence short of certain, how it appears, hearsay, a figure that varies (the
    # 38th and 39th passes). Those that also describe what follows them only where their clause ends: "Paris,
    # arguably." ("arguably the most beautiful city", "my best bet for a holiday", "I'm told you study French" do not).
    r"if\smemory\s(?:is\s(?:right|correct|accurate)|holds)", r"if\smy\s(?:recollection|memory)\sis\s(?:right|correct|accurate)",
    r"as\s(?:far|best)\sas\sI\s(?:can\s)?(?:recall|remember)", r"to\smy\s(?:recollection|memory)", r"as\sbest\sI\s(?:can\s)?(?:recall|remember)",
    r"as\sI\sremember", r"to\sthe\sbest\sof\smy\s(?:memory|recollection)", r"in\smy\s(?:recollection|memory)",
    r"my\s(?:recollection|memory)\s(?:is|says|tells)", r"I\s(?:seem\sto|vaguely)\s(?:recall|remember)", r"assuming\sI\s(?:remember|recall)",
    r"off\sthe\stop\sof\smy\shead", r"my\s(?:best\s)?(?:bet|estimate|hunch)" + _CLAUSE_ENDS, r"on\sa\shunch", r"my\smoney['’]?s\son",
    r"if\sI\s(?:had|have)\sto\s(?:pick|choose|guess|say|bet)", r"if\sI\smust\s(?:pick|choose|guess)", r"if\spressed",
    r"if\sforced\sto\s(?:pick|choose|guess|say)", r"I['’]d\s(?:venture|hazard|expect)", r"I\sfigure", r"out\son\sa\slimb",
    r"my\sgut\s(?:says|feeling|tells)", r"(?:going\sby|on)\s(?:a\s|my\s)?gut\sfeeling", r"I['’]d\slean\s(?:towards?|that\sway)",
    r"the\smost\s(?:plausible|likely|probable)\s(?:answer|candidate|option|choice)", r"rings\sa\sbell",
    r"confidence(?:\slevel)?(?:\s?[:=]\s?|\s)(?:medium|moderate|mid|middling|so-so|0?\.\d+)",
    r"(?:medium|moderate|limited|mid|middling|partial|modest|some|lowish|low)[\s-]confidence", r"somewhat\s(?:confident|sure|certain)",
    r"in\sall\sprobability", r"that['’]s\smy\sunderstanding", r"as\sI\sunderstand" + _CLAUSE_ENDS,
    r"(?:so\s)?it\s(?:would\s)?(?:appears?|seem)" + _CLAUSE_ENDS, r"seems\s(?:the\s(?:best|likeliest|most\slikely)|like\sthe)",
    _AFTER_A_PAUSE + r"at\sfirst\sglance" + _CLAUSE_ENDS, r"on\sthe\sface\sof\sit", r"(?:by|from)\sthe\slooks?\sof\sit", r"(?:by|to)\sall\sappearances",
    r"(?:it\s)?looks\slike" + _CLAUSE_ENDS,
    r"I['’]m\stold" + _CLAUSE_ENDS, r"I['’]ve\sbeen\stold", r"I\s(?:am|was|have\sbeen)\stold", r"(?<=,\s)they\ssay(?=\s?[.!;]|\s?$)",
    r"(?<=,\s)(?:people\ssay|I\shear|I['’]ve\sheard|word\sis)" + _CLAUSE_ENDS, r"so\sI\shear", r"I\sread\ssomewhere", r"it\sis\ssaid",
    r"in\sname\sonly", r"(?:arguably|debatably)" + _CLAUSE_ENDS,
    _AFTER_A_PAUSE + r"(?:in\sthe\s)?ballpark(?:\sfigure)?" + _CLAUSE_ENDS, r"(?:near|close)\senough", r"to\swithin\s(?:a|an|\d)", r"to\sthe\snearest\s(?:year|decade|century|hundred|thousand|million)",
    r"(?<=,\s)ish" + _CLAUSE_ENDS, r"(?:figures|values|measurements|numbers|estimates|sources)\s(?:vary|differ)",
    r"depending\son\sthe\s(?:source|measurement|definition|method|estimate)", r"by\ssome\s(?:measures|definitions|estimates|counts)",
    r"(?:sometimes|often|also|variously|elsewhere)\s(?:given|cited|quoted|listed|reported|put)\s(?:as|at)(?=\s[^\w\s]?\d)",
    r"estimates\srange", r"(?:varies|vary)\sby\s(?:source|measurement|definition)", r"the\sfigure\svaries",
    r"depending\son\s(?:how\sit\sis\s)?(?:measurement|measured|source)", r"in\ssome\s(?:measurements|counts|estimates)",
    r"by\sother\s(?:measurements|measures|estimates|counts)",
    # The 40th pass: more of recall, confidence, hearsay and appearance, and a request to check it against a source.
    r"(?:going|speaking)\s(?:off|from)\smemory", r"from\smemory\shere", r"memory\spermitting",
    r"if\sI(?:['’]ve|\shave)\s(?:got\s)?(?:this|that|it)\sright", r"that['’]s\swhat\sI\s(?:remember|recall|learned)",
    r"(?<!\d)(?!100\b)\d+\s?%\sconfidence", r"(?<![\d/])(?!10/10\s)\d+/10\sconfident", r"(?:confidence|probability)\s?[:=~]?\s?~?0?\.\d+",
    r"confidence:\s?(?:fairly|rather|quite|somewhat)\s(?:low|medium|moderate)", r"I['’]m\sthinking" + _CLAUSE_ENDS,
    r"by\smy\sreckoning", r"provisionally", r"from\swhat\sI(?:['’]ve|\shave)?\s(?:heard|hear|read)",
    r"(?<=,\s)I['’]ve\sread" + _CLAUSE_ENDS, r"from\sthe\slooks\sof\sthings", r"looks\slike\sthe\s(?:right\s|correct\s)?answer",
    r"my\sbest\sbet\s(?:here|for\sthis(?:\sone|\squestion)?)", r"needs\sconfirmation",
    r"(?:verify|verifying|double-check|double-checking|confirm|confirming|check|checking)(?:\s(?:this|that|it))?"
    r"\s(?:with|against|using)\s(?:an?\s|the\s)?(?:\w+\s)?source", r"I(?:['’]d|\swould)?\srecommend\s(?:verifying|double-checking|checking|confirming)",
    # The 41st pass: more chat-model hedges, the answer offered as one option among others, another value of a figure
    # from a source or a later measure, and hedges of an amount.
    r"(?:plausibly|doubtfully|questionably)" + _CLAUSE_ENDS, _RIGHT_AFTER + r"(?:it['’]s\s)?(?:a\s|just\sa\s)?(?:coin\s?(?:flip|toss)|shot\sin\sthe\sdark)"
    + _TO_ITS_END, r"I['’]m\srusty", r"dunno", _RIGHT_AFTER + r"(?:just\s)?(?:a\s|my\s)?gut\s(?:feeling|instinct|call)" + _TO_ITS_END, r"I\shear\stell", r"last\s(?:time\s)?I\s(?:checked|heard|looked|counted|knew|read|saw)", r"when\sI\slast\s(?:checked|looked|heard|read)",
    r"(?:from|based\son)\swhat\sI\scan\s(?:tell|see|gather)", r"if\sI\s(?:understand|recall|remember)\s(?:correctly|right(?:ly)?)",
    r"confidence\s(?!100\b)\d+\s?%", r"(?:likelihood|probability|chance)(?::\s?|\s)(?!100\b)\d+\s?%", r"\(p\s?=\s?0?\.\d+\)",
    r"(?:from|based\son|going\sby|judging\sby)\swhat\sI\s(?:know|understand|recall|remember|gather|(?:['’]ve\s|have\s)?(?:read|heard|seen))",
    r"if\sI\s(?:am|was)\s(?:right|correct|not\smistaken)", r"fingers\scrossed", r"I\s(?:have|['’]ve\sgot|get)\sa\s(?:feeling|hunch|sense)" + _CLAUSE_ENDS,
    r"I(?:['’]d|\swould)\s(?:need|have|want)\sto\s(?:check|verify|look|confirm|double-check)",
    r"(?:is|as|would\sbe|could\sbe)\s(?:one|a|an)\s(?:(?:strong|likely|possible|good|leading|top|real)\s)?(?:possibility|possible"
    r"\s(?:answer|option|choice|candidate)|option|candidate|contender|choice)" + _CLAUSE_ENDS,
    r"(?:is|would\sbe)\sone\sof\sthe\s(?:possibilities|options|candidates|contenders|choices)" + _CLAUSE_ENDS,
    r"(?<=\d\s)(?:according\sto|per)\s(?:Wikipedia|Britannica|Google|the\sinternet)",  # another figure's source
    r"(?<=^\s)ballpark" + _CLAUSE_ENDS, _RIGHT_AFTER + r"(?:in\sround\s(?:numbers|figures|terms)|(?:at|by)\sa\s(?:rough|quick|loose|crude)"
    r"\s(?:count|estimate|guess|reckoning)|(?:with\sa\s)?margin\sof\serror(?:\sof\s[^\w\s]?\d[\d.,]*(?:\s?\w+)?)?)" + _TO_ITS_END,
    r"\((?:provisional|preliminary|unconfirmed|unofficial)\)",
    # The 43rd pass: confidence notes in other shapes.
    r"(?<![\d/])(?!10/10|5/5)\d+/(?:10|5)\s(?:confidence|confident|sure|certain)", r"(?<!\d)(?!100\b)\d+\s?%\s(?:certain|likely|(?:chance|probability)(?!\s(?:of|that)\b))",
    r"\bp\s?[=≈~]\s?0?\.\d+", r"(?:medium|moderate)[-\s]high\sconfidence", _RIGHT_AFTER + r"from\smemory" + _TO_ITS_END,
    r"hope\sthat['’]s\s(?:right|correct)",
    # The 44th and 45th passes: hedges of the 43rd pass's kinds in other words, each where it speaks of the answer (a
    # pinch of salt in a recipe or with tequila, "and that's about it" after a list, "from memory" of a painting are
    # none); more confidence notes; another candidate under a label (not a label of none, nor "alt: 3,640 m").
    _RIGHT_AFTER + r"(?:(?:that|it|this|which)(?:['’]s|['’]d\sbe|\sis|\sshould\sbe|\sought\sto\sbe|\smust\sbe|\swould\sbe)\s"
    r"|(?:should\sbe|sounds|seems|pretty\smuch)\s)?(?:about|roughly|approximately|more\sor\sless|nearly|almost|pretty\smuch)\s"
    r"(?:right|correct|accurate|it)(?:,\s(?:anyway|at\sleast|I\sthink))?" + _TO_ITS_END,
    _RIGHT_AFTER + r"(?:(?:that|it|this)(?:['’]s|\sis|\sshould\sbe)\s|should\sbe\s)?(?:in\sthe\s(?:right\s)?ballpark(?:,\s(?:anyway|at\sleast))?"
    r"|(?:a\s)?ballpark\s(?:figure|estimate|number))" + _TO_ITS_END,
    _RIGHT_AFTER + r"(?:(?:I['’]m|I\sam|this\sis|that['’]s|it['’]s)\s)?(?:(?:answering|working|quoting|going|speaking|writing|recalling"
    r"|recalled|relying|purely|just|all|entirely|mostly)\s){0,2}(?:(?:from|off|by|on|based\son)\s(?:my\s)?memory(?:\salone)?|memory\sonly)"
    r"(?:,\s(?:mind|though|mind\syou))?" + _TO_ITS_END, r"hope\sI\s(?:got|have|['’]ve\sgot)\s(?:that|this|it)\s(?:right|correct)",
    r"(?:my\s)?(?:confidence|certainty|conf\.?)(?:\s(?:level|rating|score))?(?:\s?[:=≈~\u2014\u2013-]\s?|\s(?:is\s|of\s)?(?:about\s|around\s|~)?|\s)"
    r"(?:high,\s)?~?(?!" + _FULL_MARKS + r")\d+(?:\.\d+)?(?:\s?%|/(?:10|5|100)(?!\d)|\sout\sof\s(?:10|5|100)(?!\d))",
    r"(?:confidence|certainty)(?:\s(?:level|rating|score))?\s?[:=]\s?(?:(?:one|two|three|four)\sout\sof\s(?:five|ten)|(?:medium|moderate)[-\s]high|★+☆+)",
    r"(?<!\d)(?!" + _FULL_MARKS + r")\d+\sout\sof\s(?:10|5|100)(?!\d)\s(?:sure|certain|confident|confidence)",
    r"(?:ten|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine))?\s"
    r"(?:percent|per\scent)\s(?:sure|certain|confident|confidence|likely)",
    r"(?:low|medium|moderate|fair)(?:\s(?:to|or)\s|-)(?:high|medium|moderate)\sconfidence", r"moderately\s(?:confident|sure|certain)",
    r"I['’]d\sput\s(?:it|my\sconfidence|the\sodds)\sat\s(?!100\b)(?:\d+\s?%|(?:ten|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
    r"(?:[-\s][a-z]+)?\s(?:percent|per\scent))", r"odds:\s?(?!100\b)\d+\s?%",
    r"(?:(?:second|2nd)[-\s](?:choice|guess|pick|option|answer|best)|backup(?:\s(?:answer|choice|option|guess|pick))?|alternatives?"
    r"|alternate(?:\s(?:answer|choice))?|other\s(?:candidates?|options?|answers?|possibilit(?:y|ies)|contenders?)|plan\sB"
    r"|fallback(?:\s(?:answer|choice|option|pick))?|amended|close\ssecond|honou?rable\smention|also\spossible|option\s(?:2|two|B))\s?:"
    r"(?=\s?(?:\*\*\s?)?(?-i:[A-Z])|\s?\d)(?!\s?(?:None|Nothing|N/A)\b)", r"alts?\s?:(?=\s?(?-i:[A-Z]))",
    r"(?:with\s)?(?-i:[A-Z])[\w'’-]*(?:\s(?-i:[A-Z])[\w'’-]*)?\sas\s(?:a|the|my)\s(?:fallback|backup|second\s(?:choice|option|guess|pick)"
    r"|alternative)" + _CLAUSE_ENDS, r"my\s(?:second|next)\s(?:choice|guess|pick|option)\s(?:would\sbe|is)\s(?=(?-i:[A-Z])|\d)")
_OTHER_QUALIFIERS = ("oder ou или либо або чи ili lub eller veya atau hoặc vagy nebo albo či oppure sinon voire "
                     "nicht nein kein keine non não nie nej ні нет не όχι δεν falsch falso неверно "
                     "aber pero mas но але maar però porém pourtant cependant jedoch aunque хотя однако tapi tetapi "
                     "nhưng αλλά değil belki fakat mutta اما namun 그러나 însă azonban "
                     "peut-être vielleicht возможно talvez forse quizás quizá misschien kanske eventuell "
                     "probablement vraisemblablement apparemment wahrscheinlich vermutlich möglicherweise angeblich "
                     "probablemente posiblemente probabilmente provavelmente наверное вероятно кажется по-моему якобы "
                     "eher anzi cioè точнее вернее unsicher perdón scusa desculpe verzeihung entschuldigung простите "
                     "ой äh quatsch supongo suppongo digo думаю "
                     "또는 혹은 아니면 아마 아마도 아니 아닙니다 하지만 죄송합니다 글쎄요 "
                     "أو او لا ليس ربما وربما لكن ولكن بل خطأ أظن أعتقد عفوا عفواً "
                     "או לא אולי אבל या अथवा नहीं शायद लेकिन किंतु गलत संभवतः "
                     "creo creio credo penso acho मगर chyba asi luulen sanırım mungkin мабуть siguro labda شاید "
                     "možná kanskje måske ehkä talán ίσως πιθανώς можливо видимо вроде напевно galiba "
                     "herhalde prawdopodobnie pravděpodobně troligen waarschijnlijk evtl. direi immagino sepertinya "
                     "kayaknya כנראה").split()
# Written as the generated text is read (compatible forms: Hindi's nukta letters, Arabic's presentation forms).
_OTHER_QUALIFIERS = [compatible(word) for word in _OTHER_QUALIFIERS]
_OTHER_QUALIFYING_PHRASES = (r"je\spense|je\scrois|je\ssuppose|il\sme\ssemble|si\sje\sne\sm['’]abuse|sauf\serreur|à\svérifier"
                             r"|ich\sglaube|glaube\sich|ich\sdenke|denke\sich|ich\smeine|schätze\sich|tal\svez|a\slo\smejor"
                             r"|mejor\sdicho|sin\sembargo|en\steoría|quer\sdizer|то\sесть|вроде\sбы|я\sдумаю|sans\sdoute|à\sce\squ['’]il\sparaît"
                             r"|может\sбыть|może\sbyć|tror\sjag|tror\sjeg|azt\shiszem|có\slẽ|denk\sik|ik\sdenk"
                             r"|скорее\sвсего|geloof\sik|glaub\sich|denk\sich|soweit\sich\sweiß|si\sje\sme\ssouviens"
                             r"|j['’]imagine|je\sdirais|me\sparece|mi\ssembra|mi\spare|hình\snhư|chắc\svậy"
                             r"|paraît-il|para[iî]t-il|semble-t-il|al\sparecer|nehme\sich\san|meines\swissens|volgens\smij"
                             # "Maybe" alone or before another answer, not "can" before its verb ("которая может похвастаться").
                             r"|(?:может|poate)(?=\s?[.,;!?…]|\s?$|\s(?-i:[A-ZА-ЯЁĂÂÎȘȚ0-9]))"
                             # Norwegian "nei" ("no") before a pause or another answer: Italian "nei" is "in the".
                             r"|nei(?=\s?[,.;:!?…]|\s?$|\s(?-i:[A-ZÆØÅ0-9]))"
                             # Polish and Czech "ale", Turkish "ama" ("but") before another name or number only: English
                             # "pale ale", Spanish "ama" ("loves").
                             r"|(?:ale|ama)(?=\s(?-i:[A-Z0-9ÀÁÂÄÇÉÈÊÍÎÓÔÖÚÜĄĆĘŁŃŚŹŻČŠŽŘİĞŞ])|\s(?:może|chyba|možná|belki|galiba))"
                             r"|faux(?=\s?[.,;!?…]|\s?$)"  # French "false" alone, not "faux leather"
                             r"|falls\sich\smich|если\sя\sправильно|" + compatible("على\\sما|على\\sالأرجح|والله\\sأعلم|मुझे\\sलगता|माफ़|ख्याल"))
# Scripts without spaces: looked for anywhere ("或称", another name for it, is no "or").
_UNSPACED_QUALIFIERS = (r"或(?!称|者称|叫|作|译|写作|拼作|多或少)|可能(?!性)|也许|或许|不是|不对|错了|错误|[，,]\s?错|我觉得|我认为|好像|我猜|抱歉"
                        r"|更正|但是|(?<!不)但(?!是)|不过|けど|แต่(?!ละ)|然而|不确定|似乎|据说|说不定|存疑|应该是吧|估计是|大概(?=[。，,.吧]|$)|±|\+/-|かも(?=しれ|[。\s]|$)|たぶん|多分(?!に)|おそらく|と思|でしょう|だろう"
                        r"|違います|すみません|しかし|かな(?=[。？?！!\s]|$)|または|もしくは|あるいは|たしか|じゃな|ではな|틀렸|ไม่ใช่|หรือ(?!ที่รู้จัก)|อาจจะ"
                        # Question and cross marks of other scripts and of emoji: "‽", "❓", "❌", Arabic "؟", Armenian
                        # "՞", the Greek question mark (";" after a Greek letter: normalising writes it so), and an
                        # arrow to another answer ("1968 → 1969").
                        r"|[‽⸮❓❔❌✗✘؟՞🤔🤷→⇒➡➔➜⟶⇨]|(?<=[\u0370-\u03ff]);|\s-+>\s|\s=+>\s")
# A word's edges: letters, digits, apostrophes and hyphens, and the marks that Indic, Thai and Arabic letters carry
# ("किया", a past tense, holds no "या", "or").
_IN_A_WORD = r"\w'’\-\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0900-\u0963\u0966-\u0dff\u0e31-\u0e4e"  # not the danda
_QUALIFIER = re.compile(rf"(?<![{_IN_A_WORD}])(?:(?i:" + "|".join(_ENGLISH_QUALIFIERS) + "|" + "|".join(_ENGLISH_QUALIFYING_PHRASES)
                        + "|" + _OTHER_QUALIFYING_PHRASES + "|" + "|".join(map(re.escape, _OTHER_QUALIFIERS)) + rf")|(?<!\bna\s)(?<!\bng\s)(?<!\bay\s)may)(?![{_IN_A_WORD}])"
                        + r"|n['’]t(?!\w)|[?？]|" + _UNSPACED_QUALIFIERS)
_NEGATIONS = re.compile(r"(?i:not|no|nope|never|none|false|nein|non|нет)")
_BEGINS_AN_ANSWER = ("Lu", "Lt", "Lo", "Nd", "Sc")
# Words that look like qualifiers and are none: "not only", "but also", "no doubt", "No. 1", "otherwise known as", "not
# to be confused with" (another thing of its name, which the answer is not), a
# modal or a negation in a relative clause that describes the answer ("which could hold 50,000", "which has no moons",
# "who never grew up"; "which is not the capital" denies it), and their like in other languages.
_NO_QUALIFIER = re.compile(r"(?i:\bnot\s(?:only|just|merely|simply)\b|\bbut\salso\b|\bno\sdoubt\b|\bno\.?\s?(?=\d)"
                           # A modal first: "whom no president could match" is one clause.
                           r"|\b(?:which|who|whom|that|where|whose|when)(?:,[^,.;]{1,40},)?\s"
                           r"(?:(?!(?:is|was|are|were)\s(?:not|no|never)\b)[\w'’]+\s){0,5}?(?:could|may|might)(?:\s(?:not|no|never)|n['’]t)?\b"
                           r"|\b(?:which|who|whom|that|where|whose|when)(?:,[^,.;]{1,40},)?\s(?:(?!(?:is|was|are|were)\b)[\w'’]+\s){0,3}?(?:no|not|never|cannot"
                           r"|(?:ca|could|do|does|did|wo|has|have|had)n['’]t)(?!\w)"
                           r"|\botherwise\sknown\b|\bnot\sto\sbe\sconfused\b"
                           # The figure's history: "8,849 m, revised from 8,848 m in 2020", "as revised in 2020" ("since
                           # corrected from 1970 to 1969" corrects the answer).
                           r"|\b(?:revised|corrected|updated)\s(?:(?:up|down)(?:wards?)?\s)?from\b(?![^.;]*\sto\s)"
                           r"|\b(?:as\s)?(?:revised|corrected|updated)\s(?:in|on)\s\d{4}\b|\b(?:the|a|an|\d{4})\s(?:revised|corrected|updated)(?=\s[a-z])"
                           r"|\b(?:which|where|when)\s(?:[\w'’]+\s){0,2}?there\s(?:is|are|was|were)\s(?:no|not|never)\b"
                           r"|\bno\s(?:fewer|less)\sthan\b|\bnot\sleast\b|\bmaar\sliefst\b|\bне\sменее\b"
                           r"|\bnon\sseulement\b|\bnon\sloin\b|\bnicht\snur\b|\bне\sтолько\b|\bkein\sZweifel\b|\bno\ss[oó]lo\b"
                           r"|\bnon\ssolo\b|\bnão\ssó\b|\bniet\salleen\b|\baber\sauch\b|\bmaar\sook\b|\bsino\stambién\b"
                           r"|لا\sتزال|لا\sسيما|\bI\shope\sthis\shelps\b"
                           # A chat answer's closing words, about the reply or the user, not the answer.
                           r"|\b(?:I\shope|Hopefully)\s(?:(?:this|that|it|my\sanswer|this\sanswer|the\sabove|this\sinformation)(?:['’]s|\sis|\swas)?\s"
                           r"(?:helps|helped|answers|answered|helpful|useful|clear|clears|clarifies|what\syou\swere\slooking\sfor)"
                           r"|you\s(?:enjoy|have|find|found|like|get)|I['’]ve\sanswered)\b"
                           # "Paris. Don't forget Lyon" offers Lyon; "Don't forget to consider Lyon" too.
                           r"|\b(?:don['’]t|do\snot)\s(?:forget\sto\s(?:visit|see|try|bring|pack|book|enjoy)|(?:hesitate|be\safraid)\sto\s(?:ask|reach\sout|contact|let\sme\sknow))\b"
                           r"|\bcan['’]t\sgo\swrong\b|\bwon['’]t\sbe\sdisappointed\b|\bnot\sto\sbe\smissed\b|\bdon['’]t\smiss\sthe\b"
                           r"|^\W*No\sproblem\b)")
# Verbs and words after which "that" begins what is said or believed, not a relative clause that describes the answer:
# "historians claim that it never happened", "note that he did not work alone".
_BEFORE_A_THAT_CLAUSE = re.compile(r"(?i:(?:^|[.!?;:]\s*)|\b(?:claim|claims|claimed|note|notes|noted|believe|believes|believed"
                                   r"|say|says|said|think|thinks|thought|know|knows|knew|argue|argues|argued|suggest|suggests"
                                   r"|suggested|show|shows|showed|shown|state|states|stated|report|reports|reported|insist|insists"
                                   r"|insisted|assert|asserts|asserted|maintain|maintains|maintained|mean|means|meant|remember"
                                   r"|recall|realize|realise|find|finds|found|hold|holds|held|contend|contends|allege|alleges"
                                   r"|alleged|deny|denies|denied|doubt|doubts|doubted|confirm|confirms|confirmed|explain|explains|explained|conclude"
                                   r"|concludes|concluded|admit|admits|admitted|indicate|indicates|indicated|reveal|reveals|revealed"
                                   r"|out|estimate|estimates|estimated|agree|agrees|agreed|is|was|so|such|given|except|true|sure"
                                   r"|likely|possible|clear|fact|idea|theory|rumou?r|view|belief|notion)\s)$")


_CLAUSE_MODALS_AND_NEGATIONS = frozenset("could may might not no never cannot".split())
# In a relative clause, a negated "be" denies the answer rather than describing it, as "which is not" does ("which does
# not rust" describes).
_DENYING_CLAUSE = re.compile(r"(?i:\b(?:has|have|had)\s(?:not|never)\s(?:been|be)\b|\b(?:hasn['’]t|haven['’]t|hadn['’]t)\sbeen\b"
                             r"|\b(?:cannot|can['’]t|can\snot)\sbe\b)")


# A figure of what the text goes on to describe, converted into another unit after "or": "Mount Everest, at 8,849
# metres, or 29,032 feet", "Vatican City. It covers 0.44 km², or about 110 acres" (the "or" offers no other answer;
# "at 8,849 metres, or 8,850 metres" and "3 hours or 4 days" do). A unit's square is read as written after NFKC: "km2".
_A_UNIT_OF_A_FIGURE = r"(?:(?:square|sq\.?|cubic)\s)?[^\W\d_][^\W\d_]*(?:[23](?![\d.,]\d))?(?:\s(?:per|an|a)\s[^\W\d_]+)?"
_A_FIGURE_CONVERTED = re.compile(
    r"(?<![\w.,])(?P<amount>\d[\d,]*(?:\.\d+)?)\s?(?P<unit>" + _A_UNIT_OF_A_FIGURE + r"),?\s(?:or|i\.e\.)\s"
    r"(?:(?:about|approximately|roughly|around|nearly|almost|some|just\s(?:over|under))\s)?"
    r"(?P<restated>\d[\d,]*(?:\.\d+)?)\s?(?P<restated_unit>" + _A_UNIT_OF_A_FIGURE + r")(?!\w)")
_AREA_WORDS = frozenset({"acres", "acre", "hectares", "hectare", "ha"})


def _without_a_figure_converted(found: re.Match) -> str:
    """_A_FIGURE_CONVERTED's replacement: the first figure alone where the second restates it in another unit."""
    units = [found.group("unit"), found.group("restated_unit")]
    last_words = [unit.split()[-1].lower() for unit in units]
    if not all(_is_a_unit(word) or word in _AREA_WORDS for word in last_words):
        return found.group()
    if _UNIT_SPELLINGS.get(last_words[0], last_words[0]) == _UNIT_SPELLINGS.get(last_words[1], last_words[1]):
        return found.group()  # in the same unit: another value of it
    if _another_amount(found.group("amount"), units[0], found.group("restated"), units[1]):
        return found.group()
    return f"{found.group('amount')} {units[0]}"


def _unless_no_relative_clause(found: re.Match) -> str:
    """_NO_QUALIFIER's replacement: the words left out, unless they begin with a "that" that begins no relative clause
    ("claim that the landing never happened", "Sydney. That could be Canberra."), or with a relative word that opens a
    sentence, which describes nothing before it ("Sydney. Which could be Canberra.")."""
    words = found.group().split()
    opening = words[0].rstrip(",").lower()
    if opening not in ("that", "which", "who", "whom", "where", "whose", "when"):
        return " "
    # A clause whose subject is the speaker speaks of knowing the answer, not of the thing ("which I'm not sure about",
    # "which I can't confirm"; "without which we could not breathe" describes), as does one that weighs it ("which might
    # be the capital", "which could also be Lyon", "which may not be accurate").
    if (len(words) > 1 and re.match(r"(?:I|I['’](?:m|ve|d|ll))$", words[1].rstrip(","))
            and _OF_KNOWING.search(re.split(r"[.!?;]", found.string[found.start() :])[0])):
        return found.group()  # "which I can't recommend enough" praises
    if _WEIGHS_THE_ANSWER.match(found.string, found.end()):
        return found.group()
    # A clause right after the answer whose subject it is ("evidence that cannot be faked" describes the evidence).
    of_the_answer = opening in ("which", "who", "that") and not found.string[: found.start()].strip(" ,;(\u2014\u2013-")
    if of_the_answer and _DENYING_CLAUSE.search(found.string, found.start(), found.end() + 12):  # its next word too
        return found.group()  # "Sydney, which has never been the capital", "which cannot be the capital"
    if _BEFORE_A_THAT_CLAUSE.search(found.string[: found.start()]) and (
            opening == "that" or re.search(r"(?:^|[.!?;:])\s*$", found.string[: found.start()])):
        return found.group()
    # The words between the relative word and its modal or negation are read as any others: "which, I think, may".
    between = " ".join(word for word in words[1:-1] if word.lower().strip(",") not in _CLAUSE_MODALS_AND_NEGATIONS)
    # The relative word stays: an "or" later in its clause is read as the clause's ("which has no moons or rings").
    return found.group() if between and _QUALIFIER.search(_NO_QUALIFIER.sub(" ", between)) else f"{words[0]} "


_WEIGHS_THE_ANSWER = re.compile(r"(?:\snot)?(?:\salso|\swell)?\sbe\s(?:right|correct|accurate|wrong|true|false|it|the\s(?:answer|capital|one)\b"
                                r"|(?-i:[A-Z])(?![\w-]*['’]s\b))")  # "who may be England's greatest writer" describes
_OF_KNOWING = re.compile(r"(?i:\b(?:sure|certain|confirm|verif|know|remember|recall|check|vouch|misremember|doubt|unsure))")


# Right after the answer, a denial of another answer sets the answer against it: "Venus, not Mercury, is the
# hottest", "Paris instead of Lyon", "Москва, а не Петербург", "Madrid y no Barcelona".
_SET_AGAINST_ANOTHER = re.compile(r"\s?(?:[,;(]|\s?[-\u2013\u2014])?\s?(?:(?:а|y|e|et|and|but|und|ma|mais|pero)\s)?"
                                  r"(?:not|no|non(?:\spas)?|nicht|не|ні|لا|לא|pas|não|nie|rather\sthan|instead\sof)\s"
                                  r"(?:(?:the|le|la|les|l['’]|o|a|os|as|el|los|il|der|die|das)\s?(?=\w))?")


# A second negation joined to a relative clause's first is read as the first is ("which has no moons and no rings",
# "who never married and had no children"): left out here, and the first judged by _NO_QUALIFIER.
_CLAUSE_NEGATION = r"(?:no|not|never|cannot|(?:ca|could|do|does|did|wo|has|have|had|is|was)n['’]t)"
_A_SECOND_NEGATION_OF_A_CLAUSE = re.compile(
    r"(?i:(\b(?:which|who|whom|that|where|whose)\s(?:[\w'’]+\s){0,4}?(?:(?:could|can|did|does|do|has|had|have)\s)?" + _CLAUSE_NEGATION
    + r"\b[^,.;:!?()]{0,60}?\b(?:and|or|nor)\s(?:[\w'’]+\s){0,2}?)(?:(?:could|can|did|does|do|has|had|have)\s)?" + _CLAUSE_NEGATION + r"(?!\w))")


_A_SHORT_APPOSITION = re.compile(r"(?:,\s|\s?\()(?:the\s)?[^\W\d_][^,;()\[\].!?:]{0,30}?(?=\s?[,(]\s?|\s[-\u2013\u2014]\s)")


_A_SENTENCE_UNSPACED = re.compile(r"(?-i:A|I|[A-Z][a-z]+(?:['’][a-z]+)?)\s")


# Titles before a name, whose full stop ends no sentence: "Dr. No".
_TITLE_BEFORE_A_NAME = re.compile(r"(?<!\w)(?:Dr|Mr|Mrs|Ms|Mme|St|Ste|Mt|Ft|Sr|Jr|Prof|Gen|Col|Capt|Lt|Sgt|Rev|Hon|Gov|Sen|Rep)\.\s$")


def _inside_a_name(rest: str, start: int) -> bool:
    """Whether the list word at rest[start:] is written with a capital inside a sentence, right after another word:
    then it is part of a name or a title ("Love Actually", "Dan Rather", "Don't Look Back in Anger", "the Oder River",
    "Dr. No"), not a qualifier ("Paris. Actually, Lyon", "Paris, Not Lyon" and "PARIS OR LYON" still qualify)."""
    if not _is_word_char(rest[start]):
        return False  # a mark: "France?" asks
    end = start  # the match's first word, whole: "Don't" for "n't", "I" for "I believe"
    while start > 0 and (_is_word_char(rest[start - 1]) or rest[start - 1] in "'’"):
        start -= 1
    while end < len(rest) and (_is_word_char(rest[end]) or rest[end] in "'’"):
        end += 1
    word = rest[start:end]
    if not (_is_capital(word[:1]) and any(char.islower() for char in word)) or re.match(r"I['’]", word):
        return False  # also the pronoun with its verb: "so I've been told", "I'd say"
    before = rest[:start]
    return bool(re.search(r"[^\W\d_][\w'’]*\s$", before) or _TITLE_BEFORE_A_NAME.search(before))


# After an amount or a date, another of its kind listed or as the other end of a range: "1969, 1970", "$5, $6",
# "50%; 60%", "July 20 – July 24", "20 July to 24 July 1969".
_LISTED_AFTER = re.compile(r"(?:\s?[,;&]\s?|\s(?:and|to|through|until|till)\s|\s?[-\u2013\u2014]\s?)([^\s,;]+)(?:\s([^\s,;]+))?")
_AN_AMOUNT = re.compile(r"([^\w\s]?)(\d[\d,.]*\d|\d)(?:\s?(%|[^\W\d]+))?")
_A_DAY = re.compile(r"\d{1,2}(?:st|nd|rd|th)?")


def _another_of_its_kind(rest: str, answer: str) -> str | None:
    """The amount or date listed right after the amount or date `answer`, other than it; None where none is."""
    if not (listed := _LISTED_AFTER.match(rest)):
        return None
    first, second = listed.group(1).rstrip(".:)"), (listed.group(2) or "").rstrip(".:)")
    if any(word.lower().rstrip(".,") in MONTHS for word in answer.split()):
        def month(word: str) -> bool:
            return word.lower().rstrip(".") in MONTHS

        if (month(first) and _A_DAY.fullmatch(second)) or (_A_DAY.fullmatch(first) and month(second)):
            return f"{first} {second}"
        return None
    if not (amount := _AN_AMOUNT.fullmatch(answer.strip())):
        return None
    sign, number, unit = amount.groups()
    for other in (_AN_AMOUNT.fullmatch(first), _AN_AMOUNT.fullmatch(f"{first} {second}")):
        if other is None or (other.group(1), other.group(3)) != (sign, unit):
            continue  # another kind of amount: "1969, 600 million", "5 km, 3 mi" (a restatement, read elsewhere)
        if other.group(2).replace(",", "") == number.replace(",", ""):
            return None  # the answer restated
        if not (sign or unit) and (len(other.group(2).replace(",", "")) != len(number.replace(",", ""))
                                   or not re.match(r"\s?[,;]", listed.group())
                                   or second.isalpha() and second.islower() and second not in ("and", "or", "to")):
            # A bare number beside another size of number, a count of something ("1969, 2000 people"), or joined by
            # "and" as names are ("2 and 3", "1939 & 1945" name both, and say the first).
            return None
        return other.group()
    return None


# A figure after an approximation, with the word after its number and scale word: "600 million viewers", "1455".
# A figure's unit: a word, a degree ("°F"), a percent, a square or cubic unit ("km2", as "km²" is read).
_UNIT_AFTER_A_FIGURE = (r"\s?(°\s?[^\W\d_]+|%|(?i:(?:degrees?|deg\.?)\s?(?:celsius|fahrenheit|kelvin|c|f|k))(?!\w)"
                        # Units of more than one word: "sq km", "square miles", "miles per hour", "km/h", "per cent".
                        r"|(?i:(?:square|sq\.?)\s?(?:kilomet(?:re|er)s?|km|miles?|mi|met(?:re|er)s?|m)|(?:kilomet(?:re|er)s?|km|miles?)"
                        r"\s(?:per|an|a)\shour|km\s?/\s?hr?|mi\s?/\s?h|m\.p\.h\.?|per\scent|(?:US|U\.S\.)\sdollars?)(?![\w/])"
                        r"|[^\W\d_]+(?:[23](?!\d|[.,]\d))?|)")
_FIGURE = re.compile(r"\s(?:an?\s|some\s)?[^\w\s]?\d[\d.,]*(?:\s?" + _SCALE_WORDS + r"(?!\w))?" + _UNIT_AFTER_A_FIGURE)
# After an approximation, a span of time before or after the answer's date: "1937, roughly a decade before The Hobbit",
# "April 4, 1968, roughly five years after the speech".
_AN_INTERVAL = re.compile(r"\s(?:an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a\sfew|several|\d[\d.,]*)"
                          r"(?:\sand\sa\shalf)?\s(?:years?|decades?|centur(?:y|ies)|months?|weeks?|days?|hours?|minutes?)\s(?:before|after|earlier"
                          r"|later|ago|prior|since)\b")
_CLOCK_TIME = re.compile(r"\s\d{1,2}:\d{2}(?!\d)")


# Before an approximation, a word that makes its figure a base of comparison: "out of approximately 8 billion".
_COMPARED_WITH = re.compile(r"(?i:\b(?:out\sof|of|from|among|than|compared\s(?:to|with)|versus|vs\.?))\s$")


# After a figure that "with" and an approximation bring in, a word that gives the case it counts: "at birth", "in the
# metro area", "during the war".
_ANOTHER_CASE_AFTER = frozenset("at in during among for before after by within across including".split())


# Units spelled in more ways than one word's plural: a percent, an area, a speed.
_UNITS_OF_MORE_SPELLINGS = tuple((re.compile(spelling), unit) for spelling, unit in (
    (r"per\s?cent|pct\.?", "%"), (r"(?:square|sq\.?)\s?(?:kilomet(?:re|er)s?|km)|km[2²]", "km2"),
    (r"(?:square|sq\.?)\s?(?:miles?|mi)|mi[2²]", "mi2"), (r"(?:square|sq\.?)\s?(?:met(?:re|er)s?|m)|m[2²]", "m2"),
    (r"(?:kilomet(?:re|er)s?|km)\s(?:per|an|a)\shour|km\s?/\s?hr?|kph|kmh|kmph", "km/h"),
    (r"miles?\s(?:per|an|a)\shour|mph|m\.p\.h\.?|mi\s?/\s?h", "mph"), (r"(?:us|u\.s\.)\sdollars?", "dollars")))
# Units whose one spelling here names two sizes: a short ton and a tonne, a US and an imperial gallon.
_NAMES_OF_UNITS_OF_TWO_SIZES = frozenset({"tons", "gallons", "ounces", "pints", "quarts", "cups"})


def _unit_of_a_figure(word: str) -> str:
    """The unit a word after a number gives, spelled one way ("metres" for "m", "meter", "metres", "kms"; "°c" for
    "degrees Celsius" and "C"; "dollars" for "$"); "" for none (no word, or a word such as "in" or "at")."""
    word = re.sub(r"\s+", " ", word.casefold())
    if not word or word in _WORDS_NOT_UNITS:
        return ""
    for spelling, unit in _UNITS_OF_MORE_SPELLINGS:
        if spelling.fullmatch(word):
            return unit
    if degree := re.fullmatch(r"(?:°\s?|degrees?\s|deg\.?\s?)(c|f|k)(?:elsius|ahrenheit|elvin)?|(c|f|k)", word):
        return "°" + (degree.group(1) or degree.group(2))
    if word in ("degree", "degrees", "deg", "°"):
        return "°"  # its scale unsaid: as any degree
    if word not in _UNIT_SPELLINGS and word.endswith("s") and word[:-1] in _UNIT_SPELLINGS:
        word = word[:-1]  # "kms"
    return _CURRENCY_WORDS.get(word) or _UNIT_SPELLINGS.get(word, word)


_CURRENCY_WORDS = {"$": "dollars", "us$": "dollars", "usd": "dollars", "dollar": "dollars", "€": "euros", "eur": "euros",
                   "euro": "euros", "£": "pounds sterling", "gbp": "pounds sterling", "¥": "yen", "jpy": "yen"}


def _same_unit(one: str, other: str) -> bool:
    """Whether two units (as `_unit_of_a_figure` spells them) are one: a degree of unsaid scale is any degree's."""
    # "£100 (about 110 pounds)": a sum in pounds is one in pounds sterling.
    return (one == other or "°" in (one, other) and one.startswith("°") and other.startswith("°")
            or {one, other} == {"pounds", "pounds sterling"})


# A leading figure: a currency sign ("US$" too), a number, a scale word and a unit ("6,700km" is none: the unit is
# apart from the number or a sign); a time of day whole ("8:20 a.m.").
_LEADING_FIGURE = re.compile(r"\s?((?:US|A|C|NZ|HK|S)?\$|[^\w\s]?)(\d[\d.,'’]*)(?:\s?(" + _SCALE_WORDS + r"))?(?!\w)" + _UNIT_AFTER_A_FIGURE)
_LEADING_CLOCK_TIME = re.compile(r"\s?(\d{1,2}):(\d{2})(?!\d)(?:\s?([ap])\.?\s?m\b\.?)?", re.IGNORECASE)


def _quantity(text: str) -> tuple[float, str] | None:
    """The leading figure of `text`: its value (scale words counted) and its unit, a currency sign's too ("$5
    billion": 5e9, "dollars"), a time of day's in minutes ("8:20 p.m.": 1220, "time of day"); None where `text` starts
    with no number."""
    if clock := _LEADING_CLOCK_TIME.match(text):
        hours = int(clock.group(1)) % 12 + (12 if (clock.group(3) or "").lower() == "p" else 0) if clock.group(3) else int(clock.group(1))
        return float(hours * 60 + int(clock.group(2))), "time of day"
    found = _LEADING_FIGURE.match(text)
    if not found:
        return None
    try:
        value = float(re.sub(r"[,'’]", "", found.group(2)).rstrip("."))
    except ValueError:
        return None
    scale = (found.group(3) or "").casefold()
    value *= next((size for word, size in _SCALES if scale.startswith(word)), 1)
    unit = _unit_of_a_figure(found.group(4)) or _unit_of_a_figure(found.group(1))
    return value, unit


_SCALES = (("thousand", 1e3), ("million", 1e6), ("mn", 1e6), ("billion", 1e9), ("bn", 1e9), ("trillion", 1e12))


def _close_to_the_answer(figure: str, answer: str, named_unit: bool = True) -> bool:
    """Whether a figure is the answer's own quantity given again: in its unit (or none), or, for a unitless answer,
    within a factor of two of it ("206, roughly 210 bones", "37 (roughly 40 years)"; "1937; approximately 100 million
    copies sold" counts another thing). A unitless answer's count may be given with a unit (`named_unit`) or only
    without one ("1945 (1946 locally)" gives another case)."""
    said, own = _quantity(figure), _quantity(answer)
    if said is None or own is None or not own[0] or not said[0]:
        return False
    if own[1] and _same_unit(said[1], own[1]):
        return True  # the answer's unit: "6,650 km (about 14,000 km)"
    if (own[1] and not said[1] and (bare := _LEADING_FIGURE.match(figure)) and re.match(r"\s?(?:[)\]]|$)", figure[bare.end() :])
            and not _A_YEAR.match(figure.strip())):
        # A bare number near the answer's: "6,650 km (about 6,700)" ("$5 billion (2020)" dates it, "60% (about 0.6)"
        # and "1 ft (12 in)" convert it).
        return 0.5 <= said[0] / own[0] <= 2
    return not own[1] and (named_unit or not said[1]) and 0.5 <= said[0] / own[0] <= 2


_A_YEAR = re.compile(r"(?:1[0-9]|20)\d{2}(?![\d.,])")


def _same_value(figure: str, answer: str) -> bool:
    """Whether a figure is the answer's own value ("4.1 million (4,100,000)" restates it)."""
    said, own = _quantity(figure), _quantity(answer)
    return said is not None and own is not None and abs(said[0] - own[0]) <= 1e-9 * max(abs(own[0]), 1)


# After an approximation, what it compares something else with: "roughly the size of Texas", "roughly twice the size of
# France", "roughly as hot as the Sun", "roughly a fifth of them", "roughly six times that"; "an estimated audience";
# "roughly when the Beatles broke up", "roughly tied with India".
_A_COMPARISON = re.compile(r"\s(?i:the|a|an|as|twice|half|double|triple|one\s(?:in|out\sof)|(?:two|three|four|five|six|seven|eight|nine"
                           r"|ten|\d+)\stimes)\b(?!\s\d)|(?<=estimated)\s(?!(?:date|year|figure|value|number|total|count|time)\b)[a-z]"
                           # ... or dates another event by, or ties with: "That's roughly when the Beatles broke up".
                           r"|\s(?i:when(?!\s(?:it|that|this)\b|\W*$)|while|tied|level|equal|equivalent|comparable|similar|on\s(?:a\s)?par|in\sline"
                           # ... or places, directs or spreads: "roughly halfway through the Cold War", "roughly south to north".
                           r"|contemporary|halfway|midway|in\sthe\smiddle|(?:north|south|east|west)\w*|evenly|equally|parallel)\b")
# A later sentence's opening words that point back at the answer, up to an approximation, and a share after one that
# restates it ("1.4 billion. That's roughly one person in six.").
_REFERS_BACK = re.compile(r"(?i:that['’]s|that\sis|this\sis|it['’]s|it\sis|the\s(?:figure|number|count|total|date)\sis)\s(?:an?\s|the\s)?$")
_A_SHARE = re.compile(r"\s(?:(?:one|two|three|a|an|\d+)(?:\s\w+)?\s(?:in|out\sof)\s|(?:a\s)?(?:half|third|quarter|fifth|tenth)\b)")
# A sentence's end before a later one ("1969. The mission lasted ..."), or a semicolon before another clause.
_A_LATER_SENTENCE = re.compile(r"[.!?]\s+(?=[A-Z\"“'])|;\s+")


def _describes_something_else(rest: str, approximation: re.Match, answer: str) -> bool:
    """Whether an approximation after an amount or a date describes something else: what it compares ("643,801 km²,
    roughly the size of Texas"), or a later sentence of its own ("1969. The mission lasted roughly eight days.", "206
    bones. Roughly half of them are in the hands"), unless it opens that sentence alone or before another value of the
    answer's quantity ("1969. Roughly.", "6,650 km. About 6,700 km.")."""
    after = rest[approximation.end() :]
    if _A_COMPARISON.match(rest, approximation.end()):  # in `rest`: its lookbehind reads "estimated"
        return True
    if (approximation.group().lower().rstrip(".") in ("minimum", "maximum", "max")
            and re.search(r"\b(?i:the|a|an|its|their)\s(?:[\w-]+\s)?$", rest[: approximation.start()])):
        return True  # a noun: "35, the constitutional minimum", "130 km/h, the legal maximum"
    # (Read whole: a search ending at the approximation would not see the capital that opens its sentence.)
    sentences = [end for end in _A_LATER_SENTENCE.finditer(rest) if end.end() <= approximation.start()]
    if not sentences:
        return False
    if re.match(r"\W*$", after):
        return False  # it ends the later sentence, of what came before: "6,650 km. That figure is approximate."
    if (_REFERS_BACK.search(rest, sentences[-1].end(), approximation.start()) and not _A_SHARE.match(after)
            and not re.match(r"\sthat\b", after)):  # "It is estimated that 600 million people watched" is another's
        return False  # of the answer: "6,650 km. That's roughly right.", "206. That's an approximate count."
    if rest[sentences[-1].end() : approximation.start()].strip():
        return True  # inside the later sentence: "The landing was watched by roughly a fifth of the world."
    return not (_close_to_the_answer(after, answer) and _alone_in_its_clause(after))


def _before_another_figure(rest: str, approximation: re.Match, answer: str) -> bool:
    """Whether an approximation that a word of its clause comes before, and a figure of another kind than the answer's
    comes after, describes that figure: "1969, with approximately 600 million viewers", "3M, with approximately
    92,000 employees", "1.4 billion people, out of approximately 8 billion", "206 bones, with roughly 270 at birth".
    Opening its clause it hedges ("1450, approximately 1455"), as before a bare number or a figure in the answer's
    unit ("8 hours, it takes approximately 9", "330 m, standing approximately 300 metres")."""
    before = rest[: approximation.start()]
    if _AN_INTERVAL.match(rest, approximation.end()):
        return True
    if _CLOCK_TIME.match(rest, approximation.end()) and ":" not in answer:
        return True  # a time of day: "April 4, 1968, at approximately 6:01 p.m."
    figure = _FIGURE.match(rest, approximation.end())
    if figure is None:
        return False
    answer_quantity, figure_unit = _quantity(answer.strip()), _unit_of_a_figure(figure.group(1))
    other_unit = bool(figure_unit) and not _same_unit(figure_unit, answer_quantity[1] if answer_quantity else "")
    clause = re.split(r"[,;:(.!?\u2014\u2013]|\s-\s", before)[-1]
    if not re.search(r"[^\W\d_]", clause):
        # Opening its clause it hedges the answer ("1450, approximately 1455"), unless its figure counts something
        # else: "5,895 metres (approximately 19,341 feet)", "1937; approximately 100 million copies sold" (not the
        # answer's own count again: "206, roughly 210 bones").
        return other_unit and not _close_to_the_answer(figure.group(), answer)
    if re.match(r"\s?(?:when|while|where)\s", clause, re.IGNORECASE) and (figure_unit or not _of_the_answers_shape(figure.group(), answer)):
        # A clause about that time: "1937, when Tolkien was roughly 45", "1912, when approximately 1,500 people died"
        # ("when it was roughly 1938" hedges).
        return True
    if _COMPARED_WITH.search(before):
        return True
    if re.search(r"(?i:\bwith)\s$", before) and figure.group(1).casefold() in _ANOTHER_CASE_AFTER:
        return True  # a figure for another case: "206 bones, with roughly 270 at birth"
    return other_unit


_ABOUT = (r"(about|around|nearly|almost|close\sto|some|~|≈|roughly|approximately|just\s(?:under|over)|a\slittle\s(?:under|over)"
          r"|in\sthe\sregion\sof|on\sthe\sorder\sof|something\slike|approaching|c\.|that['’]s\sabout|more\slike|closer\sto"
          r"|(?:just\s)?shy\sof|often|sometimes|usually|commonly)")
# In brackets (round or square), or after a comma, a semicolon or a dash with one of `_ABOUT`.
_ANOTHER_VALUE = re.compile(r"\s?[(\[](?:" + _ABOUT + r"\s?)?(?=(?:US\$|[^\w\s])?\d[^()\[\]]*[)\]])"
                            r"|(?:[,;]|\s?[\u2014\u2013]|\s-)\s" + _ABOUT + r"\s?(?=(?:US\$|[^\w\s])?\d)")

_A_LATER_OR_ANOTHER_SOURCE = re.compile(
    r"(?i:(?:now|since|later)\s(?:thought|believed|estimated|measured|put|given|reckoned|known)\s(?:to\sbe|at|as)|updated\sto"
    r"|(?:newer|newest|recent|later|latest|updated|revised|more\srecent|new)\s(?:measurements?|studies|study|research|estimates?|figures?"
    r"|data|surveys?|sources?|counts?)\s?(?:give|gives|gave|suggest|suggests|put|puts|show|shows|say|says|indicate|indicates|:)"
    r"|(?:Wikipedia|Britannica|Google|the\sinternet)\s(?:says|said|gives|lists|puts|has)"
    # Another dating: "1939–1945. Chinese historians date it from 1931."
    r"|(?:historians|scholars|sources|experts|others|some)\s(?:date|count|reckon|put|place)(?:\sit)?\s(?:from|to|at|as|in))"
    r"(?=\s(?:US\$|[^\w\s])?\d)")


def _another_value_of(figure: str, answer: str, named_unit: bool = True, dated: bool = False) -> bool:
    """Whether the figure `figure` starts with is another value of the answer's own quantity, alone in its clause (or,
    where `dated`, followed by the year it dates from)."""
    if not _close_to_the_answer(figure, answer, named_unit) or _same_value(figure, answer.strip()):
        return False
    found = _LEADING_FIGURE.match(figure)
    return _alone_in_its_clause(figure) or bool(dated and found and re.match(r"\s(?:in|as\sof|since)\s\d{4}(?!\d)", figure[found.end() :]))


def _alone_in_its_clause(text: str) -> bool:
    """Whether the figure `text` starts with ends its clause or bracket, unit and all: "6,700 km)", "6,700 km long)"
    ("270 at birth)", "1946 in Japan)" and "1642 Old Style)" give the figure of another case)."""
    figure = _quantity(text)
    found = _LEADING_CLOCK_TIME.match(text) or _LEADING_FIGURE.match(text)
    ends = (re.match(r"(?:\s(?:long|wide|high|tall|deep|old|away|across|total|in\s(?:total|all|length)))?\s?(?:[).;!\]]|,\s|$)",
                     text[found.end() :]) if found else None)
    return figure is not None and ends is not None


def _of_the_answers_shape(figure: str, answer: str) -> bool:
    """Whether a figure's number is written as the answer's first number is: a year for a year ("1938" for "1937")."""
    numbers = [re.search(r"\d[\d.,'’]*", text) for text in (figure, answer)]
    shapes = [re.sub(r"\d", "9", number.group().rstrip(".,")) for number in numbers if number]
    return len(shapes) == 2 and shapes[0] == shapes[1]


def _is_an_amount_or_a_date(answer: str) -> bool:
    """An answer an approximation qualifies: a number, an amount, a year or a date ("1969", "$5", "5km", "20 July",
    "July 20"); not a name that holds a number ("Apollo 11", "COVID-19", "Boeing 787", "7-Eleven")."""
    words = answer.split()
    number = re.fullmatch(r"[^\w\s]?\d[\d.,:'’年月日년월일]*(?:[^\W\d_]{1,4}|%|°[CFK]?)?", words[0]) if words else None
    return bool(number) or bool(words) and words[0].lower().rstrip(".,") in MONTHS


# Words of Portuguese that an English line does not hold, which tell its "no" ("in the") from English's.
_PORTUGUESE = re.compile(r"(?<!\w)(?:de|do|da|dos|das|em|na|é|são|um|uma|ao|à|pelo|pela|com|para|seu|sua|que|foi|nascid[oa]"
                         r"|localizad[oa]|situad[oa])(?!\w)")


# A later sentence that only asks whether the answer is right: "Paris. Right?", "Is that correct?", "Am I right?",
# "Would you agree?" ("Paris. Pretty cool, right?" and "Want the correct pronunciation?" ask something else).
_RIGHT = r"(?:right|correct|true|so|accurate|it|the\sone)"
_CONFIRMING_QUESTION = re.compile(
    r"(?i:(?:hm+|so|well|uh|um),?\s)?(?i:" + _RIGHT + r"|yes|no|agree|agreed|eh|ok|okay|yeah|really|sure|confirm"
    r"|(?:is|isn['’]t|was|wasn['’]t|am|are|aren['’]t)\s(?:it|that|this|I|so)(?:\s" + _RIGHT + r")?"
    r"|(?:is|was)\s(?:that|this|it)\sthe\s(?:right|correct)\s(?:answer|one|\w+(?:\sof\s[\w\s]+)?)"
    r"|(?:am|was)\sI\s(?:right|correct|wrong)|did\sI\sget\s(?:that|it)(?:\sright)?|correct\sanswer"
    r"|(?:is|was)\s(?:my|this|that|the)\s(?:answer|guess)\s(?:right|correct|true)|(?:would|could)\s(?:that|this|it)\sbe\s(?:right|correct|true)"
    r"|(?:sounds?|seems?|looks?)\s(?:right|correct|good)|(?:true|right|correct),\s(?:right|no|yes)"
    r"|(?:does|do|would|will)\s(?:that|this|it|you)\s(?:sound|seem|look|match|agree)(?:\s(?:right|correct|true|good|your\s\w+))?"
    r"|would\syou\sagree|(?:can|could)\syou\s(?:confirm|verify|check)(?:\s(?:that|this|it)|\s(?:whether|if)\s(?:that|this|it)\sis\s(?:right|correct|true))?"
    r"|who\s(?:knows|can\ssay)(?:\sfor\s(?:sure|certain))?)\s?")


def _asks_to_confirm(before_the_mark: str) -> bool:
    """Whether the sentence that a question mark ends, in a later sentence, only asks whether the answer is right."""
    sentence = re.split(r"[.!?？]\s", before_the_mark)[-1].strip()
    return bool(_CONFIRMING_QUESTION.fullmatch(sentence))


# Another answer offered in a later sentence without a list word: "Paris. And Lyon.", "Paris. Lyon, too.", "1969.
# 1970 is also possible.", "Another answer is Lyon." ("Paris. It is also the largest city." describes Paris, "Beijing.
# Also Peking." gives another name, "Europa. Life is also possible there." speaks of something else).
_ANOTHER_NAME = (r"(?!(?:It|This|That|These|Those|He|She|They|There|Which|The|A|An|I|Me|You|We|Mine|So)\b)"
                 r"(?:[A-Z][\w'’-]*|\d[\d.,]*)(?:\s(?:[A-Z][\w'’-]*|\d[\d.,]*)){0,1}")
_SENTENCE_ENDS = r"(?=\s?[.!]|\s?$)"
_ANOTHER_OFFERED_LATER = re.compile(
    r"[.!;]\s+(?:(And|Plus|Alternatively),?\s" + _ANOTHER_NAME + r"\s?[.!]?$|(Also),?\s\d[\d.,]*\s?[.!]?$"
    r"|" + _ANOTHER_NAME + r",?\s(too|as\swell|also)\s?[.!]?$"
    r"|" + _ANOTHER_NAME + r",?(?:\stoo,)?\s(?:is|are|would\sbe|could\sbe|seems)\s(?:also\s|equally\s|likewise\s)?"
    r"(possible|plausible|valid|acceptable)(?:\stoo)?" + _SENTENCE_ENDS +
    r"|" + _ANOTHER_NAME + r"\s(?:is|are|would\sbe|could\sbe)\s(?:also\s)?((?:an?|another)\s(?:valid\s|acceptable\s|good\s|possible\s)?"
    r"(?:option|candidate|possibility|alternative|answer|contender))"
    r"|" + _ANOTHER_NAME + r"\s(?:also|equally)\s(fits|works|qualifies|counts)" + _SENTENCE_ENDS +
    r"|" + _ANOTHER_NAME + r"\s(counts\stoo|(?:would\sbe|is)\s(?:a|my)\s(?:second|next)\s(?:choice|option|guess))" +
    r"|" + _ANOTHER_NAME + r"\s(would\salso\s(?:fit|work|count|be\saccepted|be\scorrect|be\sacceptable|be\sright|be\svalid))" +
    # Another answer called the right one ("is correct" is a qualifying phrase), or a contender: "Lyon is the answer.",
    # "Lyon is right.", "Lyon is also in the running.", "Lyon is sometimes given as well." ("Lyon is right next to it"
    # speaks of a place; "Au. Gold is also correct" may name the answer otherwise, and "Venus is a close second" ranks).
    r"|" + _ANOTHER_NAME + r"(?:,\stoo,)?\s(?:is|are)\s(right|the\s(?:right\s)?answer)" + _SENTENCE_ENDS +
    r"|" + _ANOTHER_NAME + r"(?:,\stoo,)?\s(?:is|are)\s(?:also\s|equally\s)?(worth\sconsidering|in\sthe\srunning"
    r"|sometimes\s(?:given|cited|named|listed|accepted)|a\s(?:strong|serious|likely)\s(?:contender|candidate))"
    r"(?:\stoo|\sas\swell)?" + _SENTENCE_ENDS +
    # The answer changed in a later sentence: "I'll go with Lyon.", "On second thoughts, Lyon.", "Updated answer: Lyon.",
    # "It should be Lyon.", "After checking, it's Lyon." ("In fact, it's Europe's most visited city" describes it).
    r"|((?:I['’]ll|I\swill|Let['’]s|I['’]d|I\swould|I['’]m|I\sam|I)\s(?:go\swith|going\swith|settle\son|choose|pick|opt\sfor|stick\swith)"
    r"|(?:Changing|Change|Let\sme\schange)\smy\sanswer(?:\sto)?|My\s(?:pick|choice|guess)|Thinking\s(?:again|twice)"
    r"|The\s(?:correct|right|real|actual)\s(?:city|country|state|year|one|person|place|date|figure|name)\sis|The\sanswer\sshould\sbe"
    r"|Let\sme\srevise|(?:On|Upon|After)\s(?:further\s|second\s|closer\s)?(?:reflection|thoughts?|consideration|review|checking|inspection)"
    r"|After\s(?:reconsidering|rechecking|double-checking)|Reconsidering|Having\s(?:thought\sabout\sit|reconsidered)|(?:It\s)?[Ss]hould\sbe"
    r"|Self-correction|Fixed|(?:New|Updated|Better)\sanswer|I\smis(?:read|spoke|remembered)(?:\sthe\squestion)?"
    r"|Re-?reading\sthe\squestion|In\sfact|More\sprecisely|To\sbe\sprecise)[,:]?\s(?:(?:it['’]s|it\sis|the\sanswer\sis)\s)?(?:the\s)?"
    + _ANOTHER_NAME + r"(?:,\s[^.!?]*)?\s?[.!]?$|It['’]s\s" + _ANOTHER_NAME + r",\s(in\sfact)\s?[.!]?$" +
    r"|" + _ANOTHER_NAME + r"\s((?:is|would\sbe)\s(?:my\sfinal|the\sbetter|the\sfinal|my)\sanswer|would\sbe\sthe\sanswer|is\sthe\sanswer\shere)"
    + _SENTENCE_ENDS +
    r"|(Another|A\ssecond|One\smore)\s(?:possible\s|valid\s)?(?:answer|option|possibility|candidate|alternative)\s(?:is|would\sbe|could\sbe)"
    # Another answer given as the answer, or asked: "Georgia. The answer is Alabama.", "Final answer: Alabama.",
    # "Georgia. Alabama?" ("Tokyo. Surprised?" asks something else).
    r"|((?:(?:So|Thus|Therefore|Hence|Which\smakes),?\s(?:the|my)\s(?:final\s)?|(?:My|The|Final|Real|Actual|True|Correct)\s(?:(?:final|real|actual|true|correct)\s)?)answer"
    r"|Answer)(?:,\sthen,)?(?:\sis:?|:|['’]s|\swould\sbe|\s[\u2014\u2013-])?\s(?:actually\s|the\s(?:city|country|state|year|town|river)\sof\s|\([A-Ea-e]\)\s)?"
    # ... with its place after it: "So the answer is Lyon, France.", "Lyon (France)".
    + _ANOTHER_NAME + r"(?:,\s[A-Z][\w'’-]*|\s\([A-Z][\w'’-]*\))?\s?[.!]?$"
    r"|(?!(?:Why|What|How|Who|Where|When|Which|Really|Seriously|Right|Correct|Sure|Ok|Okay|Yes|No|Any|Anything|Questions?"
    r"|Thoughts|Agreed?|True|Curious|Interesting|Cool|Nice|Great)\b|[A-Z][a-z]+ed\?)" + _ANOTHER_NAME + r"\s?(\?)$)")


# The words of a later sentence's frame ("I'll go with", "Updated answer:") and confirmations ("After checking, Yes."),
# which are not the name it offers.
_FRAME_WORDS = frozenset(normalise(word) for word in (
    "I'll I'd I'm Let Let's My The So Thus Therefore Hence Which Final Real Actual True Correct Answer Updated New "
    "Better Revised On Upon After Reconsidering Having It It's Should Self-correction Fixed Re-reading Rereading In More "
    "To Changing Change Thinking Yes Yep Confirmed Right Indeed None").split())


def _the_answer_alone_in(text: str, answer: str) -> bool:
    """Whether `answer` stands in `text` as a name of its own: not inside a longer word ("Niger" in "Nigeria"), joined
    by a hyphen ("Guinea-Bissau") or after a capitalised word of another name ("South Sudan"; "July 1969" narrows a
    year, "I pick Paris" names it)."""
    for found in re.finditer(re.escape(answer.strip()), text, re.IGNORECASE):
        before, after = text[: found.start()], text[found.end() :]
        if re.search(r"[\w-]$", before) or re.match(r"[\w-]", after):
            continue
        word_before = re.search(r"(?:^|\s)((?-i:[A-Z])[\w'’]*)\s$", before)
        if (word_before and normalise(word_before.group(1)) not in _FRAME_WORDS
                and normalise(word_before.group(1)) not in MONTHS and not re.search(r"[:,]\s$", before)):
            continue
        return True
    return False


def _names_the_answer_itself(offered: str, answer: str) -> bool:
    """Whether a later sentence that reads as offering another answer names only the answer itself, or a part of it
    ("Neil Armstrong. Armstrong is right.", "Mount Everest. Everest is the answer."), or confirms it ("After checking,
    Yes.")."""
    names = [name for name in re.findall(r"[^\W\d_][\w'’-]*|\d[\d.,]*", offered)
             if name[:1].isupper() or name[:1].isdigit()]
    named = [name for name in names if normalise(name) not in _FRAME_WORDS]
    return all(normalise(name) in normalise(answer).split() for name in named)


_FIFTY_FIFTY = re.compile(r"(?i:50(?:\.0+)?\s?%|50\s(?:percent|per\scent)|fifty(?:\s|-)(?:percent|per\scent|fifty)|1/2|0?\.50*|"
                          r"(?:1|one)\s(?:in|out\sof)\s(?:2|two)|one\shalf|a\shalf|half|even\sodds|evens|50\s?[:/-]\s?50)")


# Before a question mark, the question quoted after the answer: "the answer to ...", "in answer to your question ...".
_QUESTION_QUOTED = re.compile(r"(?i:\b(?:the\s)?answer\sto(?:\s(?:your|the)\squestion)?\s[^.!?]*$|^\s?\(\s?(?:What|Which|Who|When|Where|How)\b[^.!?]*$)")


# Where "or" joins two things other than answers: between the names a naming verb gives ("called the City of Light or
# the City of Love"), or, unless a name or a figure follows it, inside a later sentence (not one that opens with it,
# "Or Lyon.", nor "either that or Lyon") or a relative clause ("Let me know if you'd like more details or have other
# questions", "which has two or three airports", "where you can visit the Louvre or the Eiffel Tower"; "Paris. Lyon
# or Marseille are options too" and "which is the capital, or Lyon" offer others).
_A_SENTENCE_BEFORE = re.compile(r"[.!?]\s+(?!(?i:either)\b)[^.!?]*$")
_OR_OFFERS_WHAT_COMES_BEFORE = re.compile(r"(?i:(?:^|[.!?]\s+|\b(?:either|that|it|this|one)\s+)$|\beither\b[^.!?]*$)")
_A_NAMING_VERB_BEFORE = re.compile(r"(?i:\b(?:called|known(?:\s(?:locally|widely|also|in\s[A-Z][\w'’-]*))?\sas|nicknamed|dubbed"
                                   r"|referred\sto\sas|styled|spelled|spelt|named|call|formerly|nicknames?\s(?:is|are))\s[^.!?;,()]*$)")
_A_RELATIVE_CLAUSE_BEFORE = re.compile(r"(?i:,\s(?:which|who|whom|whose|where)\s[^.!?;]*$)")
# What after "or" begins another answer: a name (a capital of any script), a figure or an amount, a bracketed option
# letter, an approximation, a word that keeps the choice open ("or else Lyon", "or sometimes Venus", "or close to it").
_A_NAME_OR_FIGURE_AFTER = re.compile(r"\s(?:(?i:maybe|perhaps|possibly|even|rather|else|sometimes|otherwise)\b|[^\W\d_a-zà-ÿ]|[\d$€£¥~≈(]"
                                     r"|(?i:close|near|nearly|about|around|roughly|so|thereabouts|at\sleast|the\s(?:year|day|month|city|one)\s(?:after|before)"
                                     r"|the\s(?:city|town|country|state|river|island|year)\sof))")


def _or_joins_other_things(rest: str, found: re.Match, answer: str) -> bool:
    before = rest[: found.start()]
    if _OR_OFFERS_WHAT_COMES_BEFORE.search(before) or not rest[found.end() :].strip(" .,;:!?)*_"):
        return False  # also an "or" that nothing follows: what it offers is unknown
    # The answer itself again right before "or" offers it with another: "Paris. It's Paris or Lyon.", "Carbon
    # dioxide. The answer is carbon dioxide or oxygen." ("anything about Paris you'd like to know, such as its
    # history or attractions" asks of something else).
    said_again = normalise(answer.strip())
    if said_again and normalise(before).rstrip(" ,;)*_").endswith(said_again):
        return False
    if _A_NAMING_VERB_BEFORE.search(before):
        return True
    return (bool(_A_SENTENCE_BEFORE.search(before) or _A_RELATIVE_CLAUSE_BEFORE.search(before))
            and not _A_NAME_OR_FIGURE_AFTER.match(rest, found.end()))


def _qualifier_in(rest: str, answer: str) -> str | None:
    """The first word of `rest`, the text after `answer`, that qualifies the answer; None where none does."""
    if listed := _another_of_its_kind(rest, answer):
        return listed
    # The answer itself in that sentence offers nothing else: "Paris. Paris is a valid answer."
    if ((offered := _ANOTHER_OFFERED_LATER.search(rest))
            and not _the_answer_alone_in(offered.group(), answer)
            and not _names_the_answer_itself(offered.group(), answer)):
        return next(word for word in offered.groups() if word)
    # Another answer begins with a capital, a letter of a script without case, a digit or a currency sign.
    # ("Georgia, not 100%" sets no other answer against it: it doubts it.)
    # ... also after the answer's place or a short description: "Paris, France (not Paris, Texas)", "Georgia, the
    # country, not the US state".
    if ((apposition := _A_SHORT_APPOSITION.match(rest)) and not _QUALIFIER.search(apposition.group())
            and _SET_AGAINST_ANOTHER.match(rest, apposition.end())):
        rest = rest[apposition.end() :]
    if ((against := _SET_AGAINST_ANOTHER.match(rest)) and unicodedata.category(rest[against.end() :][:1] or " ") in _BEGINS_AN_ANSWER
            and not (re.match(r"\d+\s?%", rest[against.end() :]) and "%" not in answer)):
        rest = rest[against.end() :]
    if rest.startswith(";") and "\u0370" <= answer.strip()[-1:] <= "\u03ff":
        return ";"  # the Greek question mark, which normalising writes as a semicolon
    rest = _A_SECOND_NEGATION_OF_A_CLAUSE.sub(r"\1", rest)
    rest = _NO_QUALIFIER.sub(_unless_no_relative_clause, rest)
    rest = _A_FIGURE_CONVERTED.sub(_without_a_figure_converted, rest)
    if _is_an_amount_or_a_date(answer):
        if approximation := _APPROXIMATIONS_RIGHT_AFTER.match(rest):
            return approximation.group().strip()
        if rounding := _ROUNDING_NOTE.search(rest):
            return rounding.group()
        for approximation in _APPROXIMATIONS.finditer(rest):
            # "when Max Planck won", "the Four Tops"; "1969, with approximately 600 million viewers"
            if (not _inside_a_name(rest, approximation.start()) and not _describes_something_else(rest, approximation, answer)
                    and not _before_another_figure(rest, approximation, answer)):
                return approximation.group()
        # Another value of the answer's own quantity, about it or bare in brackets: "6,650 km (about 6,700 km)",
        # "1969 (around 1970)", "6,650 km (6,700 km)" ("6,650 km (about 4,132 miles)" converts it).
        # A count named with an approximation may carry its noun: "206, about 210 bones".
        if (other := _ANOTHER_VALUE.match(rest)) and _another_value_of(rest[other.end() :], answer,
                                                                        named_unit=bool(other.group(1) or other.group(2))):
            return (other.group(1) or other.group(2) or "(").strip()
        # ... from a later measure or another source: "6,650 km, now thought to be 6,853 km", "1969. Wikipedia says 1970."
        # ("1969. Newer data shows 650 million people watched." counts another thing).
        for source in _A_LATER_OR_ANOTHER_SOURCE.finditer(rest):
            if _another_value_of(rest[source.end() :], answer, dated=True):  # "updated to 6,853 km in 2007"
                return source.group().strip()
    for found in _QUALIFIER.finditer(rest):
        if (found.group().isupper() and len(found.group()) == 2 and found.group().isalpha()
                and (found.group() != "JK" or re.match(r"\s(?-i:[A-Z])", rest[found.end() :]))):
            continue  # an abbreviation: "Portland, OR", "Nitric oxide (NO)", "JK Rowling" ("Paris. JK, it's Lyon" takes it back)
        if "coin" in found.group() and _FIFTY_FIFTY.fullmatch(answer.strip()):
            continue  # "50% — a coin flip" says what the answer is
        if found.group() in "?？" and _QUESTION_QUOTED.search(rest[: found.start()]):
            continue  # the question quoted (its quotes are gone): 'Paris — the answer to "Which city is the capital of France?"'
        if found.group() in "?？" and re.search(r"[.!]\s", rest[: found.start()]) and not _asks_to_confirm(rest[: found.start()]):
            continue  # a question in a later sentence asks something else: "Paris. Anything else you'd like to know?"
        if found.group() in "?？" and re.search(r"(?i:[,;.]\s(?:and\s)?did\syou\sknow\s(?!(?:that|this|it)\W*$))[^?]*$", rest[: found.start()]):
            continue  # a fact of its own: "Paris, did you know it has 20 arrondissements?" ("did you know that?" asks)
        if _inside_a_name(rest, found.start()):
            continue
        if found.group().lower() == "or" and _or_joins_other_things(rest, found, answer):
            continue
        if found.group() == "no" and re.match(r"\s[^\W\d_]*[a-zà-ÿ]", rest[found.end() :]) and _PORTUGUESE.search(rest):
            continue  # Portuguese's "in the": "Brasília, localizada no centro do país", "Manaus, no coração da Amazônia"
        # An answer that is itself a denial is agreed with, not qualified, by another: "No, it isn't."
        agreeing = _NEGATIONS.fullmatch(answer.strip()) and (_NEGATIONS.fullmatch(found.group()) or re.search("['’]", found.group()))
        if not agreeing:
            return found.group()
    return None
