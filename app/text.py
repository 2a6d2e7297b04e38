"""Folded text for search: case-, accent- and script-insensitive forms of names, numbers and
addresses in the users' languages (hu, pl, de, ru, en), the same on SQLite and PostgreSQL.

Stored texts keep every form a user may type (Müller as "muller" and "mueller"); a query is
folded the same ways and matches when one of its forms is contained in the stored text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Letters that carry no combining mark to drop (NFKD leaves them whole), after casefold().
LETTERS = {
    "ł": "l",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "æ": "ae",
    "œ": "oe",
    "ı": "i",
    "ħ": "h",
    "ŧ": "t",
    "ŋ": "n",
    "ſ": "s",
}

# Russian (and Ukrainian, Belarusian) Cyrillic to Latin, letter by letter so that a part of a
# word folds to a part of the folded word. й and ё lose their marks to NFKD first (и, е).
CYRILLIC = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "є": "ye",
    "ґ": "g",
    "ў": "u",
}

# The separator between the parts of a stored text; a query never contains it.
SEPARATOR = "|"
TABLE = str.maketrans({**LETTERS, **CYRILLIC, SEPARATOR: " "})
# A German umlaut as NFKD spells it (vowel + combining diaeresis), written out as "ue".
UMLAUT = re.compile("([aou])\u0308")
SPACES = re.compile(r"\s+")
# What a phone number, a tax number or an invoice number may be typed with.
NUMBER_LIKE = re.compile(r"[0-9+()/.\- ]+")


def _folded(decomposed: str) -> str:
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return SPACES.sub(" ", bare.translate(TABLE)).strip()


def fold_variants(text: str | None) -> list[str]:
    """The forms a user may type for `text`: plain (müller → muller) and, when it has an
    umlaut, German (mueller). Lower case, no accents, Latin letters."""
    if not text:
        return []
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    plain = _folded(decomposed)
    german = _folded(UMLAUT.sub(r"\1e", decomposed))
    return [form for form in dict.fromkeys((plain, german)) if form]


def fold(text: str | None) -> str:
    """The plain folded form: "Łęcka" → "lecka", "Иван" → "ivan", "Szőke" → "szoke"."""
    forms = fold_variants(text)
    return forms[0] if forms else ""


def digits(text: str | None) -> str:
    return "".join(c for c in text or "" if c.isascii() and c.isdigit())


def search_text(
    texts: Iterable[str | None] = (), numbers: Iterable[str | None] = (), limit: int = 4000
) -> str:
    """The stored search text of a record: every folded form of `texts` and the digits of
    `numbers` (phones), joined by the separator (at most `limit` characters)."""
    parts = [form for text in texts for form in fold_variants(text)]
    parts += [digits(number) for number in numbers]
    return SEPARATOR.join(dict.fromkeys(p for p in parts if p))[:limit]


def query_terms(query: str) -> list[list[str]]:
    """What a query asks for: each word's forms (one of them must be found), for every word.
    A number typed with spaces or dashes ("+36 20 123 4567") is one word, also as digits."""
    query = SPACES.sub(" ", query or "").strip()
    words = [query] if NUMBER_LIKE.fullmatch(query) else query.split(" ")
    terms = []
    for word in words:
        forms = fold_variants(word)
        if NUMBER_LIKE.fullmatch(word) and digits(word):
            forms = list(dict.fromkeys([*forms, digits(word)]))
        if forms:
            terms.append(forms)
    return terms
