"""A rule in words, in Chinese and English, from the one vocabulary of models.py: the quarantine
report (why a row was rejected) and the Data Docs (what each check found) say the same thing.
Beside the declared rules, the hub's own checks of a batch: a malformed row, a key repeated
with other content, a row outside its source's scope, a value that is no key of the libraries
its field refers to."""

from __future__ import annotations

from catalog_schema.models import RULE_NAMES, RULE_NAMES_ZH, FieldSpec, Resource

SOURCE_SCOPE = "source_scope"  # `field.source_scope`: a row its source may not write
REFERENCES = "references"  # `field.references`: no record of a referenced library has the value
ROW_RULES = {  # checks of a whole row, by rule id
    "duplicate_key_conflict": (
        "同一批次中同一主键出现内容不同的多行",
        "the same key with different content more than once in the batch",
    ),
    "malformed_row": (
        "字段数量与表头不符（或引号未闭合）",
        "wrong number of fields (or an open quote)",
    ),
}


def explain(resource: Resource, rule_id: str) -> tuple[str, str]:
    """(zh, en) for any rule id the hub records: a declared rule (`id_number.citizen_id`), a
    row's check (`malformed_row`), a source's scope or a field's references."""
    if rule_id in ROW_RULES:
        return ROW_RULES[rule_id]
    field, _, rule = rule_id.partition(".")
    try:
        spec: FieldSpec | None = resource.field(field)
    except KeyError:
        spec = None
    label = spec.label_zh if spec else field
    if rule == SOURCE_SCOPE:
        return (
            f"{label}：不属于本部门数据来源声明的范围（此记录应由其他部门提供）",
            f"{field} is outside the records this department's source is declared for "
            "(another department is the source of this record)",
        )
    if rule == REFERENCES and spec is not None and spec.references:
        return (
            f"{label}：所引用的库中没有此记录（{'、'.join(spec.references)}）",
            f"{field} should be the key of a record of {' or '.join(spec.references)}",
        )
    return describe(resource, field, rule)


def describe(resource: Resource, field: str, rule: str) -> tuple[str, str]:
    """(zh, en) for the rule `rule` of `field`: the Chinese names what a failing value is
    (`公民身份号码：不是有效的公民身份号码…`), the English what the value should be; the field
    a rule compares with, and the values of `in_set`, are named."""
    try:
        spec: FieldSpec | None = resource.field(field)
    except KeyError:
        spec = None
    label = spec.label_zh if spec else field
    zh = f"{label}：{RULE_NAMES_ZH.get(rule, rule)}"
    en = f"{field} should be {RULE_NAMES.get(rule, rule)}"
    arg = _argument(spec, rule)
    if arg:
        zh += f"（对照：{_label(resource, arg)}）"
        en += f" ({arg})"
    if rule == "in_set" and spec and spec.values:
        zh += f"（{'、'.join(spec.values)}）"
        en += f" ({', '.join(spec.values)})"
    return zh, en


def _argument(spec: FieldSpec | None, rule: str) -> str | None:
    """The field a rule of this field is declared to compare with, if any."""
    if spec is None:
        return None
    return next((r.arg for r in spec.rules if r.name == rule and r.arg), None)


def _label(resource: Resource, field: str) -> str:
    try:
        return f"{resource.field(field).label_zh} {field}"
    except KeyError:
        return field
