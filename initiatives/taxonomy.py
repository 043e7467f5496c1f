"""The field taxonomy and the 34 provinces and cities, read from the data files."""

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask_babel import get_locale

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Province:
    """One of the 34 provinces and cities, with the units merged into it."""

    slug: str
    name_vi: str
    name_en: str
    kind: str
    merged_from: tuple[str, ...]


@dataclass(frozen=True)
class Field:
    """One field of the taxonomy."""

    slug: str
    group: str
    name_vi: str
    name_en: str


@cache
def provinces() -> dict[str, Province]:
    """All provinces by slug, in the file's order."""
    with open(DATA / "provinces.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {
        row["slug"]: Province(
            row["slug"], row["name_vi"], row["name_en"], row["kind"],
            tuple(name.strip() for name in row["merged_from"].split(";") if name.strip()),
        )
        for row in rows
    }


@cache
def fields() -> dict[str, Field]:
    """All fields by slug, in the file's order."""
    with open(DATA / "fields.json", encoding="utf-8") as f:
        data = json.load(f)
    return {
        item["slug"]: Field(item["slug"], item["group"], item["name_vi"], item["name_en"])
        for item in data["fields"]
    }


def _is_vietnamese() -> bool:
    try:
        return str(get_locale()) == "vi"
    except (RuntimeError, AttributeError):
        return False


def province_name(slug: str | None) -> str:
    """The province's name in the interface language, or '' when unknown."""
    province = provinces().get(slug or "")
    if not province:
        return ""
    return province.name_vi if _is_vietnamese() else province.name_en


def field_name(slug: str | None) -> str:
    """The field's name in the interface language, or '' when unknown."""
    item = fields().get(slug or "")
    if not item:
        return ""
    return item.name_vi if _is_vietnamese() else item.name_en


def province_choices() -> list[tuple[str, str]]:
    """(slug, name) pairs for a select box, names in the interface language."""
    return [(slug, province_name(slug)) for slug in provinces()]


def field_choices() -> list[tuple[str, str]]:
    """(slug, name) pairs for a select box, names in the interface language."""
    return [(slug, field_name(slug)) for slug in fields()]
