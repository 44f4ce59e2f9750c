"""Legal-entity sources: enterprises (market regulation, CSV), social organisations (civil
affairs, XLSX) and public institutions (public-sector registration, XLSX)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gdx.demo.data.extract import Extract, with_defects, wrong_check_character
from gdx.demo.data.population import People
from gdx.demo.data.writers import write_csv, write_xlsx
from quality.uscc import ALPHABET, make_codes

ENTERPRISES_FILE = Path("market_regulation") / "enterprises.csv"
SOCIAL_ORGS_FILE = Path("civil_affairs") / "social_organisations.xlsx"
INSTITUTIONS_FILE = Path("public_sector_registration") / "institutions.xlsx"
CITIES = ["长春", "吉林", "四平", "辽源", "通化", "白山", "松原", "白城", "延边"]
WORDS = list("华信达恒泰鑫源盛安康德瑞丰和宏远兴祥润佳吉新博通")
TRADES = [
    "科技",
    "商贸",
    "建筑工程",
    "食品",
    "物流",
    "医药",
    "餐饮",
    "农业",
    "文化传媒",
    "汽车服务",
]
SECTIONS = list("ABCEFGHIKLMR")


@dataclass
class Entities:
    """The clean truth: every entity's code, name, kind and legal representative."""

    usccs: np.ndarray
    names: np.ndarray
    kinds: np.ndarray  # enterprise / social_organisation / institution


def usccs(rng: np.random.Generator, prefixes: np.ndarray) -> np.ndarray:
    """Valid, distinct codes for 2-character prefixes (authority and category)."""
    n = len(prefixes)
    divisions = rng.choice(
        [
            "220102",
            "220104",
            "220202",
            "220302",
            "220402",
            "220502",
            "220602",
            "220702",
            "220802",
            "222401",
        ],
        n,
    )
    head = np.char.add(prefixes.astype("U2"), divisions.astype("U6"))
    letters = np.frombuffer(ALPHABET[:31], dtype=np.uint8)
    org = letters[rng.integers(0, 10, (n, 8))]  # digits only, like most organisation codes
    org[:, 0] = letters[rng.integers(0, 31, n)]
    pre = np.frombuffer("".join(head.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 8)
    codes = np.array(make_codes(pre, org), dtype=object)
    _, first = np.unique(codes, return_index=True)
    return codes[np.sort(first)]


def _names(rng: np.random.Generator, n: int, suffix: np.ndarray) -> np.ndarray:
    city = rng.choice(CITIES, n)
    words = rng.choice(WORDS, (n, 2))
    trade = rng.choice(TRADES, n)
    base = np.char.add(np.char.add(np.char.add(city, words[:, 0]), words[:, 1]), trade)
    serial = np.char.add("", rng.integers(1, 100, n).astype("U2"))
    return np.char.add(np.char.add(base, np.where(rng.random(n) < 0.2, serial, "")), suffix)


def _frame(rng, codes, names, people: People, org_type, authority) -> pd.DataFrame:
    n = len(codes)
    today = np.datetime64(dt.date.today())
    adults = np.flatnonzero(people.births <= today - np.timedelta64(18 * 366, "D"))
    reps = rng.choice(adults if len(adults) else np.arange(len(people)), n)
    established = today - rng.integers(30, 40 * 365, n).astype("timedelta64[D]")
    industry = np.char.add(rng.choice(SECTIONS, n), rng.integers(10, 99, n).astype("U2"))
    return pd.DataFrame(
        {
            "统一社会信用代码": codes,
            "单位名称": names,
            "主体类型": org_type if isinstance(org_type, str) else org_type,
            "法定代表人": people.names[reps],
            "法定代表人身份证号": people.ids[reps],
            "注册资本(万元)": np.round(rng.lognormal(5, 1.5, n), 2).astype(str),
            "成立日期": established.astype(str),
            "住所": [people.addresses[r] for r in reps],
            "登记状态": rng.choice(
                ["存续", "在业", "注销", "吊销", "迁出"], n, p=[0.6, 0.25, 0.08, 0.05, 0.02]
            ),
            "行业代码": industry,
            "登记机关": authority,
        }
    )


def write_entities(
    out: Path, rng: np.random.Generator, people: People, rate: float
) -> tuple[Entities, dict[str, Extract]]:
    n = max(60, len(people) // 10)
    counts = {"enterprise": n * 85 // 100, "social_organisation": n * 7 // 100}
    counts["institution"] = n - sum(counts.values())
    prefixes = {"enterprise": "91", "social_organisation": "51", "institution": "12"}
    extracts: dict[str, Extract] = {}
    all_codes, all_names, all_kinds = [], [], []
    plan = [
        (
            "market_regulation.enterprises",
            "enterprise",
            ENTERPRISES_FILE,
            "有限责任公司",
            "吉林省市场监督管理厅",
            "有限公司",
        ),
        (
            "civil_affairs.social_organisations",
            "social_organisation",
            SOCIAL_ORGS_FILE,
            "社会团体",
            "吉林省民政厅",
            "协会",
        ),
        (
            "public_sector_registration.institutions",
            "institution",
            INSTITUTIONS_FILE,
            "事业单位",
            "吉林省事业单位登记管理局",
            "服务中心",
        ),
    ]
    for code, kind, path, org_type, authority, suffix in plan:
        codes = usccs(rng, np.full(counts[kind], prefixes[kind]))
        names = _names(rng, len(codes), np.full(len(codes), suffix))
        frame = _frame(rng, codes, names, people, org_type, authority)
        frame, extract = with_defects(
            frame,
            out / path,
            rng,
            rate,
            {
                "bad_check_character": ("统一社会信用代码", wrong_check_character),
                "negative_capital": ("注册资本(万元)", "-100"),
                "founded_in_the_future": ("成立日期", "2999-01-01"),
                "unknown_status": ("登记状态", "休眠"),
                "bad_industry_code": ("行业代码", "9999"),
                "missing_name": ("单位名称", None),
            },
        )
        if path.suffix == ".csv":
            write_csv(frame, out / path, "utf-8-sig")
        else:
            write_xlsx(frame, out / path, f"{authority}登记信息", "登记信息")
        extracts[code] = extract
        all_codes.append(codes)
        all_names.append(names)
        all_kinds.append(np.full(len(codes), kind))
    entities = Entities(
        np.concatenate(all_codes), np.concatenate(all_names), np.concatenate(all_kinds)
    )
    return entities, extracts
