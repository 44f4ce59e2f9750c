"""E-licence sources: seven licence types from five issuing bureaus, delivered as CSV, XLSX,
a drop folder of daily files, and an HTTP JSON API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from gdx.demo.data.entities import Entities, usccs
from gdx.demo.data.extract import Extract, with_defects, wrong_check_character
from gdx.demo.data.population import People
from gdx.demo.data.writers import write_csv, write_json, write_xlsx
from quality.citizen_id import make_ids

#: source -> (file, issuing department, [(type code, type name, holder type, share of holders)])
PLAN = {
    "market_regulation.licences": (
        Path("market_regulation") / "licences.csv",
        "market_regulation",
        [("BL01", "营业执照", "法人", 0.9), ("FB01", "食品经营许可证", "法人", 0.15)],
    ),
    "health.licences": (
        Path("health") / "physicians.csv",
        "health",
        [("MP01", "医师执业证书", "自然人", 0.01)],
    ),
    "housing.licences": (
        Path("housing") / "qualifications.xlsx",
        "housing",
        [("CQ01", "建筑业企业资质证书", "法人", 0.05)],
    ),
    "transport.licences": (
        Path("transport") / "licences.json",
        "transport",
        [("RT01", "道路运输经营许可证", "法人", 0.06)],
    ),
    "education.licences": (
        Path("education") / "drop",
        "education",
        [("TC01", "教师资格证书", "自然人", 0.015)],
    ),
}
HEADER = {
    "licence_id": "证照标识",
    "licence_type_code": "证照类型代码",
    "licence_type_name": "证照类型名称",
    "licence_no": "证照编号",
    "holder_type": "持证主体类型",
    "holder_id": "持证主体代码",
    "holder_name": "持证主体",
    "issuer_name": "颁发机构",
    "issuer_code": "颁发机构代码",
    "issued_on": "颁证日期",
    "valid_from": "有效期起始日期",
    "valid_until": "有效期截止日期",
    "status": "证照状态",
}


def _holders(rng, kind: str, share: float, people: People, entities: Entities):
    """Holder ids and names; 2% (at least one) are subjects the libraries do not know.

    The count is fixed, not drawn: the draws before this one depend on the calendar (who is an
    adult today), and a drawn count of strangers could be 0 on some days and not on others.
    """
    pool = (people.ids, people.names) if kind == "自然人" else (entities.usccs, entities.names)
    n = max(3, int(len(pool[0]) * share))
    picks = rng.integers(0, len(pool[0]), n)
    ids, names = pool[0][picks].copy(), pool[1][picks].copy()
    k = max(1, round(n * 0.02))
    if kind == "自然人":
        seq = rng.choice(1000, k, replace=False)
        fresh = np.array(make_ids(np.full(k, 220104), np.full(k, 19800101), seq), dtype=object)
        fresh = fresh[~np.isin(fresh, people.ids)]
    else:
        fresh = usccs(rng, np.full(k, "91"))
        fresh = fresh[~np.isin(fresh, entities.usccs)]
    ids[rng.choice(n, len(fresh), replace=False)] = fresh
    return ids, names


def licences_of(rng, code, issuer, issuer_code, types, people, entities) -> pd.DataFrame:
    frames = []
    today = np.datetime64(dt.date.today())
    for type_code, type_name, kind, share in types:
        ids, names = _holders(rng, kind, share, people, entities)
        n = len(ids)
        issued = today - rng.integers(1, 8 * 365, n).astype("timedelta64[D]")
        until = issued + np.timedelta64(5 * 365, "D")
        expired = until < today
        serial = np.char.zfill(np.arange(1, n + 1).astype("U8"), 8)
        frames.append(
            pd.DataFrame(
                {
                    "licence_id": np.char.add(f"{type_code}-{issuer_code[-6:]}-", serial),
                    "licence_type_code": type_code,
                    "licence_type_name": type_name,
                    "licence_no": np.char.add(
                        f"吉{type_code[:2]}",
                        np.char.zfill(rng.integers(0, 10**9, n).astype("U9"), 9),
                    ),
                    "holder_type": kind,
                    "holder_id": ids,
                    "holder_name": names,
                    "issuer_name": issuer,
                    "issuer_code": issuer_code,
                    "issued_on": issued.astype(str),
                    "valid_from": issued.astype(str),
                    "valid_until": until.astype(str),
                    "status": np.where(
                        expired,
                        "过期",
                        rng.choice(["有效", "注销", "吊销"], n, p=[0.95, 0.03, 0.02]),
                    ),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def write_licences(
    out: Path,
    rng: np.random.Generator,
    people: People,
    entities: Entities,
    rate: float,
    departments: dict,
) -> dict[str, Extract]:
    extracts = {}
    for code, (path, department, types) in PLAN.items():
        issuer = departments[department]
        frame = licences_of(rng, code, issuer.name_zh, issuer.uscc, types, people, entities)
        frame, extract = with_defects(
            frame,
            out / path,
            rng,
            rate,
            {
                "holder_id_of_the_wrong_kind": ("holder_id", wrong_check_character),
                "unknown_licence_type": ("licence_type_code", "XX99"),
                "ends_before_it_starts": ("valid_until", "2000-01-01"),
                "issued_in_the_future": ("issued_on", "2999-01-01"),
                "missing_licence_no": ("licence_no", None),
            },
        )
        zh = frame.rename(columns=HEADER)
        if path.suffix == ".csv":
            write_csv(zh, out / path, "gb18030")
        elif path.suffix == ".xlsx":
            write_xlsx(zh, out / path, f"{issuer.name_zh}电子证照", "证照")
        elif path.suffix == ".json":
            write_json(frame, out / path)  # the API speaks field names
        else:  # a drop folder: one file a day
            days = np.array_split(np.arange(len(zh)), 3)
            for i, rows in enumerate(days, start=1):
                write_csv(zh.iloc[rows], out / path / f"2026-11-{i:02d}.csv")
        extracts[code] = extract
    return extracts
