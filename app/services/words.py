"""Amounts in words, as Hungarian ("azaz") and Polish ("słownie") invoices customarily carry
them: the whole units in words, the hundredths as a fraction (12 345,60 → … 60/100)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

HU_ONES = ["", "egy", "kettő", "három", "négy", "öt", "hat", "hét", "nyolc", "kilenc"]
HU_TENS = ["", "tíz", "húsz", "harminc", "negyven", "ötven", "hatvan", "hetven", "nyolcvan"]
HU_TENS += ["kilencven"]
HU_TENS_JOINED = {1: "tizen", 2: "huszon"}
HU_SCALES = ["", "ezer", "millió", "milliárd"]
HU_CURRENCIES = {
    "HUF": "forint",
    "EUR": "euró",
    "PLN": "złoty",
    "RUB": "rubel",
    "USD": "dollár",
    "GBP": "font",
    "CHF": "frank",
}

PL_ONES = ["", "jeden", "dwa", "trzy", "cztery", "pięć", "sześć", "siedem", "osiem"]
PL_ONES += ["dziewięć"]
PL_TEENS = ["dziesięć", "jedenaście", "dwanaście", "trzynaście", "czternaście"]
PL_TEENS += ["piętnaście", "szesnaście", "siedemnaście", "osiemnaście", "dziewiętnaście"]
PL_TENS = ["", "", "dwadzieścia", "trzydzieści", "czterdzieści", "pięćdziesiąt"]
PL_TENS += ["sześćdziesiąt", "siedemdziesiąt", "osiemdziesiąt", "dziewięćdziesiąt"]
PL_HUNDREDS = ["", "sto", "dwieście", "trzysta", "czterysta", "pięćset", "sześćset"]
PL_HUNDREDS += ["siedemset", "osiemset", "dziewięćset"]
PL_SCALES = [
    ("", "", ""),
    ("tysiąc", "tysiące", "tysięcy"),
    ("milion", "miliony", "milionów"),
    ("miliard", "miliardy", "miliardów"),
]
PL_CURRENCIES = {
    "PLN": ("złoty", "złote", "złotych"),
    "EUR": ("euro", "euro", "euro"),
    "HUF": ("forint", "forinty", "forintów"),
    "RUB": ("rubel", "ruble", "rubli"),
    "USD": ("dolar", "dolary", "dolarów"),
    "GBP": ("funt", "funty", "funtów"),
    "CHF": ("frank", "franki", "franków"),
}


def _groups(number: int) -> list[int]:
    """Groups of three digits, lowest first."""
    groups = []
    while True:
        number, group = divmod(number, 1000)
        groups.append(group)
        if number == 0:
            return groups


def hungarian(number: int) -> str:
    """12 345 → tizenkétezer-háromszáznegyvenöt (hyphens between groups above 2000)."""
    if number == 0:
        return "nulla"
    parts = []
    for scale, group in reversed(list(enumerate(_groups(number)))):
        if group == 0:
            continue
        if scale == 1 and group == 1 and number < 2000:
            parts.append("ezer")
            continue
        parts.append(_hungarian_group(group, final=scale == 0) + HU_SCALES[scale])
    return ("-" if number > 2000 else "").join(parts)


def _hungarian_group(group: int, final: bool) -> str:
    hundreds, rest = divmod(group, 100)
    tens, ones = divmod(rest, 10)
    text = ""
    if hundreds:
        text += ("" if hundreds == 1 else _hu_one(hundreds, final=False)) + "száz"
    if tens:
        text += HU_TENS_JOINED[tens] if ones and tens in HU_TENS_JOINED else HU_TENS[tens]
    if ones:
        text += _hu_one(ones, final)
    return text


def _hu_one(digit: int, final: bool) -> str:
    return "két" if digit == 2 and not final else HU_ONES[digit]


def _pl_form(number: int, forms: tuple[str, str, str]) -> str:
    if number == 1:
        return forms[0]
    if number % 10 in (2, 3, 4) and number % 100 not in (12, 13, 14):
        return forms[1]
    return forms[2]


def polish(number: int) -> str:
    """12 345 → dwanaście tysięcy trzysta czterdzieści pięć."""
    if number == 0:
        return "zero"
    parts = []
    for scale, group in reversed(list(enumerate(_groups(number)))):
        if group == 0:
            continue
        if scale and group == 1:
            parts.append(PL_SCALES[scale][0])
            continue
        parts.append(_polish_group(group))
        if scale:
            parts.append(_pl_form(group, PL_SCALES[scale]))
    return " ".join(parts)


def _polish_group(group: int) -> str:
    hundreds, rest = divmod(group, 100)
    tens, ones = divmod(rest, 10)
    words = [PL_HUNDREDS[hundreds]]
    if tens == 1:
        words.append(PL_TEENS[ones])
    else:
        words += [PL_TENS[tens], PL_ONES[ones]]
    return " ".join(w for w in words if w)


def amount_in_words(amount: Decimal, currency: str, locale: str) -> str | None:
    """The amount in words where it is customary (hu, pl); None elsewhere."""
    if locale not in ("hu", "pl"):
        return None
    amount = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, hundredths = divmod(abs(amount), 1)
    whole, cents = int(whole), int(hundredths * 100)
    fraction = f" {cents:02d}/100" if cents else ""
    if locale == "hu":
        minus = "mínusz " if amount < 0 else ""
        name = HU_CURRENCIES.get(currency, currency)
        return f"{minus}{hungarian(whole)} {name}{fraction}"
    minus = "minus " if amount < 0 else ""
    forms = PL_CURRENCIES.get(currency, (currency,) * 3)
    return f"{minus}{polish(whole)} {_pl_form(whole, forms)}{fraction}"
