"""Demo data for a first start: people and companies from Hungary, Poland, Germany, Russia."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Address,
    Affiliation,
    Code,
    Note,
    Organization,
    Partner,
    PartnerAddress,
    Person,
    utcnow,
)
from app.services import acting_as

# country, language, city, postal code, latitude, longitude, streets
CITIES = [
    (
        "HU",
        "hu",
        "Budapest",
        "1052",
        47.4979,
        19.0402,
        ["Váci utca", "Andrássy út", "Kossuth Lajos tér"],
    ),
    ("HU", "hu", "Debrecen", "4024", 47.5316, 21.6273, ["Piac utca", "Hatvan utca"]),
    ("HU", "hu", "Győr", "9021", 47.6875, 17.6504, ["Baross Gábor út", "Széchenyi tér"]),
    (
        "PL",
        "pl",
        "Warszawa",
        "00-001",
        52.2297,
        21.0122,
        ["ul. Marszałkowska", "ul. Świętokrzyska"],
    ),
    ("PL", "pl", "Kraków", "31-001", 50.0647, 19.9450, ["ul. Floriańska", "ul. Grodzka"]),
    ("PL", "pl", "Łódź", "90-001", 51.7592, 19.4560, ["ul. Piotrkowska"]),
    ("DE", "de", "Berlin", "10117", 52.5200, 13.4050, ["Friedrichstraße", "Unter den Linden"]),
    ("DE", "de", "München", "80331", 48.1351, 11.5820, ["Maximilianstraße", "Kaufingerstraße"]),
    ("DE", "de", "Köln", "50667", 50.9375, 6.9603, ["Hohe Straße", "Schildergasse"]),
    ("RU", "ru", "Москва", "101000", 55.7558, 37.6173, ["ул. Тверская", "ул. Арбат"]),
    ("RU", "ru", "Санкт-Петербург", "191186", 59.9311, 30.3609, ["Невский проспект"]),
]

PEOPLE = {
    "hu": (
        ["Anna", "Zsófia", "Katalin", "Gábor", "László", "Péter", "Ödön", "Réka"],
        ["Kovács", "Szabó", "Tóth", "Nagy", "Horváth", "Varga", "Kiss", "Fűzfa"],
    ),
    "pl": (
        ["Agnieszka", "Małgorzata", "Łukasz", "Paweł", "Zofia", "Michał"],
        ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Łęcka", "Zieliński"],
    ),
    "de": (
        ["Jürgen", "Sabine", "Klaus", "Ursula", "Jörg", "Bärbel"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Größer"],
    ),
    "ru": (
        ["Иван", "Ольга", "Сергей", "Наталья", "Дмитрий", "Елена"],
        ["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева"],
    ),
}

COMPANIES = {
    "hu": [
        "Duna Építő Kft.",
        "Tisza Logisztika Zrt.",
        "Balaton Szoftver Kft.",
        "Mátra Élelmiszer Bt.",
        "Pannon Tanácsadó Kft.",
    ],
    "pl": [
        "Wisła Transport Sp. z o.o.",
        "Mazowsze Budownictwo S.A.",
        "Kraków Łączność Sp. z o.o.",
        "Bałtyk Żegluga S.A.",
    ],
    "de": [
        "Rhein Maschinenbau GmbH",
        "Spree Software AG",
        "Isar Bäckerei GmbH & Co. KG",
        "Nordsee Fisch GmbH",
    ],
    "ru": ["ООО «Волга Логистик»", "АО «Сибирь Энерго»", "ООО «Нева Софт»", "ООО «Урал Строй»"],
}

ROLES = {
    "hu": ["ügyvezető", "könyvelő", "beszerző", "értékesítési vezető"],
    "pl": ["prezes zarządu", "księgowa", "kierownik sprzedaży", "asystentka"],
    "de": ["Geschäftsführer", "Buchhaltung", "Einkauf", "Vertriebsleiterin"],
    "ru": ["генеральный директор", "бухгалтер", "менеджер по закупкам", "секретарь"],
}

NOTES = {
    "hu": [
        "Telefonon egyeztettünk, egy hét múlva újra beszélünk.",
        "Befizeti a szolgáltatás díját, de 2 nap haladékot kér.",
    ],
    "pl": [
        "Rozmowa telefoniczna: klient prosi o nową ofertę.",
        "Spotkanie w biurze klienta, omówiono warunki umowy.",
    ],
    "de": [
        "Telefonat: Rückruf nächste Woche vereinbart.",
        "Besuch vor Ort, Vertrag für Kontingente besprochen.",
    ],
    "ru": [
        "Созвонились, клиент ждёт коммерческое предложение.",
        "Встреча в офисе: обсудили условия договора.",
    ],
}

CODES = [
    ("category", "south"),
    ("category", "government"),
    ("category", "VIP"),
    ("industry", "62.01 Software"),
    ("industry", "41.20 Construction"),
    ("function", "Decision maker"),
    ("function", "Accounting"),
]


def load_demo(force: bool = False, seed: int = 7) -> int:
    """Create the demo partners unless partners exist; returns how many were made."""
    if not force and db.session.scalar(select(func.count(Partner.id))):
        return 0
    rng = random.Random(seed)
    sm = current_app.appbuilder.sm
    admin = sm.find_user(username=current_app.config["ADMIN_USER"])
    admin_id = admin.id if admin else None
    created = 0
    with acting_as(admin_id):
        codes = [
            Code(category=c, name=n)
            for c, n in CODES
            if not db.session.scalar(select(Code).where(Code.category == c, Code.name == n))
        ]
        db.session.add_all(codes)
        codes = db.session.scalars(select(Code)).all()
        for country, lang, city, postal, lat, lon, streets in CITIES:
            firsts, lasts = PEOPLE[lang]
            companies = []
            for name in COMPANIES[lang][:2]:
                if db.session.scalar(select(Organization.id).where(Organization.name == name)):
                    continue
                org = Organization(
                    name=name,
                    status="active",
                    language=lang,
                    owner_id=admin_id,
                    tax_number=f"{country}{rng.randrange(10**7, 10**8)}",
                    email=f"info{rng.randrange(1000)}@example.com",
                    phone=f"+{rng.randrange(30, 80)} {rng.randrange(10**6, 10**7)}",
                    codes=rng.sample(codes, 2),
                )
                seat = Address(
                    street=f"{rng.choice(streets)} {rng.randrange(1, 80)}",
                    postal_code=postal,
                    city=city,
                    country=country,
                    latitude=lat + rng.uniform(-0.01, 0.01),
                    longitude=lon + rng.uniform(-0.01, 0.01),
                )
                org.address_links = [
                    PartnerAddress(address=seat, type="seat"),
                    PartnerAddress(address=seat, type="billing"),
                ]
                db.session.add(org)
                companies.append(org)
                created += 1
            for _ in range(2):
                first, last = rng.choice(firsts), rng.choice(lasts)
                person = Person(
                    first_name=first,
                    last_name=last,
                    language=lang,
                    owner_id=admin_id,
                    status=rng.choice(["lead", "active", "active", "inactive"]),
                    email=f"person{rng.randrange(10**6)}@example.com",
                    birthday=date.today() - timedelta(days=rng.randrange(25 * 365, 60 * 365)),
                    codes=rng.sample(codes, 1),
                )
                home = Address(
                    street=f"{rng.choice(streets)} {rng.randrange(1, 120)}",
                    postal_code=postal,
                    city=city,
                    country=country,
                    latitude=lat + rng.uniform(-0.03, 0.03),
                    longitude=lon + rng.uniform(-0.03, 0.03),
                )
                person.address_links = [PartnerAddress(address=home, type="residence")]
                db.session.add(person)
                created += 1
                for org in companies:
                    flags = rng.random()
                    db.session.add(
                        Affiliation(
                            person=person,
                            organization=org,
                            role=rng.choice(ROLES[lang]),
                            email=person.email,
                            is_contact_person=True,
                            may_collect_mail=flags > 0.4,
                            may_represent=flags > 0.7,
                        )
                    )
                for partner in [person] + companies:
                    for days, text in enumerate(NOTES[lang]):
                        db.session.add(
                            Note(
                                partner=partner,
                                author_id=admin_id,
                                body=text,
                                kind=rng.choice(["note", "call", "meeting", "email"]),
                                pinned=days == 0 and partner is person,
                                created_at=utcnow()
                                - timedelta(days=days + 1, hours=rng.randrange(8)),
                            )
                        )
    if created:
        load_sales_demo(rng, admin_id)
    return created


PRODUCTS = [
    ("SRV-ACC", "Könyvelés / Accounting", "month", 45000, 27),
    ("SRV-PAY", "Bérszámfejtés / Payroll", "month", 25000, 27),
    ("LIC-CRM", "Dossier licence", "user", 9900, 27),
]


def _draft_lines(companies, products, admin_id: int) -> None:
    """A draft invoice and an offer with product lines, for their pages' lines editor."""
    from app.models import Offer
    from app.services import invoicing, lines

    partner = companies[1 % len(companies)]
    draft = invoicing.new_draft(partner.id, admin_id, currency="HUF")
    for product, quantity in ((products[1], 1), (products[2], 5)):
        invoicing.add_line(draft.id, admin_id, product_id=product.id, quantity=quantity)
    offer = db.session.scalars(
        select(Offer).where(Offer.partner_id == companies[0].id).order_by(Offer.id)
    ).first()
    # The lines of the quote the demo sends and the customer accepts (load_quote_and_order_demo).
    for product, quantity, discount in zip(products, (12, 12, 25), (0, 10, 0), strict=True):
        lines.add_line(
            "offer",
            offer.id,
            admin_id,
            {"product_id": product.id, "quantity": quantity, "discount": discount},
        )


# The demo seller: the invoices of the demo can be issued (Settings → Our company).
DEMO_COMPANY = {
    "name": "Dossier Demo Kft.",
    "address": "Andrássy út 12, 1061 Budapest, Magyarország",
    "tax_number": "12345676-2-42",
    "eu_vat_number": "HU12345676",
    "registration_number": "01-09-999999",
    "payment_terms_days": 8,
    "payment_method": "transfer",
    "footer": "Dossier Demo Kft. · info@dossier.example · +36 1 555 0100",
    "bank_accounts": [
        {"currency": "HUF", "iban": "HU42117730161111101800000000", "swift": "OTPVHUHB"},
        {"currency": "EUR", "iban": "DE89370400440532013000", "swift": "COBADEFFXXX"},
        {"currency": "PLN", "iban": "PL61109010140000071219812874", "swift": "WBKPPLPP"},
    ],
}


def load_our_company(admin_id: int | None) -> None:
    from app.services.company import our_company, save_our_company

    if our_company().name is None:
        save_our_company(admin_id, **DEMO_COMPANY)


def load_quote_and_order_demo(companies, products, admin_id: int | None) -> None:
    """The first company's offer (its lines from `_draft_lines`) sent as a quote, accepted,
    made an order that is in progress and invoiced in part, so that the order's page shows
    what is invoiced and what remains; the second company's offer with a quote that waits
    for the customer's answer."""
    from app.models import Offer
    from app.services import orders, quotes

    admin = db.session.get(current_app.appbuilder.sm.user_model, admin_id)
    offers = {
        company.id: db.session.scalars(
            select(Offer).where(Offer.partner_id == company.id).order_by(Offer.id)
        ).first()
        for company in companies[:2]
    }
    first, second = companies[0], companies[1 % len(companies)]
    if quotes.default_contact(quotes.contacts_of(first)) is not None and admin is not None:
        quote = quotes.send_quote(offers[first.id].id, admin_id)
        quotes.record_answer(offers[first.id].id, admin, accept=True, comment="OK")
        order, _ = orders.make_order(quote.id, admin_id)
        orders.set_status(order.id, admin_id, "in_progress")
        orders.invoice_order(order.id, admin_id, {order.lines[0].id: 3, order.lines[2].id: 25})
    if second is not first and quotes.default_contact(quotes.contacts_of(second)) is not None:
        quotes.save_lines(
            offers[second.id].id,
            admin_id,
            [
                {"product": products[0].id, "quantity": 12},
                {"product": products[2].id, "quantity": 5, "discount": 10},
            ],
        )
        quotes.send_quote(offers[second.id].id, admin_id)


def load_sales_demo(rng: random.Random, admin_id: int | None) -> None:
    """Offers, tasks, products, a contract and an issued invoice, so every tab shows data."""
    from app.models import Contract, Offer, Product, Quota, Task
    from app.services import invoicing

    companies = db.session.scalars(select(Organization).order_by(Organization.id)).all()
    with acting_as(admin_id):
        products = [
            Product(code=c, name=n, unit=u, price=p, vat_rate=v) for c, n, u, p, v in PRODUCTS
        ]
        db.session.add_all(products)
        now = utcnow().replace(minute=0, second=0, microsecond=0)
        for i, company in enumerate(companies):
            company.supplied_products = [products[i % len(products)]]
            db.session.add(
                Offer(
                    name=f"{company.name} – {rng.choice(['CRM', 'Audit', 'Support'])}",
                    partner=company,
                    owner_id=admin_id,
                    amount=rng.randrange(5, 90) * 10000,
                    currency="HUF",
                    payment_frequency=rng.choice(["once", "monthly"]),
                    chance=rng.choice([25, 50, 75]),
                    deadline=(now + timedelta(days=30)).date(),
                )
            )
            start = now + timedelta(hours=rng.randrange(-72, 240))
            db.session.add(
                Task(
                    title=rng.choice(["Call back", "Send the contract", "Visit"]),
                    partner=company,
                    responsible_id=admin_id,
                    starts_at=start,
                    due_at=start + timedelta(hours=1),
                    priority=rng.choice([1, 2, 3]),
                )
            )
        first = companies[0]
        contract = Contract(
            partner=first,
            name="Support 2026",
            plan="Premium",
            price=490000,
            starts_on=(now - timedelta(days=60)).date(),
            billing="monthly",
        )
        contract.quotas = [
            Quota(name="On-site visits", unit="visits", bought=12, used=4),
            Quota(name="Support hours", unit="hour", bought=10, used=13, overuse_price=12000),
        ]
        db.session.add(contract)
    load_our_company(admin_id)
    from app.services.documents import attach

    attach(
        first.id,
        admin_id,
        "Általános szerződési feltételek.txt",
        io.BytesIO("Általános szerződési feltételek – 2026.\n".encode()),
        visibility="zone",
        description="ÁSZF 2026",
    )
    invoice = invoicing.new_draft(first.id, admin_id, currency="HUF")
    invoicing.add_line(invoice.id, admin_id, product_id=products[0].id, quantity=1)
    invoicing.issue(invoice.id, admin_id)
    _draft_lines(companies, products, admin_id)
    load_quote_and_order_demo(companies, products, admin_id)
    from app.services.recurring import first_of_next_month, save_settings

    save_settings(
        first.id,
        admin_id,
        template_id=invoice.id,
        frequency="monthly",
        next_date=first_of_next_month(utcnow().date()),
        delivery="email" if first.email else "post",
    )
    from app.models import News

    with acting_as(admin_id):
        db.session.add(
            News(
                title="Ünnepi nyitvatartás / Holiday hours",
                body="24–26 December: closed. / December 24–26.: zárva.",
                audience="client",
            )
        )
