"""Credit sources: the abnormal-operation list (market regulation), dishonest judgment debtors
(courts) and administrative penalties (the social credit office)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from gdx.demo.data.entities import Entities
from gdx.demo.data.extract import Extract, with_defects, wrong_check_character
from gdx.demo.data.population import People
from gdx.demo.data.writers import write_csv

#: source -> (file, category, share of legal-entity subjects, authority, reasons)
PLAN = {
    "market_regulation.abnormal_operations": (
        Path("market_regulation") / "abnormal_operations.csv",
        "经营异常名录",
        1.0,
        "吉林省市场监督管理厅",
        ["未按规定报送年度报告", "通过登记的住所无法联系", "公示信息隐瞒真实情况"],
    ),
    "courts.dishonest_debtors": (
        Path("courts") / "dishonest_debtors.csv",
        "失信被执行人",
        0.4,
        "长春市中级人民法院",
        ["有履行能力而拒不履行生效法律文书确定义务", "违反限制消费令"],
    ),
    "development_reform.penalties": (
        Path("development_reform") / "penalties.csv",
        "行政处罚",
        0.8,
        "吉林省生态环境厅",
        ["超标排放污染物", "未取得许可从事经营活动", "虚假宣传"],
    ),
}
HEADER = {
    "record_id": "记录编号",
    "subject_type": "主体类型",
    "subject_id": "主体代码",
    "subject_name": "主体名称",
    "category": "信用信息类别",
    "content": "事由",
    "authority": "认定部门",
    "decided_on": "决定日期",
    "valid_until": "有效期至",
    "status": "状态",
}


def write_credit(
    out: Path, rng: np.random.Generator, people: People, entities: Entities, rate: float
) -> dict[str, Extract]:
    extracts = {}
    today = np.datetime64(dt.date.today())
    for number, (code, (path, category, legal_share, authority, reasons)) in enumerate(
        PLAN.items()
    ):
        n = max(5, len(entities.usccs) // 20)
        legal = rng.random(n) < legal_share
        e = rng.integers(0, len(entities.usccs), n)
        p = rng.integers(0, len(people), n)
        decided = today - rng.integers(1, 3 * 365, n).astype("timedelta64[D]")
        frame = pd.DataFrame(
            {
                "record_id": np.char.add(
                    f"CR{number + 1}-", np.char.zfill(np.arange(1, n + 1).astype("U8"), 8)
                ),
                "subject_type": np.where(legal, "法人", "自然人"),
                "subject_id": np.where(legal, entities.usccs[e], people.ids[p]),
                "subject_name": np.where(legal, entities.names[e], people.names[p]),
                "category": category,
                "content": rng.choice(reasons, n),
                "authority": authority,
                "decided_on": decided.astype(str),
                "valid_until": (decided + np.timedelta64(3 * 365, "D")).astype(str),
                "status": rng.choice(["有效", "已修复", "已移出"], n, p=[0.8, 0.15, 0.05]),
            }
        )
        frame, extract = with_defects(
            frame,
            out / path,
            rng,
            rate,
            {
                "bad_subject_id": ("subject_id", wrong_check_character),
                "unknown_category": ("category", "表扬"),
                "decided_in_the_future": ("decided_on", "2999-01-01"),
            },
        )
        write_csv(frame.rename(columns=HEADER), out / path, "utf-8")
        extracts[code] = extract
    return extracts
