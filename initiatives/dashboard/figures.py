"""The dashboard's figures, computed from the database: each chart is a table (columns and rows)
that the page draws, the JSON endpoints give and the CSV export writes.

Counting is done in Python over small projections, so SQLite and PostgreSQL give the same numbers
and months, medians and empty periods need no dialect-specific SQL."""

import csv
import math
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from flask_babel import lazy_gettext as _l

from .. import taxonomy
from ..extensions import db
from ..labels import state_label
from ..models import AuditEvent, Call, Demand, Initiative, InitiativeState, InitiativeVersion

S = InitiativeState
MAX_MONTHS = 120
GRID = Path(__file__).resolve().parent.parent / "data" / "province_grid.csv"


class FilterError(ValueError):
    """A filter the dashboard cannot use, with a message for the user."""


@dataclass
class Filters:
    """Which call and which months (inclusive) the figures cover."""

    start: date
    end: date  # the first day of the last month
    call_id: int | None = None

    def months(self) -> list[str]:
        """Every month of the period as YYYY-MM, empty ones included."""
        months, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    def covers(self, when: datetime | date | None) -> bool:
        """Whether ``when`` falls inside the period."""
        if when is None:
            return False
        return (self.start.year, self.start.month) <= (when.year, when.month) <= (self.end.year, self.end.month)

    def as_args(self) -> dict:
        args = {"from": self.start.strftime("%Y-%m"), "to": self.end.strftime("%Y-%m")}
        if self.call_id:
            args["call"] = self.call_id
        return args


def _month(text: str, name) -> date:
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise FilterError(_l("%(name)s must be a month written as YYYY-MM.", name=name)) from None
    if parsed.year < 1900:
        raise FilterError(_l("%(name)s must be a month written as YYYY-MM.", name=name))
    return parsed.date().replace(day=1)


def parse_filters(args, today: date | None = None) -> Filters:
    """The filters of a request's query (``call``, ``from``, ``to``); the last 12 months by default."""
    today = today or date.today()
    end = _month(args["to"], _l("The end")) if args.get("to") else today.replace(day=1)
    if args.get("from"):
        start = _month(args["from"], _l("The start"))
    else:
        year, month = end.year, end.month - 11
        while month < 1:
            year, month = year - 1, month + 12
        start = date(year, month, 1)
    if start > end:
        raise FilterError(_l("The period starts after it ends."))
    if (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
        raise FilterError(_l("Choose a period of at most %(n)d months.", n=MAX_MONTHS))
    call_id = None
    if args.get("call"):
        raw = str(args["call"]).strip()
        if not raw.isdigit() or not 0 < int(raw) < 2**31 or db.session.get(Call, int(raw)) is None:
            raise FilterError(_l("There is no such call."))
        call_id = int(raw)
    return Filters(start, end, call_id)


@dataclass
class Chart:
    """One chart's data: ``columns`` name the cells of each row; ``series`` label drawn columns."""

    name: str
    title: str
    kind: str
    columns: list[str]
    rows: list[list]
    series: list[dict] = field(default_factory=list)
    note: str = ""

    def as_json(self) -> dict:
        return {"chart": self.name, "title": str(self.title), "kind": self.kind, "columns": self.columns,
                "rows": self.rows, "series": [{**s, "label": str(s["label"])} for s in self.series],
                "note": str(self.note)}


# Submissions ---------------------------------------------------------------------------------

def first_submissions(filters: Filters) -> list[tuple[Initiative, datetime]]:
    """Initiatives first submitted in the period (and call), with that first submission's time."""
    firsts = dict(db.session.query(InitiativeVersion.initiative_id, db.func.min(InitiativeVersion.submitted_at))
                  .group_by(InitiativeVersion.initiative_id).all())
    query = Initiative.query.filter(Initiative.state != S.DRAFT.value)
    if filters.call_id:
        query = query.filter(Initiative.call_id == filters.call_id)
    found = []
    for initiative in query.all():
        when = firsts.get(initiative.id) or initiative.submitted_at
        if filters.covers(when):
            found.append((initiative, when))
    return found


def submissions(filters: Filters) -> Chart:
    """Initiatives per month of their first submission, by their state now."""
    states = [s.value for s in InitiativeState if s != S.DRAFT]
    counts = {month: dict.fromkeys(states, 0) for month in filters.months()}
    for initiative, when in first_submissions(filters):
        counts[f"{when.year:04d}-{when.month:02d}"][initiative.state] += 1
    rows = [[month, *[counts[month][s] for s in states], sum(counts[month].values())] for month in counts]
    return Chart("submissions", _l("Submissions per month, by state"), "stacked", ["month", *states, "total"],
                 rows, [{"key": s, "label": state_label(s)} for s in states])


def by_field(filters: Filters) -> Chart:
    """Initiatives submitted in the period per field (every field listed), and how many were accepted."""
    counts = {slug: [0, 0] for slug in taxonomy.fields()}
    unknown = [0, 0]
    for initiative, _when in first_submissions(filters):
        cell = counts.get(initiative.field or "", unknown)
        cell[0] += 1
        cell[1] += initiative.state == S.ACCEPTED.value
    rows = [[slug, taxonomy.field_name(slug), n, accepted] for slug, (n, accepted) in counts.items()]
    if unknown[0]:
        rows.append(["", str(_l("No field")), *unknown])
    return Chart("fields", _l("Initiatives by field"), "bars", ["field", "name", "initiatives", "accepted"], rows,
                 [{"key": "initiatives", "label": _l("Initiatives")}, {"key": "accepted", "label": _l("Accepted")}])


# Provinces -----------------------------------------------------------------------------------

def _grid() -> dict[str, tuple[int, int, str]]:
    """Each unit's place on the map-like grid, and its short label there (unique: Lai Châu "LCh",
    Lào Cai "LC")."""
    with open(GRID, encoding="utf-8") as f:
        return {row["slug"]: (int(row["row"]), int(row["col"]), row["short"]) for row in csv.DictReader(f)}


def _connection_model():
    try:
        from ..connections.models import Connection
    except ImportError:
        return None
    return Connection


def provinces(filters: Filters) -> Chart:
    """Each of the 34 provinces and cities: initiatives submitted, demands posted and adoptions in
    the period, their sum as activity, and a level 0-4 for the map's colour (0: nothing)."""
    table = {slug: {"initiatives": 0, "demands": 0, "adoptions": 0} for slug in taxonomy.provinces()}
    for initiative, _when in first_submissions(filters):
        if initiative.province in table:
            table[initiative.province]["initiatives"] += 1
    for province, created in db.session.query(Demand.province, Demand.created_at).all():
        if province in table and filters.covers(created):
            table[province]["demands"] += 1
    for connection in _adoptions(filters):
        if connection.demand.province in table:
            table[connection.demand.province]["adoptions"] += 1
    grid = _grid()
    activity = {slug: sum(cell.values()) for slug, cell in table.items()}
    top = max(activity.values(), default=0)
    rows = []
    for slug, cell in table.items():
        level = 0 if not activity[slug] else max(1, math.ceil(4 * activity[slug] / top))
        row, col, short = grid.get(slug, (0, 0, slug[:3].upper()))
        rows.append([slug, taxonomy.province_name(slug), cell["initiatives"], cell["demands"], cell["adoptions"],
                     activity[slug], level, row, col, short])
    return Chart("provinces", _l("Activity by province and city"), "grid",
                 ["province", "name", "initiatives", "demands", "adoptions", "activity", "level", "row", "col",
                  "short"], rows,
                 [{"key": "initiatives", "label": _l("Initiatives")}, {"key": "demands", "label": _l("Demands")},
                  {"key": "adoptions", "label": _l("Adoptions")}])


def _adoptions(filters: Filters) -> list:
    Connection = _connection_model()
    if Connection is None:
        return []
    query = Connection.query.filter(Connection.adopted_at.isnot(None))
    if filters.call_id:
        query = query.join(Initiative, Connection.initiative_id == Initiative.id).filter(
            Initiative.call_id == filters.call_id)
    return [c for c in query.all() if filters.covers(c.adopted_at)]


# The review funnel ---------------------------------------------------------------------------

FUNNEL = [
    ("submitted", _l("Submitted")),
    ("screened", _l("Screened")),
    ("under_review", _l("Under review")),
    ("reviewed", _l("Reviewed")),
    ("decided", _l("Decided")),
]
DECISIONS = {S.ACCEPTED.value, S.REJECTED.value, S.REVISION_REQUESTED.value}


def _stage_times(initiative: Initiative, events: list[AuditEvent]) -> dict[str, datetime]:
    """When ``initiative`` first reached each step of the funnel, read from its audit events."""
    reached: dict[str, datetime] = {}

    def first(stage, when):
        if when is not None and stage not in reached:
            reached[stage] = when

    for event in events:  # oldest first
        after, before = event.after_state, event.before_state
        if after == S.SUBMITTED.value:
            first("submitted", event.created_at)
        if before == S.SCREENING.value and after in (S.UNDER_REVIEW.value, S.REJECTED.value):
            first("screened", event.created_at)
        if event.action in ("initiative.screened", "initiative.screening_passed"):
            first("screened", event.created_at)
        if after == S.UNDER_REVIEW.value:
            first("under_review", event.created_at)
        if after == S.REVIEWED.value:
            first("reviewed", event.created_at)
        if after in DECISIONS:
            first("decided", event.created_at)
    if initiative.screened_at is not None and ("screened" not in reached or initiative.screened_at < reached["screened"]):
        reached["screened"] = initiative.screened_at
    return reached


def funnel(filters: Filters) -> Chart:
    """How many initiatives (first submitted in the period) reached each step, how many stand there
    now, and the median days they spent at a step before the next one."""
    pairs = first_submissions(filters)
    chosen = [initiative for initiative, _when in pairs]
    events: dict[int, list[AuditEvent]] = {}
    if chosen:
        ids = [i.id for i in chosen]
        for start in range(0, len(ids), 500):
            for event in (AuditEvent.query.filter(AuditEvent.object_type == "initiative",
                                                  AuditEvent.object_id.in_(ids[start:start + 500]))
                          .order_by(AuditEvent.created_at, AuditEvent.id)):
                events.setdefault(event.object_id, []).append(event)
    keys = [key for key, _label in FUNNEL]
    reached = dict.fromkeys(keys, 0)
    durations: dict[str, list[float]] = {key: [] for key in keys}
    for initiative, submitted in pairs:
        times = _stage_times(initiative, events.get(initiative.id, []))
        times["submitted"] = min(times.get("submitted", submitted), submitted)
        for index, key in enumerate(keys):
            if key not in times:
                continue
            reached[key] += 1
            later = [times[k] for k in keys[index + 1:] if k in times]
            if later:
                durations[key].append(max(0.0, (min(later) - times[key]).total_seconds() / 86400))
    now = _standing(chosen)
    rows = []
    for key, label in FUNNEL:
        median = round(statistics.median(durations[key]), 1) if durations[key] else None
        rows.append([key, str(label), reached[key], now.get(key, 0), median])
    return Chart("funnel", _l("Review funnel"), "funnel", ["step", "name", "reached", "there_now", "median_days"], rows,
                 note=_l("Median days: time from reaching a step to reaching the next one."))


def _standing(initiatives: list[Initiative]) -> dict[str, int]:
    """How many initiatives stand at each funnel step now."""
    where = {S.SUBMITTED.value: "submitted", S.SCREENING.value: "submitted", S.UNDER_REVIEW.value: "under_review",
             S.REVIEWED.value: "reviewed", S.ACCEPTED.value: "decided", S.REJECTED.value: "decided",
             S.REVISION_REQUESTED.value: "decided"}
    counts: dict[str, int] = {}
    for initiative in initiatives:
        step = where.get(initiative.state)
        if step == "submitted" and initiative.screened_at is not None:
            step = "screened"
        if step:
            counts[step] = counts.get(step, 0) + 1
    return counts


# Reviewers and scores (admins) ---------------------------------------------------------------

def reviewer_load(filters: Filters) -> Chart:
    """Per expert: assignments made in the period (and call), and how many are accepted, submitted,
    overdue and declined now."""
    try:
        from review.models import Assignment
    except ImportError:
        Assignment = None
    rows = []
    if Assignment is not None:
        query = Assignment.query.filter(Assignment.state.notin_(["proposed", "cancelled"]))
        if filters.call_id:
            query = query.filter(Assignment.call_id == filters.call_id)
        per_expert: dict[int, dict] = {}
        for assignment in query.all():
            if not filters.covers(assignment.created_at):
                continue
            cell = per_expert.setdefault(assignment.expert_id, {
                "expert": assignment.expert, "assigned": 0, "accepted": 0, "submitted": 0, "overdue": 0,
                "declined": 0})
            cell["assigned"] += 1
            if assignment.state in cell:
                cell[assignment.state] += 1
        for cell in sorted(per_expert.values(), key=lambda c: (-c["assigned"], c["expert"].name)):
            expert = cell["expert"]
            rows.append([expert.id, expert.name, cell["assigned"], cell["accepted"], cell["submitted"],
                         cell["overdue"], cell["declined"], expert.max_load])
    return Chart("reviewers", _l("Reviewer load"), "grouped",
                 ["expert_id", "name", "assigned", "accepted", "submitted", "overdue", "declined", "max_load"], rows,
                 [{"key": "assigned", "label": _l("Assigned")}, {"key": "accepted", "label": _l("Accepted")},
                  {"key": "submitted", "label": _l("Submitted")}, {"key": "overdue", "label": _l("Overdue")}])


def review_scores(filters: Filters) -> list[tuple[str, str, int]]:
    """(criterion key, criterion name, value) of every score of a review submitted in the period
    (and call). The key is stable across versions of a rubric, so their scores pool."""
    from review.models import Assignment, Criterion, Review, ReviewScore

    # Plain columns, not the Criterion entity: a query of entities drops repeated rows, and two
    # reviews may well give one criterion the same score on the same day.
    query = (db.session.query(ReviewScore.criterion_id, ReviewScore.value, Review.submitted_at)
             .select_from(ReviewScore)
             .join(Review, ReviewScore.review_id == Review.id)
             .join(Criterion, ReviewScore.criterion_id == Criterion.id)
             .filter(Review.submitted_at.isnot(None)))
    if filters.call_id:
        query = (query.join(Assignment, Review.assignment_id == Assignment.id)
                 .filter(Assignment.call_id == filters.call_id))
    rows = [(criterion_id, value) for criterion_id, value, submitted in query if filters.covers(submitted)]
    criteria = {c.id: c for c in Criterion.query.filter(Criterion.id.in_({cid for cid, _ in rows}))} if rows else {}
    return [(criteria[cid].key, criteria[cid].name, value) for cid, value in rows]


def scores(filters: Filters) -> Chart:
    """Per criterion of the rubrics: how many reviews gave each score, their number and mean."""
    per_criterion: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    for key, name, value in review_scores(filters):
        per_criterion.setdefault(key, []).append(value)
        names.setdefault(key, name)
    values = sorted({int(round(v)) for vs in per_criterion.values() for v in vs}) or [1, 2, 3, 4, 5]
    low, high = min(values[0], 1), max(values[-1], 5)
    scale = list(range(low, high + 1))
    rows = []
    for key, given in sorted(per_criterion.items()):
        counts = [sum(1 for v in given if int(round(v)) == point) for point in scale]
        rows.append([key, names[key], *counts, len(given), round(statistics.fmean(given), 2)])
    return Chart("scores", _l("Score distributions per criterion"), "histograms",
                 ["criterion", "name", *[str(p) for p in scale], "reviews", "mean"], rows,
                 [{"key": str(p), "label": str(p)} for p in scale],
                 note="" if rows else _l("No submitted review scores yet."))


# Matches -------------------------------------------------------------------------------------

def matches(filters: Filters) -> Chart:
    """Connections made in the period (and call) by how far they came: suggested, requested,
    accepted, adopted (each counts every connection that reached it)."""
    Connection = _connection_model()
    counts = {"suggested": 0, "requested": 0, "accepted": 0, "adopted": 0}
    if Connection is not None:
        query = Connection.query
        if filters.call_id:
            query = query.join(Initiative, Connection.initiative_id == Initiative.id).filter(
                Initiative.call_id == filters.call_id)
        for connection in query.all():
            if not filters.covers(connection.created_at):
                continue
            counts["suggested"] += 1
            counts["requested"] += connection.requested_at is not None
            counts["accepted"] += connection.agreed_at is not None
            counts["adopted"] += connection.adopted_at is not None
    labels = {"suggested": _l("Suggested"), "requested": _l("Requested"), "accepted": _l("Accepted"),
              "adopted": _l("Adopted")}
    return Chart("matches", _l("Matches between demands and initiatives"), "bars", ["stage", "name", "connections"],
                 [[key, str(labels[key]), n] for key, n in counts.items()],
                 [{"key": "connections", "label": _l("Connections")}])


TITLES = {
    "submissions": _l("Submissions per month, by state"),
    "fields": _l("Initiatives by field"),
    "provinces": _l("Activity by province and city"),
    "funnel": _l("Review funnel"),
    "reviewers": _l("Reviewer load"),
    "scores": _l("Score distributions per criterion"),
    "matches": _l("Matches between demands and initiatives"),
}

CHARTS = {
    "submissions": submissions,
    "fields": by_field,
    "provinces": provinces,
    "funnel": funnel,
    "reviewers": reviewer_load,
    "scores": scores,
    "matches": matches,
}
PUBLIC_CHARTS = ("submissions", "fields", "provinces", "funnel", "matches")
