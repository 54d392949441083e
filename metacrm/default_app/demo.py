"""Realistic demo data for `metacrm init --demo`, written through the record service."""

from __future__ import annotations

import datetime as dt
import random

from faker import Faker

from metacrm.platform.records.service import RecordService

INDUSTRIES = [
    "manufacturing",
    "retail",
    "technology",
    "finance",
    "healthcare",
    "education",
    "energy",
    "logistics",
    "other",
]
LOST_REASONS = ["price", "competitor", "no_budget", "no_decision", "timing"]
STAGES = ["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"]
PROBABILITY = {
    "prospecting": 10,
    "qualification": 25,
    "proposal": 50,
    "negotiation": 75,
    "closed_won": 100,
    "closed_lost": 0,
}
SOURCES = ["web", "referral", "trade_show", "cold_call", "advertisement", "partner"]


def fill_demo_data(
    service: RecordService, context, seed: int = 7, accounts: int = 60
) -> dict[str, int]:
    fake = Faker(["en_US"])
    Faker.seed(seed)
    rnd = random.Random(seed)
    today = context.now.date()
    account_rows: list[dict] = []
    used_names: set[str] = set()
    while len(account_rows) < accounts:
        name = fake.company()
        if name in used_names:
            continue
        used_names.add(name)
        domain = name.lower().replace(",", "").replace(" ", "").replace("-", "")[:20]
        account_rows.append(
            {
                "name": name,
                "industry": rnd.choice(INDUSTRIES),
                "type": rnd.choice(["prospect", "customer", "customer", "partner"]),
                "level": rnd.choice(["a", "b", "b", "c", "c"]),
                "website": f"https://www.{domain}.example.com",
                "phone": fake.numerify("+1 ###-###-####"),
                "annual_revenue": rnd.randrange(500_000, 250_000_000, 1000),
                "employees": rnd.randrange(10, 20_000),
                "billing_city": fake.city(),
                "billing_country": "United States",
                "tags": rnd.sample(
                    ["key", "strategic", "smb", "enterprise", "renewal"], k=rnd.randint(0, 2)
                ),
            }
        )
    account_ids = [r["id"] for r in service.create_many("account", account_rows)]
    contact_rows = []
    emails: set[str] = set()
    for account_id in account_ids:
        for _ in range(rnd.randint(1, 4)):
            first, last = fake.first_name(), fake.last_name()
            email = f"{first}.{last}.{len(emails)}@example.com".lower()
            emails.add(email)
            contact_rows.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "account": account_id,
                    "title": fake.job()[:100],
                    "email": email,
                    "phone": fake.numerify("+1 ###-###-####"),
                    "preferred_channels": rnd.sample(
                        ["email", "phone", "wechat", "visit"], k=rnd.randint(1, 2)
                    ),
                }
            )
    contacts = service.create_many("contact", contact_rows)
    contacts_by_account: dict[int, list[int]] = {}
    for c in contacts:
        contacts_by_account.setdefault(c["account"], []).append(c["id"])
    lead_rows = [
        {
            "first_name": fake.first_name(),
            "last_name": fake.last_name(),
            "company": fake.company(),
            "email": fake.unique.email(),
            "phone": fake.numerify("+1 ###-###-####"),
            "source": rnd.choice(SOURCES),
            "status": rnd.choice(
                ["new", "new", "working", "nurturing", "qualified", "disqualified"]
            ),
            "rating": rnd.choice(["hot", "warm", "cold"]),
            "industry": rnd.choice(INDUSTRIES),
            "estimated_budget": rnd.randrange(5_000, 500_000, 500),
        }
        for _ in range(120)
    ]
    service.create_many("lead", lead_rows)
    opp_rows = []
    for _ in range(200):
        account_id = rnd.choice(account_ids)
        contact = rnd.choice(contacts_by_account.get(account_id, [None]))
        stage = rnd.choice(STAGES) if contact else "prospecting"  # later stages need a contact
        products = rnd.choice(
            [
                "CRM licenses",
                "Support plan",
                "Implementation",
                "Training",
                "Integration",
                "Analytics add-on",
            ]
        )
        opp_rows.append(
            {
                "name": f"{products} - {fake.bs().title()[:60]}",
                "account": account_id,
                "primary_contact": contact,
                "lost_reason": rnd.choice(LOST_REASONS) if stage == "closed_lost" else None,
                "stage": stage,
                "amount": rnd.randrange(2_000, 900_000, 100),
                "probability": PROBABILITY[stage],
                "close_date": (today + dt.timedelta(days=rnd.randint(-120, 180))).isoformat(),
                "lead_source": rnd.choice(SOURCES),
                "next_step": rnd.choice(
                    ["Send proposal", "Schedule demo", "Follow up call", "Legal review", ""]
                )
                or None,
            }
        )
    service.create_many("opportunity", opp_rows)
    return {
        "account": len(account_rows),
        "contact": len(contact_rows),
        "lead": len(lead_rows),
        "opportunity": len(opp_rows),
    }
