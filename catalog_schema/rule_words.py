"""A declared rule in words, in Chinese and English, from the one vocabulary of models.py: the
quarantine report (why a row was rejected) and the Data Docs (what each expectation checks) say
the same thing."""

from __future__ import annotations

from catalog_schema.models import RULE_NAMES, RULE_NAMES_ZH, FieldSpec, Resource


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
