"""Population sources: public security (household register), civil affairs, social insurance.

The public-security household extract is written as a department would send it: GBK, zh headers,
an extra column the hub does not know, dates in mixed spellings, some old 15-digit numbers,
full-width digits and lower-case `x` — and, at the defect rate, rows that break a rule.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gdx.demo.data.extract import Extract
from quality.citizen_id import make_ids
from quality.divisions import current_division_names
from quality.vocab import ETHNIC_GROUPS

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
)
GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬建国志文斌宇浩然子轩梓涵欣怡"
    "博文雨辰佳琪思远晨曦嘉怡一鸣春梅海燕秋菊冬雪立新振华德明淑珍凤英金凤永红丽娟晓东雪梅丹丹"
)
STREETS = list("人民解放建设胜利和平幸福新华文化长江黄河东风光明团结红旗友谊振兴繁荣工农青年")
DEFECTS = (
    "bad_check_character",
    "gender_disagrees",
    "birth_date_disagrees",
    "unknown_ethnicity",
    "missing_name",
    "identical_repeat",
    "conflicting_repeat",
)
HEADER = ["公民身份号码", "姓名", "性别", "出生日期", "民族", "户籍地址", "数据更新时间"]
POPULATION_FILE = Path("public_security") / "population.csv"


@dataclass
class People:
    """The clean truth behind the extracts, for the other departments' data to refer to."""

    ids: np.ndarray
    names: np.ndarray
    births: np.ndarray  # datetime64[D]
    male: np.ndarray
    addresses: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def write_household_register(
    out: Path, rng: np.random.Generator, n: int, rate: float
) -> tuple[People, Extract]:
    """公安户籍: the GBK CSV of the public security department."""
    rows, people = _people(rng, n)
    extract = Extract(str(out / POPULATION_FILE))
    victims = _apply_defects(rng, rows, rate, extract)
    _vary_spellings(rng, rows, victims)
    path = out / POPULATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    extract.rows = len(rows)
    return people, extract


def _divisions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
    names = current_division_names()
    counties = [c for c, name in names.items() if not c.endswith("00") and name != "市辖区"]
    home = [c for c in counties if c.startswith("22")]
    elsewhere = [c for c in counties if not c.startswith("22")]
    pick_home = rng.random(n) < 0.85
    chosen = np.where(pick_home, rng.choice(home, n), rng.choice(elsewhere, n)).astype("U6")
    addresses = []
    streets = rng.choice(STREETS, (n, 2))
    numbers = rng.integers(1, 999, n)
    for i, code in enumerate(chosen.tolist()):
        province = names.get(code[:2] + "0000", "")
        city = names.get(code[:4] + "00", "")
        city = "" if city in ("市辖区", "县", province) else city
        addresses.append(
            f"{province}{city}{names[code]}{streets[i, 0]}{streets[i, 1]}路{numbers[i]}号"
        )
    return chosen.astype(np.int64), addresses


def _people(rng: np.random.Generator, n: int) -> tuple[list[list[str]], People]:
    draw = int(n * 1.02) + 16
    divisions, addresses = _divisions(rng, draw)
    start, end = np.datetime64("1940-01-01"), np.datetime64("2020-12-31")
    days = rng.integers(0, int((end - start).astype(int)), draw)
    births = start + days.astype("timedelta64[D]")
    birth_int = np.char.replace(births.astype("U10"), "-", "").astype(np.int64)
    sequences = rng.integers(0, 1000, draw)
    combined = divisions * 10**11 + birth_int * 1000 + sequences
    _, first = np.unique(combined, return_index=True)
    keep = np.sort(first)[:n]
    ids = make_ids(divisions[keep], birth_int[keep], sequences[keep])
    male = sequences[keep] % 2 == 1
    given_len = rng.integers(1, 3, n)
    given = rng.choice(GIVEN, (n, 2))
    surnames = rng.choice(SURNAMES, n)
    ethnic = np.where(rng.random(n) < 0.9, "汉族", rng.choice(ETHNIC_GROUPS[1:-1], n))
    updated = rng.integers(0, 365, n)
    rows = []
    birth_text = births[keep].astype("U10")
    for i in range(n):
        birth = birth_text[i]
        style = i % 5
        if style == 3:
            birth = birth.replace("-", "")
        elif style == 4:
            y, m, d = birth.split("-")
            birth = f"{y}/{int(m)}/{int(d)}"
        name = surnames[i] + "".join(given[i, : given_len[i]])
        stamp = np.datetime64("2025-11-01") + np.timedelta64(int(updated[i]), "D")
        rows.append(
            [
                ids[i],
                name,
                "男" if male[i] else "女",
                birth,
                ethnic[i] if i % 7 else ethnic[i].removesuffix("族") or ethnic[i],
                addresses[keep[i]],
                f"{stamp} 08:00:00",
            ]
        )
    names = np.array([row[1] for row in rows], dtype=object)
    people = People(
        np.array(ids, dtype=object), names, births[keep], male, [addresses[k] for k in keep]
    )
    return rows, people


def _vary_spellings(rng: np.random.Generator, rows: list[list[str]], skip: set[int]) -> None:
    """Spellings departments really send, all of which normalise to valid values."""
    for i in np.flatnonzero(rng.random(len(rows)) < 0.02):
        if i in skip:
            continue
        number = rows[i][0]
        kind = i % 4
        if kind == 0 and number.endswith("X"):
            rows[i][0] = number[:-1] + "x"
        elif kind == 1:
            rows[i][0] = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        elif kind == 2:
            rows[i][0] = f" {number} "
        elif number[6:8] == "19":
            rows[i][0] = number[:6] + number[8:17]  # the old 15-digit number


def _apply_defects(
    rng: np.random.Generator, rows: list[list[str]], rate: float, extract: Extract
) -> set[int]:
    count = int(round(len(rows) * rate))
    victims = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    extra: list[list[str]] = []
    for n, i in enumerate(victims.tolist()):
        kind = DEFECTS[n % len(DEFECTS)]
        row = rows[i]
        if kind == "bad_check_character":
            number = row[0]
            wrong = "0" if number[-1] != "0" else "1"
            row[0] = number[:-1] + wrong
        elif kind == "gender_disagrees":
            row[2] = "女" if row[2] == "男" else "男"
        elif kind == "birth_date_disagrees":
            row[3] = "1900-01-01"
        elif kind == "unknown_ethnicity":
            row[4] = "火星族"
        elif kind == "missing_name":
            row[1] = ""
        elif kind == "identical_repeat":
            extra.append(list(row))
        elif kind == "conflicting_repeat":
            clone = list(row)
            clone[1] = row[1] + "某"
            extra.append(clone)
        extract.defects[kind] += 1
    rows.extend(extra)
    return set(victims.tolist())
