"""Importing experts, initiatives and demands from JSON or CSV files (``flask import ...``).

An import runs in three stages, so that a bad file writes nothing:

1. ``read_entries`` parses the file into entries that remember where they start (the item's
   number and line in a JSON list, the line in a CSV file);
2. ``check_entries`` checks and normalises every entry without touching the database (keys,
   types, field and province slugs, duplicates in the file);
3. each kind looks up what already exists (by ``external_ref``) and the people named, and
   refuses what the portal would refuse (a status it cannot reach, an account already linked).
   Only when no item has a problem does it create or update, through the areas' operations.

``import_file`` runs all three and reports the problems of stages 2 and 3 together. Nothing here
commits: the caller commits once, or rolls back when ``ImportRefused`` is raised.
"""

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

# A pure function without dependencies; the one piece of the search area the core uses, so that
# province names fold exactly as organisation names do for conflicts of interest.
from search.textfold import fold

from . import audit, taxonomy
from .accounts import operations as accounts
from .demands import operations as demands
from .experts import operations as experts
from .extensions import db
from .models import (
    Demand,
    DemandState,
    ExpertProfile,
    Initiative,
    InitiativeState,
    Role,
    User,
    UserRole,
)
from .models.demand import DEMAND_MACHINE
from .models.initiative import INITIATIVE_MACHINE, IP_STATUSES, LANGUAGES
from .proposals import operations as proposals
from .signals import announce_after_commit, initiative_changed

S = InitiativeState
MAX_PROBLEMS_SHOWN = 50


# --- Problems ------------------------------------------------------------------------------


@dataclass
class Problem:
    """What is wrong and where: ``where`` is "item 3 (line 41)", "line 7" or None."""

    where: str | None
    message: str
    order: int = 0  # the item's number, to report problems in the file's order

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ImportRefused(ValueError):
    """The file (or the import's setting) is refused; nothing of the batch may be written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = [str(problem) for problem in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more problems.")
        return "\n".join(shown)


class _Invalid(ValueError):
    """One value is wrong; the message completes "<key> ..."."""


# --- Reading -------------------------------------------------------------------------------


@dataclass
class Entry:
    """One item of a file: its number (from 1), where it starts, its raw and checked values."""

    number: int
    line: int | None
    where: str
    raw: dict
    values: dict = field(default_factory=dict)
    valid: bool = True

    def problem(self, message: str) -> Problem:
        """A problem of this entry."""
        return Problem(self.where, message, self.number)


def read_entries(path, kind: str) -> list[Entry]:
    """Parse ``path`` (.json, or .csv for initiatives and demands) into entries.

    Raises ImportRefused for a file that cannot be read as the kind expects.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ImportRefused([Problem(None, f"{path.name}: expected a .json or .csv file.")])
    if suffix == ".csv" and kind == "experts":
        raise ImportRefused([Problem(None, "Experts are imported from JSON only "
                                           "(each carries a list of publications).")])
    content = path.read_bytes()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise ImportRefused([Problem(f"line {line}", "the file is not UTF-8 text.")]) from error
    if suffix == ".json":
        return parse_json(text)
    return parse_csv(text, SPECS[kind].keys)


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def parse_json(text: str) -> list[Entry]:
    """Entries from a JSON list of objects; raises ImportRefused with the line of a syntax error."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportRefused([Problem(f"line {error.lineno}, column {error.colno}",
                                     f"not valid JSON: {error.msg}.")]) from error
    if not isinstance(document, list):
        raise ImportRefused([Problem("line 1", "expected a list of items: [{...}, {...}].")])
    lines = item_lines(text)
    entries, problems = [], []
    for index, item in enumerate(document):
        line = lines[index]
        where = f"item {index + 1} (line {line})"
        if not isinstance(item, dict):
            problems.append(Problem(where, "expected an object {...}."))
            continue
        entries.append(Entry(index + 1, line, where, item))
    if problems:
        raise ImportRefused(problems)
    return entries


def item_lines(text: str) -> list[int]:
    """The line on which each element of the JSON list in ``text`` starts (valid JSON only)."""
    decoder = json.JSONDecoder()
    position = _JSON_SPACE.match(text, 0).end() + 1  # past the opening bracket
    position = _JSON_SPACE.match(text, position).end()
    lines, line, counted = [], 1, 0
    while position < len(text) and text[position] != "]":
        line += text.count("\n", counted, position)
        counted = position
        lines.append(line)
        _, position = decoder.raw_decode(text, position)
        position = _JSON_SPACE.match(text, position).end()
        if text[position] == ",":
            position = _JSON_SPACE.match(text, position + 1).end()
    return lines


def parse_csv(text: str, columns) -> list[Entry]:
    """Entries from CSV with a header row of ``columns``; blank cells count as not given.

    The delimiter is ',' or, when the header holds only ';', ';' (spreadsheets in some locales).
    """
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in header_line and "," not in header_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportRefused([Problem("line 1", "the file is empty.")]) from None
    unknown = [name for name in header if name not in columns]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if unknown:
        problems.append(Problem("line 1", f"unknown column(s) {', '.join(map(repr, unknown))}; "
                                          f"the columns are: {', '.join(columns)}."))
    if duplicated:
        problems.append(Problem("line 1", f"column(s) {', '.join(duplicated)} appear twice."))
    if problems:
        raise ImportRefused(problems)
    entries, previous = [], reader.line_num
    try:
        for row in reader:
            line, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                problems.append(Problem(f"line {line}", f"{len(row)} cells, but the header names "
                                                        f"{len(header)} columns."))
                continue
            raw = {name: cell for name, cell in zip(header, row, strict=False) if cell.strip()}
            entries.append(Entry(len(entries) + 1, line, f"line {line}", raw))
    except csv.Error as error:
        problems.append(Problem(f"line {reader.line_num}", f"not valid CSV: {error}."))
    if problems:
        raise ImportRefused(problems)
    return entries


# --- Lookups -------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]+")
# Administrative words people put around a name: "Tỉnh Lào Cai", "TP. Cần Thơ", "Hue City".
_PREFIXES = (("thanh", "pho"), ("tinh",), ("tp",), ("city", "of"), ("province", "of"))
_SUFFIXES = (("city",), ("province",), ("thanh", "pho"), ("tinh",))
_PROVINCE_ALIASES = {
    "hcm": "ho-chi-minh", "tphcm": "ho-chi-minh", "sai gon": "ho-chi-minh",
    "saigon": "ho-chi-minh", "thua thien hue": "hue",
}


def lookup_key(text: str) -> str:
    """``text`` folded (case, diacritics), punctuation as spaces, administrative words dropped."""
    words = _NON_WORD.sub(" ", fold(str(text))).split()
    for prefix in _PREFIXES:
        if tuple(words[:len(prefix)]) == prefix and len(words) > len(prefix):
            words = words[len(prefix):]
            break
    for suffix in _SUFFIXES:
        if tuple(words[-len(suffix):]) == suffix and len(words) > len(suffix):
            words = words[:-len(suffix)]
            break
    return " ".join(words)


def _index(pairs) -> dict[str, str]:
    """Key -> slug, leaving out any key that would name two different slugs."""
    index, ambiguous = {}, set()
    for name, slug in pairs:
        key = lookup_key(name)
        if index.get(key, slug) != slug:
            ambiguous.add(key)
        index[key] = slug
    return {key: slug for key, slug in index.items() if key not in ambiguous}


@cache
def _province_index() -> dict[str, str]:
    pairs = []
    for province in taxonomy.provinces().values():
        # The units merged into a province in 2025 find it under their old names too.
        for name in (province.slug, province.name_vi, province.name_en, *province.merged_from):
            pairs.append((name, province.slug))
    pairs.extend((alias, slug) for alias, slug in _PROVINCE_ALIASES.items())
    return _index(pairs)


@cache
def _field_index() -> dict[str, str]:
    return _index((name, item.slug) for item in taxonomy.fields().values()
                  for name in (item.slug, item.name_vi, item.name_en))


def province_slug(text: str) -> str | None:
    """The slug of the province named by ``text`` (a slug, or its Vietnamese, English or
    pre-2025 name, with or without diacritics), or None."""
    return _province_index().get(lookup_key(text))


def field_slug(text: str) -> str | None:
    """The slug of the field named by ``text`` (a slug or its name in either language), or None."""
    return _field_index().get(lookup_key(text))


# --- Checking values -----------------------------------------------------------------------


def _text(limit: int | None = None):
    def convert(value):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Invalid("must be text.")
        value = str(value).strip()
        if limit and len(value) > limit:
            raise _Invalid(f"is longer than {limit} characters.")
        return value
    return convert


def _email(value) -> str:
    value = _text(254)(value)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise _Invalid(f"is not an e-mail address: {value!r}.")
    return accounts.normalise_email(value)


def _words(value) -> list[str]:
    """A list of strings, or text separated by ';' or ','."""
    if isinstance(value, str):
        value = re.split(r"[;,]", value)
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise _Invalid("must be a list of texts, or text separated by ';' or ','.")
    return [part.strip() for part in value if part.strip()]


_INTEGER = re.compile(r"\d+|\d{1,3}([., _\u00a0])\d{3}(?:\1\d{3})*")


def _integer(low: int | None = None, high: int | None = None):
    def convert(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            # Thousands separators as people write them: 1.500.000.000, 1,500,000,000, 1 500 000.
            text = value.strip()
            if not _INTEGER.fullmatch(text.lstrip("-")):
                raise _Invalid(f"must be a whole number, not {value!r}.")
            value = int(re.sub(r"\D", "", text)) * (-1 if text.startswith("-") else 1)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid("must be a whole number.")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise _Invalid(f"must be {bounds}, not {value}.")
        return value
    return convert


def _date(value) -> date:
    text = _text()(value)
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise _Invalid(f"must be a date such as 2027-03-31 (or 31/03/2027), not {text!r}.")


def _choice(choices):
    allowed = [str(choice) for choice in choices]

    def convert(value):
        text = _text()(value).lower().replace(" ", "_").replace("-", "_")
        if text not in allowed:
            raise _Invalid(f"must be one of {', '.join(allowed)}, not {value!r}.")
        return text
    return convert


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = _text()(value).lower()
    if text in ("true", "yes", "1", "co", "có"):
        return True
    if text in ("false", "no", "0", "khong", "không"):
        return False
    raise _Invalid(f"must be true or false, not {value!r}.")


def _languages(value) -> list[str]:
    return [_choice(LANGUAGES)(part) for part in _words(value)]


def _field(value) -> str:
    slug = field_slug(_text()(value))
    if slug is None:
        raise _Invalid(f"{value!r} is not a field; the fields are: "
                       f"{', '.join(taxonomy.fields())}.")
    return slug


def _fields(value) -> list[str]:
    return [_field(part) for part in _words(value)]


def _province(value) -> str:
    slug = province_slug(_text()(value))
    if slug is None:
        raise _Invalid(f"{value!r} is not one of the 34 provinces and cities "
                       "(give its slug, such as lao-cai, or its name).")
    return slug


PUBLICATION_KEYS = {"title": _text(500), "abstract": _text(), "year": _integer(1900, 2100),
                    "venue": _text(300)}


def _publications(value) -> list[dict]:
    if not isinstance(value, list):
        raise _Invalid("must be a list of {\"title\", \"abstract\", \"year\"} objects.")
    publications = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise _Invalid(f"item {number} must be an object with a title.")
        unknown = sorted(set(item) - set(PUBLICATION_KEYS))
        if unknown:
            raise _Invalid(f"item {number} has unknown key(s) {', '.join(unknown)}.")
        try:
            cleaned = {key: PUBLICATION_KEYS[key](item[key]) for key in item
                       if item[key] not in (None, "")}
        except _Invalid as error:
            raise _Invalid(f"item {number}: {error}") from None
        if not cleaned.get("title"):
            raise _Invalid(f"item {number} needs a title.")
        publications.append(cleaned)
    return publications


@dataclass(frozen=True)
class Spec:
    """The keys one kind of item may have, how each is checked, and which are required."""

    converters: dict
    required: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.converters)


SPECS = {
    "experts": Spec({
        "external_ref": _text(100), "name": _text(200), "email": _email,
        "organisation": _text(300), "keywords": _words, "bio": _text(), "fields": _fields,
        "publications": _publications, "languages": _languages, "max_load": _integer(0, 50),
        "available": _boolean, "unavailable_until": _date,
    }, required=("external_ref", "name")),
    "initiatives": Spec({
        "external_ref": _text(100), "title": _text(300), "summary": _text(),
        "description": _text(), "keywords": _words, "field": _field, "province": _province,
        "status": _choice(InitiativeState), "proposer": _email, "organisation": _text(300),
        "language": _choice(LANGUAGES), "trl": _integer(1, 9), "ip_status": _choice(IP_STATUSES),
        "expected_impact": _text(), "budget_vnd": _integer(0), "team_members": _words,
    }, required=("title",)),
    "demands": Spec({
        "external_ref": _text(100), "title": _text(300), "description": _text(),
        "organisation": _text(300), "field": _field, "province": _province,
        "budget_min_vnd": _integer(0), "budget_max_vnd": _integer(0), "deadline": _date,
        "status": _choice(DemandState), "owner": _email, "language": _choice(LANGUAGES),
    }, required=("title",)),
}


def check_entries(kind: str, entries: list[Entry]) -> list[Entry]:
    """Check and normalise every entry's values in place (``entry.values``), without the database.

    Values that are null or blank count as not given. Raises ImportRefused listing every problem.
    """
    _refuse_if(_value_problems(kind, entries))
    return entries


def _value_problems(kind: str, entries: list[Entry]) -> list[Problem]:
    """Check every entry as ``check_entries`` does, marking bad ones, and return the problems."""
    spec = SPECS[kind]
    problems, refs, emails = [], {}, {}
    for entry in entries:
        messages, values, invalid = [], {}, set()
        unknown = [key for key in entry.raw if key not in spec.converters]
        if unknown:
            messages.append(f"unknown key(s) {', '.join(map(repr, unknown))}; "
                            f"the keys are: {', '.join(spec.keys)}.")
        for key, value in entry.raw.items():
            if key in unknown or value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                values[key] = spec.converters[key](value)
            except _Invalid as error:
                invalid.add(key)
                messages.append(f'"{key}" {error}')
        messages.extend(f'"{key}" is required.' for key in spec.required
                        if not values.get(key) and key not in invalid)
        low, high = values.get("budget_min_vnd"), values.get("budget_max_vnd")
        if low is not None and high is not None and low > high:
            messages.append('"budget_min_vnd" is above "budget_max_vnd".')
        for seen, key in ((refs, "external_ref"), (emails, "email")):
            if values.get(key) and values[key] in seen:
                messages.append(f'"{key}" {values[key]!r} is also used by {seen[values[key]]}.')
            elif values.get(key):
                seen[values[key]] = entry.where
        problems.extend(entry.problem(message) for message in messages)
        entry.values, entry.valid = values, not messages
    return problems


# --- Applying ------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did (or, before a rollback, would do)."""

    kind: str
    created: int = 0
    updated: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"created {self.created}, updated {self.updated}"


def importing_admin(email: str | None = None) -> User:
    """The admin an import acts as: the account ``email``, else the first admin by id.

    Raises ImportRefused when that account is not an active admin, or when there is no admin.
    """
    if email:
        user = accounts.find_user(email)
        if user is None or not user.is_admin or not user.active:
            raise ImportRefused([Problem(None, f"{email} is not an active admin account.")])
        return user
    admin = (User.query.join(UserRole, UserRole.user_id == User.id)
             .filter(UserRole.role == Role.ADMIN.value, User.active.is_(True))
             .order_by(User.id).first())
    if admin is None:
        raise ImportRefused([Problem(None, "There is no admin account to import as; create one "
                                           "with `flask --app wsgi users create --role admin`.")])
    return admin


def import_file(kind: str, path, admin: User) -> ImportResult:
    """Read, check and import ``path`` as ``kind`` (experts, initiatives or demands) acting as
    ``admin``. Never commits; raises ImportRefused, after which the caller must roll back.

    Every problem of the file is reported at once: those of the values, and those that need the
    database (a status the portal cannot reach, an account already linked...).
    """
    entries = read_entries(path, kind)
    problems = _value_problems(kind, entries)
    plan, apply_one = _STAGES[kind]
    result = ImportResult(kind)
    plans, later = plan([entry for entry in entries if entry.valid], admin, result)
    _refuse_if(problems + later)
    _apply(plans, apply_one, admin, result)
    return result


def import_experts(entries: list[Entry], admin: User) -> ImportResult:
    """Create or update expert profiles by external_ref from checked entries, acting as ``admin``.

    An e-mail of an existing account links the profile to it (adopting the account's own profile
    when it has one without a reference, and granting the expert role); other experts have no
    account. Given publications replace the profile's, keeping those whose title is unchanged.
    Never commits; raises ImportRefused.
    """
    return _import("experts", entries, admin)


def import_initiatives(entries: list[Entry], admin: User) -> ImportResult:
    """Create or update initiatives by external_ref from checked entries, acting as ``admin``.

    New initiatives belong to the named proposer when they have an account, else to ``admin``;
    they start as drafts and are walked to their status (default "submitted") through the same
    operations as the portal. An update changes only the values given. Never commits; raises
    ImportRefused.
    """
    return _import("initiatives", entries, admin)


def import_demands(entries: list[Entry], admin: User) -> ImportResult:
    """Create or update demands by external_ref from checked entries, acting as ``admin``.

    New demands belong to the named owner when they have an account, else to ``admin``, and are
    moved to their status (default "open") as the demand machine allows. An update changes only
    the values given. Never commits; raises ImportRefused.
    """
    return _import("demands", entries, admin)


def _import(kind: str, entries: list[Entry], admin: User) -> ImportResult:
    plan, apply_one = _STAGES[kind]
    result = ImportResult(kind)
    plans, problems = plan(entries, admin, result)
    _refuse_if(problems)
    _apply(plans, apply_one, admin, result)
    return result


def _refuse_if(problems: list[Problem]) -> None:
    if problems:
        raise ImportRefused(sorted(problems, key=lambda problem: problem.order))


def _apply(plans: list, apply_one, admin: User, result: ImportResult) -> None:
    """Apply every plan; an operation's refusal names the item and stops the batch."""
    for plan in plans:
        try:
            apply_one(plan, admin, result)
            db.session.flush()
        except (ValueError, SQLAlchemyError) as error:
            raise ImportRefused([Problem(plan.entry.where, str(error))]) from error


def _person(email, role: str, entry: Entry, result: ImportResult, fallback: str) -> User | None:
    """The account named by ``email`` (None when none is named, or with a warning when missing)."""
    if not email:
        return None
    user = accounts.find_user(email)
    if user is None:
        result.warnings.append(f"{entry.where}: no account for {role} {email}; {fallback}.")
    return user


# Initiatives ----------------------------------------------------------------------------------

SUBMIT = "submit"
# What the demo loader fills in when a file leaves it out; submission needs them.
INITIATIVE_DEFAULTS = {"trl": 4, "ip_status": "none", "language": "vi"}


def initiative_steps(current: InitiativeState, target: InitiativeState) -> list:
    """The steps (SUBMIT, or a state to move to) from ``current`` to ``target``.

    A first submission lands in screening, so "submitted" is reached there too. Raises ValueError
    when the machine offers no way (backwards, or out of a final state).
    """
    if target == current or (target == S.SUBMITTED and current == S.SCREENING):
        return []
    refusal = _Invalid(f'cannot go from "{current}" to "{target}".')
    if target == S.DRAFT:
        raise refusal
    steps, state = [], current
    if current == S.DRAFT or (current == S.REVISION_REQUESTED and target != S.WITHDRAWN):
        steps.append(SUBMIT)
        state = S.SCREENING if current == S.DRAFT else S.SUBMITTED
    walk = proposals.PATH_AFTER_SUBMISSION[target]
    if state in walk:
        walk = walk[walk.index(state) + 1:]
    for step in walk:
        if not INITIATIVE_MACHINE.allowed(state, step):
            raise refusal
        state = step
    if state != target and not (target == S.SUBMITTED and state == S.SCREENING):
        raise refusal
    return steps + walk


@dataclass
class _InitiativePlan:
    entry: Entry
    initiative: Initiative | None
    ref: str | None
    values: dict
    proposer: User | None
    steps: list


def _plan_initiatives(entries: list[Entry], admin: User, result: ImportResult):
    plans, problems = [], []
    for entry in entries:
        values = dict(entry.values)
        ref, status = values.pop("external_ref", None), values.pop("status", None)
        proposer_email = values.pop("proposer", None)
        initiative = Initiative.query.filter_by(external_ref=ref).first() if ref else None
        keep = "it stays with its proposer" if initiative else f"it belongs to {admin.email}"
        proposer = _person(proposer_email, "proposer", entry, result, keep)
        try:
            if initiative is None:
                values = {**INITIATIVE_DEFAULTS, "expected_impact": values.get("summary", ""),
                          **values}
                if not status:  # every field but the title is optional: an incomplete item is a draft
                    ready = all(values.get(name) not in (None, "", []) for name in proposals.REQUIRED_FOR_SUBMISSION)
                    status = S.SUBMITTED.value if ready else S.DRAFT.value
                steps = initiative_steps(S.DRAFT, S(status))
                complete = values
            else:
                steps = initiative_steps(initiative.status, S(status)) if status else []
                complete = {**initiative.snapshot(), **values}
        except _Invalid as error:
            problems.append(entry.problem(f'"status" {error}'))
            continue
        missing = [name for name in proposals.REQUIRED_FOR_SUBMISSION
                   if complete.get(name) in (None, "", [])]
        if SUBMIT in steps and missing:
            problems.append(entry.problem(f'status "{status or S.SUBMITTED}" needs '
                                          f'{", ".join(missing)}; give them or set "status" '
                                          'to "draft".'))
            continue
        if initiative is None:
            proposer = proposer or admin
        plans.append(_InitiativePlan(entry, initiative, ref, values, proposer, steps))
    return plans, problems


def _apply_initiative(plan: _InitiativePlan, admin: User, result: ImportResult) -> None:
    if plan.initiative is None:
        initiative = proposals.create_draft(plan.proposer, **plan.values)
        initiative.external_ref = plan.ref
        result.created += 1
    else:
        initiative = plan.initiative
        _update_initiative(initiative, plan.values, plan.proposer, admin)
        result.updated += 1
    for step in plan.steps:
        if step == SUBMIT:
            proposals.submit(initiative, initiative.proposer)
        else:
            proposals.transition(initiative, step, actor=admin, source="import")


def _update_initiative(initiative: Initiative, values: dict, proposer: User | None,
                       admin: User) -> None:
    """Set the given values whatever the state: the file is the catalogue's source, and an admin
    imports it (proposals.update_initiative is the proposer's own edit, for editable states)."""
    changed = sorted(name for name, value in values.items() if getattr(initiative, name) != value)
    for name in changed:
        setattr(initiative, name, values[name])
    if proposer is not None and proposer.id != initiative.proposer_id:
        initiative.proposer = proposer
        changed.append("proposer")
    if changed:
        audit.record("initiative.edited", initiative, actor=admin, fields=changed, source="import")
        announce_after_commit(db.session, initiative_changed, initiative_id=initiative.id)


# Demands --------------------------------------------------------------------------------------


@dataclass
class _DemandPlan:
    entry: Entry
    demand: Demand | None
    ref: str | None
    values: dict
    owner: User | None
    target: DemandState | None


def _plan_demands(entries: list[Entry], admin: User, result: ImportResult):
    plans, problems = [], []
    for entry in entries:
        values = dict(entry.values)
        ref, status = values.pop("external_ref", None), values.pop("status", None)
        owner_email = values.pop("owner", None)
        demand = Demand.query.filter_by(external_ref=ref).first() if ref else None
        keep = "it stays with its owner" if demand else f"it belongs to {admin.email}"
        owner = _person(owner_email, "owner", entry, result, keep)
        current = demand.status if demand else DemandState.OPEN
        target = DemandState(status) if status else current
        if target != current and not DEMAND_MACHINE.allowed(current, target):
            problems.append(entry.problem(f'"status" cannot go from "{current}" to "{target}".'))
            continue
        if demand is not None:
            low = values.get("budget_min_vnd", demand.budget_min_vnd)
            high = values.get("budget_max_vnd", demand.budget_max_vnd)
            if low is not None and high is not None and low > high:
                problems.append(entry.problem("the lowest budget would be above the highest."))
                continue
        else:
            owner = owner or admin
        plans.append(_DemandPlan(entry, demand, ref, values, owner,
                                 target if target != current else None))
    return plans, problems


def _apply_demand(plan: _DemandPlan, admin: User, result: ImportResult) -> None:
    if plan.demand is None:
        demand = demands.create_demand(plan.owner, **plan.values)
        demand.external_ref = plan.ref
        result.created += 1
    else:
        demand = demands.update_demand(plan.demand, admin, **plan.values)
        if plan.owner is not None and plan.owner.id != demand.owner_id:
            audit.record("demand.owner_changed", demand, actor=admin, source="import",
                         owner=plan.owner.email, previous_owner=demand.owner.email)
            demand.owner = plan.owner
        result.updated += 1
    if plan.target is not None:
        demands.move_demand(demand, plan.target, admin)


# Experts --------------------------------------------------------------------------------------


@dataclass
class _ExpertPlan:
    entry: Entry
    profile: ExpertProfile | None
    ref: str
    email: str | None
    user: User | None
    values: dict
    publications: list | None


def _plan_experts(entries: list[Entry], admin: User, result: ImportResult):
    plans, problems = [], []
    for entry in entries:
        values = dict(entry.values)
        ref, email = values.pop("external_ref"), values.pop("email", None)
        publications = values.pop("publications", None)
        profile = ExpertProfile.query.filter_by(external_ref=ref).first()
        user = accounts.find_user(email) if email else None
        if user is not None:
            held = ExpertProfile.query.filter_by(user_id=user.id).first()
            if held is not None and held is not profile:
                if held.external_ref or profile is not None:
                    problems.append(entry.problem(
                        f"the account {email} already has another expert profile "
                        f"({held.external_ref or f'id {held.id}'})."))
                    continue
                profile = held  # the account's own profile, not imported before
            if profile is not None and profile.user_id not in (None, user.id):
                problems.append(entry.problem(f'expert "{ref}" is linked to another account '
                                              f"({profile.user.email})."))
                continue
        plans.append(_ExpertPlan(entry, profile, ref, email, user, values, publications))
    return plans, problems


def _apply_expert(plan: _ExpertPlan, admin: User, result: ImportResult) -> None:
    profile = plan.profile
    if profile is None:
        if plan.user is not None:
            profile = experts.profile_for(plan.user)
        else:
            profile = ExpertProfile(name=plan.values["name"], languages=["vi", "en"])
            db.session.add(profile)
            db.session.flush()
        result.created += 1
    else:
        result.updated += 1
    if profile.external_ref != plan.ref:
        profile.external_ref = plan.ref
        audit.record("expert.imported", profile, actor=admin, external_ref=plan.ref)
    if plan.user is not None:
        profile.user = plan.user
        if not plan.user.has_role(Role.EXPERT):
            accounts.set_roles(plan.user, plan.user.roles | {Role.EXPERT}, actor=admin)
    if plan.email:
        profile.email = plan.email
    experts.update_profile(profile, admin, **plan.values)
    if plan.publications is not None:
        _replace_publications(profile, plan.publications, admin)


def _replace_publications(profile: ExpertProfile, publications: list[dict], admin: User) -> None:
    """Make the profile's publications those given; one whose title is unchanged is updated in
    place rather than removed and added (its vector need not be encoded again)."""
    by_title: dict[str, list] = {}
    for publication in profile.publications:
        by_title.setdefault(fold(publication.title), []).append(publication)
    for item in publications:
        same = by_title.get(fold(item["title"]))
        details = {"abstract": item.get("abstract", ""), "year": item.get("year"),
                   "venue": item.get("venue", "")}
        if same:
            experts.update_publication(same.pop(0), admin, title=item["title"], **details)
        else:
            experts.add_publication(profile, admin, item["title"], **details)
    for unused in by_title.values():
        for publication in unused:
            experts.remove_publication(publication, admin)
            profile.publications.remove(publication)


# What each kind looks up before writing, and how it writes one item.
_STAGES = {
    "experts": (_plan_experts, _apply_expert),
    "initiatives": (_plan_initiatives, _apply_initiative),
    "demands": (_plan_demands, _apply_demand),
}
