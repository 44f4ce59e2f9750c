"""Civil affairs (XLSX, marital status and deaths) and social insurance (a SQLite database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from gdx.demo.data.extract import Extract, with_defects, wrong_check_character
from gdx.demo.data.population import People
from gdx.demo.data.writers import write_csv, write_sqlite, write_xlsx

MARRIAGE_FILE = Path("civil_affairs") / "marriage.xlsx"
INSURED_DB = Path("human_resources") / "insured.db"


def _ages(people: People, today: np.datetime64) -> np.ndarray:
    return ((today - people.births).astype(int) / 365.25).astype(int)


def mobile_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    prefixes = rng.choice(["138", "139", "150", "186", "135", "177", "131"], n).astype("U3")
    return np.char.add(prefixes, np.char.zfill(rng.integers(0, 10**8, n).astype("U8"), 8))


def write_marriage_register(
    out: Path, rng: np.random.Generator, people: People, rate: float
) -> Extract:
    """民政婚姻登记 (XLSX with a title row): marital status, deaths, and some phone numbers."""
    today = np.datetime64(dt.date.today())
    adults = np.flatnonzero(_ages(people, today) >= 20)
    chosen = np.sort(rng.choice(adults, size=max(1, len(adults) * 3 // 10), replace=False))
    n = len(chosen)
    status = rng.choice(["已婚", "未婚", "离婚", "丧偶"], n, p=[0.7, 0.15, 0.1, 0.05])
    died = rng.random(n) < 0.02
    lived = (today - people.births[chosen]).astype(int)
    death = people.births[chosen] + (lived * rng.uniform(0.6, 0.99, n)).astype("timedelta64[D]")
    phone = np.where(rng.random(n) < 0.3, mobile_numbers(rng, n), None)
    frame = pd.DataFrame(
        {
            "公民身份号码": people.ids[chosen],
            "姓名": people.names[chosen],
            "婚姻状况": status,
            "死亡日期": np.where(died, death.astype(str), None),
            "联系电话": phone,
        }
    )
    frame, extract = with_defects(
        frame,
        out / MARRIAGE_FILE,
        rng,
        rate,
        {
            "bad_check_character": ("公民身份号码", wrong_check_character),
            "unknown_marital_status": ("婚姻状况", "再婚"),
            "death_in_the_future": ("死亡日期", "2999-01-01"),
        },
    )
    write_xlsx(frame, out / MARRIAGE_FILE, "吉林省民政厅婚姻登记与死亡信息", "婚姻登记")
    return extract


def write_insurance_database(
    out: Path, rng: np.random.Generator, people: People, employers: np.ndarray, rate: float
) -> Extract:
    """人社参保 (a department SQLite database with `updated_at`): phones, status, employer."""
    today = np.datetime64(dt.date.today())
    ages = _ages(people, today)
    workers = np.flatnonzero((ages >= 18) & (ages <= 70))
    chosen = np.sort(rng.choice(workers, size=max(1, len(workers) * 6 // 10), replace=False))
    n = len(chosen)
    employed = rng.random(n) < 0.8
    frame = pd.DataFrame(
        {
            "id_number": people.ids[chosen],
            "phone": mobile_numbers(rng, n),
            "insured_status": rng.choice(
                ["参保缴费", "暂停缴费", "终止参保"], n, p=[0.85, 0.1, 0.05]
            ),
            "employer_uscc": np.where(employed, rng.choice(employers, n), None),
            "updated_at": (
                np.datetime64("2026-10-01T08:00:00")
                + rng.integers(0, 40 * 86400, n).astype("timedelta64[s]")
            ).astype(str),
        }
    )
    frame["updated_at"] = frame["updated_at"].str.replace("T", " ")
    frame, extract = with_defects(
        frame,
        out / INSURED_DB,
        rng,
        rate,
        {
            "bad_phone": ("phone", "0000"),
            "bad_employer_uscc": (
                "employer_uscc",
                lambda v: wrong_check_character(v or employers[0]),
            ),
        },
    )
    write_sqlite(frame, out / INSURED_DB, "insured")
    return extract


PAYMENTS_FILE = Path("human_resources") / "payments.csv"
INSURANCE_TYPES = np.array(
    [
        "职工基本养老保险、职工基本医疗保险、失业保险、工伤保险",
        "职工基本养老保险、职工基本医疗保险",
        "城乡居民基本养老保险、城乡居民基本医疗保险",
    ]
)


def write_contributions(
    out: Path, rng: np.random.Generator, people: People, employers: np.ndarray, rate: float
) -> Extract:
    """人社缴费 (a monthly CSV snapshot, conditional sharing): region, months paid, base."""
    today = np.datetime64(dt.date.today())
    ages = _ages(people, today)
    adults = np.flatnonzero((ages >= 18) & (ages <= 75))
    chosen = np.sort(rng.choice(adults, size=max(1, len(adults) // 2), replace=False))
    n = len(chosen)
    working_days = np.maximum((ages[chosen] - 17) * 365, 30)
    first = today - rng.integers(30, working_days + 31).astype("timedelta64[D]")
    months = ((today - first).astype(int) // 30 * rng.uniform(0.6, 1.0, n)).astype(int)
    last = (today - rng.integers(0, 90, n).astype("timedelta64[D]")).astype("datetime64[M]")
    employed = rng.random(n) < 0.75
    frame = pd.DataFrame(
        {
            "公民身份号码": people.ids[chosen],
            "姓名": people.names[chosen],
            "参保地": np.char.add("2201", rng.choice(["02", "03", "04", "05", "06"], n)),
            "参保险种": rng.choice(INSURANCE_TYPES, n, p=[0.6, 0.15, 0.25]),
            "首次参保日期": first.astype(str),
            "累计缴费月数": np.maximum(months, 1).astype(str),
            "最近缴费年月": last.astype(str),
            "月缴费基数": (rng.integers(35, 300, n) * 100).astype(str),
            "参保单位统一社会信用代码": np.where(employed, rng.choice(employers, n), None),
        }
    )
    frame, extract = with_defects(
        frame,
        out / PAYMENTS_FILE,
        rng,
        rate,
        {
            "negative_months": ("累计缴费月数", "-3"),
            "bad_id_check_character": ("公民身份号码", wrong_check_character),
        },
    )
    write_csv(frame, out / PAYMENTS_FILE)
    return extract
