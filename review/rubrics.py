"""Rubric operations: the default rubric, a call's rubric, editing criteria and copying a rubric
into a new version. They never commit."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from initiatives import audit
from initiatives.access import acts_as_admin
from initiatives.extensions import db
from initiatives.models import Call
from review.models import Criterion, Review, Rubric
from search.textfold import fold

# (key, English name, Vietnamese name, English guidance, Vietnamese guidance)
DEFAULT_CRITERIA = (
    ("novelty", "Novelty", "Tính mới",
     "How new is the idea compared with what already exists in Vietnam and abroad?",
     "Ý tưởng mới đến mức nào so với những gì đã có trong nước và quốc tế?"),
    ("feasibility", "Feasibility", "Tính khả thi",
     "Can the plan, budget and technology deliver what is promised?",
     "Kế hoạch, kinh phí và công nghệ có đủ để đạt được kết quả đã nêu không?"),
    ("impact", "Impact", "Tác động",
     "How much will people, the economy or the environment benefit, and how many?",
     "Người dân, nền kinh tế hoặc môi trường được hưởng lợi đến mức nào và trên quy mô nào?"),
    ("commercial_potential", "Commercial potential", "Tiềm năng thương mại hóa",
     "Is there a market or an adopter, and a path to sustain the initiative?",
     "Có thị trường hoặc đơn vị tiếp nhận, và con đường duy trì sáng kiến không?"),
    ("team_capacity", "Team capacity", "Năng lực nhóm thực hiện",
     "Does the team have the skills, experience and partners to carry it out?",
     "Nhóm có đủ kỹ năng, kinh nghiệm và đối tác để thực hiện không?"),
)
DEFAULT_CRITERIA_KEYS = tuple(row[0] for row in DEFAULT_CRITERIA)
MAX_SCALE = 100
MAX_WEIGHT = 100.0


class RubricError(ValueError):
    """A rubric change refused, with a message for the admin."""


def default_rubric() -> Rubric:
    """The rubric of calls without their own: novelty, feasibility, impact, commercial potential,
    team capacity, each 1-5 and weighted equally; created on first use."""
    rubric = Rubric.query.filter(Rubric.call_id.is_(None)).order_by(Rubric.version.desc()).first()
    if rubric is None:
        rubric = Rubric(call_id=None, version=1, title="Default rubric / Bộ tiêu chí mặc định")
        for position, (key, name_en, name_vi, guidance_en, guidance_vi) in enumerate(DEFAULT_CRITERIA):
            rubric.criteria.append(Criterion(key=key, position=position, name_en=name_en, name_vi=name_vi,
                                             guidance_en=guidance_en, guidance_vi=guidance_vi, weight=1.0,
                                             scale_min=1, scale_max=5))
        db.session.add(rubric)
        db.session.flush()
    return rubric


def call_rubric(call: Call) -> Rubric | None:
    """The newest version of the call's own rubric, or None when it uses the default."""
    return Rubric.query.filter_by(call_id=call.id).order_by(Rubric.version.desc()).first()


def rubric_for(call: Call | None) -> Rubric:
    """The rubric reviews of ``call`` are written against now."""
    own = call_rubric(call) if call is not None else None
    return own or default_rubric()


def in_use(rubric: Rubric) -> bool:
    """Whether a review was scored against ``rubric``: it holds scores (a draft, or a submitted
    review an admin reopened) or was submitted at some time."""
    # A reopened review has no submitted_at until it is submitted again, yet its scores stand.
    scored = Review.query.filter(Review.rubric_id == rubric.id,
                                 Review.submitted_at.isnot(None) | Review.reopened_at.isnot(None)
                                 | Review.score_rows.any())
    return db.session.query(scored.exists()).scalar()


def require_admin(actor) -> None:
    if not acts_as_admin(actor):
        raise RubricError(_l("Only an administrator can change a rubric."))


def copy_rubric(rubric: Rubric, call: Call, actor) -> Rubric:
    """Copy ``rubric`` into a new version of ``call``'s own rubric (criteria keep their keys, so
    results compare across versions)."""
    require_admin(actor)
    newest = db.session.query(db.func.max(Rubric.version)).filter(Rubric.call_id == call.id).scalar() or 0
    copy = Rubric(call_id=call.id, version=newest + 1, title=call.title[:200])
    for criterion in rubric.criteria:
        copy.criteria.append(Criterion(
            key=criterion.key, position=criterion.position, name_en=criterion.name_en,
            name_vi=criterion.name_vi, guidance_en=criterion.guidance_en, guidance_vi=criterion.guidance_vi,
            weight=criterion.weight, scale_min=criterion.scale_min, scale_max=criterion.scale_max))
    db.session.add(copy)
    db.session.flush()
    audit.record("rubric.copied", copy, actor=actor, source=rubric.id, call=call.id, version=copy.version)
    return copy


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text or "").lower()).strip("_")[:50] or "criterion"


def _number(value, name: str, kind=float):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise RubricError(_l("“%(name)s” needs a number.", name=name)) from None


def save_criteria(rubric: Rubric, rows: list[dict], actor) -> Rubric:
    """Replace the rubric's criteria by ``rows`` (each: id or None, name_en, name_vi, guidance_en,
    guidance_vi, weight, scale_min, scale_max, position, remove). A rubric reviews were scored
    against keeps every criterion and its scale: copy it into a new version instead."""
    require_admin(actor)
    existing = {c.id: c for c in rubric.criteria}
    used = in_use(rubric)
    kept, removed, changes = [], [], []
    for row in rows:
        criterion = existing.get(row.get("id")) if row.get("id") else None
        name_en = (row.get("name_en") or "").strip()
        name_vi = (row.get("name_vi") or "").strip()
        blank = not (name_en or name_vi)
        if criterion is None and (blank or row.get("remove")):
            continue  # an empty "new criterion" line
        if criterion is not None and row.get("remove"):
            removed.append(criterion)
            continue
        if blank:
            raise RubricError(_l("Every criterion needs a name."))
        label = name_en or name_vi
        weight = _number(row.get("weight"), label)
        low = _number(row.get("scale_min"), label, int)
        high = _number(row.get("scale_max"), label, int)
        if not 0 < weight <= MAX_WEIGHT:
            raise RubricError(_l("The weight of “%(name)s” must be above 0 and at most %(max)d.",
                                 name=label, max=int(MAX_WEIGHT)))
        if not (0 <= low < high <= MAX_SCALE):
            raise RubricError(_l("The scale of “%(name)s” must run upwards from a minimum of 0 or more "
                                 "to a maximum of at most %(max)d.", name=label, max=MAX_SCALE))
        if criterion is not None and used and (criterion.scale_min, criterion.scale_max) != (low, high):
            raise RubricError(_l("“%(name)s” cannot be rescaled: reviews were scored on "
                                 "%(low)d-%(high)d. Copy the rubric into a new version to change it.",
                                 name=criterion.name_en or criterion.name_vi, low=criterion.scale_min,
                                 high=criterion.scale_max))
        if criterion is None:
            criterion = Criterion(key="")
            rubric.criteria.append(criterion)
            db.session.add(criterion)
            changes.append(f"+{label}")
        criterion.name_en, criterion.name_vi = name_en or name_vi, name_vi
        criterion.guidance_en = (row.get("guidance_en") or "").strip()
        criterion.guidance_vi = (row.get("guidance_vi") or "").strip()
        criterion.weight, criterion.scale_min, criterion.scale_max = weight, low, high
        criterion.position = _number(row.get("position") if row.get("position") not in (None, "") else len(kept),
                                     label, int)
        kept.append(criterion)
    if removed and used:
        raise RubricError(_l("“%(name)s” cannot be removed: reviews were scored against this "
                             "rubric. Copy the rubric into a new version to change its criteria.",
                             name=removed[0].name_en or removed[0].name_vi))
    if not kept:
        raise RubricError(_l("A rubric needs at least one criterion."))
    keys = {c.key for c in kept if c.key}
    for criterion in kept:
        if not criterion.key:
            key, n = _slug(criterion.name_en), 2
            base = key
            while key in keys:
                key, n = f"{base}_{n}", n + 1
            criterion.key = key
            keys.add(key)
    for criterion in removed:
        changes.append(f"-{criterion.name_en}")
        rubric.criteria.remove(criterion)
        db.session.delete(criterion)
    kept.sort(key=lambda c: (c.position, c.id or 0))
    for position, criterion in enumerate(kept):
        criterion.position = position
    db.session.flush()
    audit.record("rubric.edited", rubric, actor=actor, criteria=len(kept), changes=changes)
    return rubric
