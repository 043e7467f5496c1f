"""Matching in the portal: experts and demands for initiatives, with reasons and exclusions.

Pure arithmetic lives in ``search.affinity``; this module gathers the stored vectors, applies the
conflict rules of DESIGN section 2 and turns scores into suggestions people can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from flask import current_app
from flask_babel import lazy_gettext as _l

from initiatives.extensions import db
from initiatives.models import (
    Demand,
    DemandState,
    ExpertProfile,
    Initiative,
    InitiativeConflict,
    InitiativeState,
    OrganisationConflict,
    Publication,
)
from search import vectors
from search.affinity import shared_keywords
from search.textfold import fold

S = InitiativeState
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass
class ExpertTexts:
    """Some experts and where their encoded texts sit in the process's expert text matrix."""

    experts: list[ExpertProfile]
    matrix: vectors.ExpertTextMatrix
    groups: np.ndarray  # per expert: its group in ``matrix``, -1 when it has no vector

    def texts(self, index: int) -> tuple[np.ndarray, list[tuple[str, object]]]:
        """The vectors of expert ``index``'s texts, ``(m, d)``, and what each is:
        ("profile", expert) first, then ("publication", id) by id."""
        block, publication_ids = self.matrix.texts_of(int(self.groups[index]))
        return block, [("profile", self.experts[index]) if publication_id == 0
                       else ("publication", int(publication_id)) for publication_id in publication_ids]

    @cached_property
    def blocks(self) -> list[np.ndarray]:
        """Per expert: the ``(m_e, d)`` vectors of its texts."""
        return [self.texts(index)[0] for index in range(len(self.experts))]

    @cached_property
    def labels(self) -> list[list[tuple[str, object]]]:
        """Per expert: ("profile", expert) | ("publication", id) for each of its texts."""
        return [self.texts(index)[1] for index in range(len(self.experts))]


@dataclass
class ExpertSuggestion:
    expert: ExpertProfile
    score: float
    load: int
    reason: str = ""
    reason_kind: str = ""  # profile | publication
    keywords: list[str] = field(default_factory=list)
    excluded: str = ""      # why the expert may not review this initiative


@dataclass
class Match:
    """A demand or initiative matched to another object, with its score and reason."""

    item: object
    score: float
    keywords: list[str] = field(default_factory=list)
    reason: str = ""  # the item's sentence closest to what it was matched with


# Conflicts of interest ---------------------------------------------------------------------

def same_organisation(a: str, b: str) -> bool:
    """Whether two organisation names are the same after folding case, spaces and diacritics."""
    return bool(fold(a or "")) and fold(a or "") == fold(b or "")


def conflict_reason(expert: ExpertProfile, initiative: Initiative) -> str:
    """Why ``expert`` may not review ``initiative``, or "" when nothing stands in the way."""
    return conflict_matrix([initiative], [expert])[0][0]


def conflict_matrix(initiatives: list[Initiative], experts: list[ExpertProfile]) -> list[list[str]]:
    """``conflict_reason`` for every pair, with the declared conflicts read once."""
    declared: dict[int, list[str]] = {}
    for row in OrganisationConflict.query.all():
        declared.setdefault(row.expert_id, []).append(row.organisation)
    pair_conflicts = {(c.expert_id, c.initiative_id): c.source for c in InitiativeConflict.query.all()}
    folded_orgs = {e.id: fold(e.organisation or "") for e in experts}
    folded_declared = {eid: {fold(o) for o in orgs} for eid, orgs in declared.items()}
    folded_names = {e.id: fold(e.name) for e in experts}
    result = []
    for initiative in initiatives:
        org = fold(initiative.organisation or "")
        team = {fold(m) for m in initiative.team_members or []}
        row = []
        for expert in experts:
            if expert.user_id is not None and expert.user_id == initiative.proposer_id:
                row.append(str(_l("is the proposer")))
            elif folded_names[expert.id] and folded_names[expert.id] in team:
                row.append(str(_l("is a team member")))
            elif org and folded_orgs[expert.id] == org:
                row.append(str(_l("same organisation (%(org)s)", org=expert.organisation)))
            elif org and org in folded_declared.get(expert.id, set()):
                row.append(str(_l("declared a conflict with %(org)s", org=initiative.organisation)))
            elif (expert.id, initiative.id) in pair_conflicts:
                source = pair_conflicts[(expert.id, initiative.id)]
                row.append(str(_l("declined earlier for a conflict")) if source == "decline"
                           else str(_l("declared a conflict with this initiative")))
            else:
                row.append("")
        result.append(row)
    return result


# Affinity ----------------------------------------------------------------------------------

def expert_texts(experts: list[ExpertProfile] | None = None) -> ExpertTexts:
    """The stored vectors of each expert's profile and publications (every reviewer's when
    ``experts`` is None).

    They come from the process's matrix of every expert text (``vectors.cached_expert_texts``),
    built again only when a vector or a publication changed: reading them on every call made
    finding experts for a query take seconds at 10,000 experts (docs/benchmarks.md)."""
    if experts is None:
        experts = ExpertProfile.reviewers().all()
    matrix = vectors.cached_expert_texts()
    return ExpertTexts(experts, matrix, matrix.group_of([expert.id for expert in experts]))


def _aggregate(init_vecs: np.ndarray, matrix: vectors.ExpertTextMatrix, groups: np.ndarray) -> np.ndarray:
    """The (initiatives x experts) affinity of the experts at ``groups`` of ``matrix`` under the
    configured aggregation; an expert without texts (group -1) scores 0."""
    config = current_app.config
    if init_vecs.size == 0 or groups.size == 0:
        return np.zeros((init_vecs.shape[0] if init_vecs.ndim == 2 else 0, groups.size))
    return matrix.groups.affinity(init_vecs, config["AFFINITY_METHOD"], k=config["AFFINITY_TOP_K"],
                                  q=config.get("AFFINITY_QUANTILE", 0.75), experts=groups)


def affinities(init_vecs: np.ndarray, texts: ExpertTexts) -> np.ndarray:
    """The (initiatives x experts) affinity under the configured aggregation."""
    return _aggregate(init_vecs, texts.matrix, texts.groups)


def _best_first(scores: np.ndarray, n: int) -> np.ndarray:
    """The indices of the ``n`` highest ``scores`` in the order of a stable sort, best first
    (ties by index), without sorting them all."""
    if n >= scores.size:
        return np.argsort(-scores, kind="stable")
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    threshold = np.partition(-scores, n - 1)[n - 1]
    # Every score tied with the n-th takes part, so the stable sort settles the ties as before.
    candidates = np.flatnonzero(-scores <= threshold)
    return candidates[np.argsort(-scores[candidates], kind="stable")][:n]


def _reviewer_scores(vector: np.ndarray, *columns) -> tuple[list, np.ndarray, np.ndarray, vectors.ExpertTextMatrix]:
    """Every reviewer as a row of its id and ``columns`` (by id, no ORM object), each one's
    group in the expert text matrix (-1: no texts), its affinity to ``vector``, and the matrix."""
    people = ExpertProfile.reviewers().with_entities(ExpertProfile.id, *columns).all()
    matrix = vectors.cached_expert_texts()
    groups = matrix.group_of([person.id for person in people])
    return people, groups, _aggregate(vector[None, :], matrix, groups)[0], matrix


def _experts_by_id(ids) -> list[ExpertProfile]:
    """The profiles of ``ids``, in that order (one dropped since the ranking is left out)."""
    ids = [int(expert_id) for expert_id in ids]
    found = {expert.id: expert for expert in ExpertProfile.query.filter(ExpertProfile.id.in_(ids))} if ids else {}
    return [found[expert_id] for expert_id in ids if expert_id in found]


def current_loads(expert_ids: list[int] | None = None) -> dict[int, int]:
    """Active assignments per expert (invited, accepted, overdue)."""
    from review.models import ACTIVE_STATES, Assignment

    query = db.session.query(Assignment.expert_id, db.func.count()).filter(
        Assignment.state.in_(ACTIVE_STATES))
    if expert_ids is not None:
        query = query.filter(Assignment.expert_id.in_(expert_ids))
    return dict(query.group_by(Assignment.expert_id).all())


def _closest_sentence(text: str, vector: np.ndarray) -> str:
    """The sentence of ``text`` closest to ``vector`` (the reason shown for a profile match)."""
    sentences = [s.strip() for s in _SENTENCE.split(text or "") if len(s.strip()) > 3]
    if len(sentences) <= 1:
        return (sentences[0] if sentences else text or "")[:300]
    encoded = vectors.service().encode(sentences)
    return sentences[int(np.argmax(encoded @ vector))][:300]


def explain(expert_index: int, init_vec: np.ndarray, texts: ExpertTexts) -> tuple[str, str]:
    """The closest publication title or profile sentence, and which it is."""
    block, labels = texts.texts(expert_index)
    if block.shape[0] == 0:
        return "", ""
    best = int(np.argmax(block @ init_vec))
    kind, obj = labels[best]
    if kind == "publication":
        publication = db.session.get(Publication, obj)
        year = f" ({publication.year})" if publication.year else ""
        return publication.title + year, kind
    return _closest_sentence(obj.bio or ", ".join(obj.keywords or []), init_vec), kind


def explain_pairs(pairs: list[tuple[Initiative, ExpertProfile]]) -> dict[tuple[int, int], ExpertSuggestion]:
    """Why each (initiative, expert) pair of a proposal fits: the expert's closest publication or
    profile sentence, and the shared keywords; keyed by (initiative id, expert id). A pair whose
    initiative is not yet matched gets the keywords only."""
    experts = list({expert.id: expert for _initiative, expert in pairs}.values())
    texts = expert_texts(experts) if experts else None
    index = {expert.id: i for i, expert in enumerate(texts.experts)} if texts else {}
    found: dict[int, np.ndarray | None] = {}
    explained = {}
    for initiative, expert in pairs:
        if initiative.id not in found:
            found[initiative.id] = vectors.vector_of("initiative", initiative.id, initiative)
        vector = found[initiative.id]
        reason, kind = ("", "")
        if vector is not None and expert.id in index:
            reason, kind = explain(index[expert.id], vector, texts)
        explained[(initiative.id, expert.id)] = ExpertSuggestion(
            expert, 0.0, 0, reason, kind, shared_keywords(expert.keywords or [], initiative.keywords or []))
    return explained


def suggest_experts(initiative: Initiative, limit: int = 10) -> tuple[list[ExpertSuggestion], list[ExpertSuggestion]]:
    """The best experts for ``initiative`` and, apart, the excluded ones with the reason.

    Returns two empty lists when the initiative has no current vector ("not yet matched").
    Experts are ranked on ids and the conflict rules run on four columns; only the experts
    shown are loaded (loading all 10,000 profiles took half a second, docs/benchmarks.md)."""
    vector = vectors.vector_of("initiative", initiative.id, initiative)
    if vector is None:
        return [], []
    people, groups, scores, matrix = _reviewer_scores(
        vector, ExpertProfile.user_id, ExpertProfile.name, ExpertProfile.organisation)
    with_texts = np.flatnonzero(groups >= 0)
    reasons = dict(zip(with_texts.tolist(),
                       conflict_matrix([initiative], [people[index] for index in with_texts])[0], strict=True))
    conflicted = np.array([index for index, reason in reasons.items() if reason], dtype=np.int64)
    free = np.full(len(people), -np.inf)
    free[with_texts] = scores[with_texts]
    free[conflicted] = -np.inf
    shown = [index for index in _best_first(free, limit).tolist() if np.isfinite(free[index])]
    # The page lists every excluded expert, best first, as before.
    conflicted = conflicted[np.argsort(-scores[conflicted], kind="stable")]
    experts = {expert.id: expert for expert in _experts_by_id([people[i].id for i in [*shown, *conflicted.tolist()]])}
    loads = current_loads(list(experts))
    keywords = initiative.keywords or []

    def suggestion(index: int) -> ExpertSuggestion:
        expert = experts[people[index].id]
        return ExpertSuggestion(expert, float(scores[index]), loads.get(expert.id, 0),
                                keywords=shared_keywords(expert.keywords or [], keywords))

    shown = [index for index in shown if people[index].id in experts]
    texts = ExpertTexts([experts[people[index].id] for index in shown], matrix, groups[shown])
    suggested = []
    for position, index in enumerate(shown):
        suggested.append(suggestion(index))
        suggested[-1].reason, suggested[-1].reason_kind = explain(position, vector, texts)
    excluded = []
    for index in conflicted.tolist():
        if people[index].id in experts:
            excluded.append(suggestion(index))
            excluded[-1].excluded = reasons[index]
    return suggested, excluded


def experts_for_query(query: str, limit: int = 10) -> list[ExpertSuggestion]:
    """The best experts for a typed topic, with the closest publication or sentence.

    Ranks on ids; only the ``limit`` experts shown are loaded."""
    query = (query or "").strip()
    if not query:
        return []
    vector = vectors.embed([query])[0]
    people, groups, scores, matrix = _reviewer_scores(vector)
    # As before, an expert without texts (score 0) can take a place and is then left out.
    shown = [index for index in _best_first(scores, limit).tolist() if groups[index] >= 0]
    experts = _experts_by_id([people[index].id for index in shown])
    by_id = {expert.id: expert for expert in experts}
    shown = [index for index in shown if people[index].id in by_id]
    texts = ExpertTexts([by_id[people[index].id] for index in shown], matrix, groups[shown])
    loads = current_loads(list(by_id))
    words = [w for w in re.split(r"[,;]\s*|\s+", query) if w]
    result = []
    for position, (index, expert) in enumerate(zip(shown, texts.experts, strict=True)):
        reason, kind = explain(position, vector, texts)
        result.append(ExpertSuggestion(expert, float(scores[index]), loads.get(expert.id, 0), reason, kind,
                                       shared_keywords(expert.keywords or [], words)))
    return result


def keywords_in(keywords, text: str) -> list[str]:
    """The ``keywords`` that occur in ``text``, compared without case or diacritics."""
    folded = fold(text)
    return [k for k in keywords or [] if fold(k) and fold(k) in folded]


def _ranked(vector: np.ndarray, kind: str, candidates: list, threshold: float, limit: int,
            keywords_of, reasons: bool = False) -> list[Match]:
    ids, matrix = vectors.matrix(kind, [c.id for c in candidates])
    if not ids:
        return []
    by_id = {c.id: c for c in candidates}
    scores = matrix @ vector
    order = np.argsort(-scores, kind="stable")
    matches = []
    for row in order:
        if scores[row] < threshold or len(matches) >= limit:
            break
        item = by_id[ids[row]]
        matches.append(Match(item, float(scores[row]), keywords_of(item)))
    if reasons:
        _closest_sentences(matches, vector)
    return matches


def _closest_sentences(matches: list[Match], vector: np.ndarray, per_item: int = 8) -> None:
    """Give each match its sentence (of the summary, else the description) closest to ``vector``:
    the reason shown beside the score, also when no keyword is shared. One encoding call for the
    page's matches, over a few sentences of each."""
    sentences, owner = [], []
    for n, match in enumerate(matches):
        text = getattr(match.item, "summary", "") or getattr(match.item, "description", "") or ""
        found = [s.strip().lstrip("#*-> ").strip() for s in _SENTENCE.split(text)]
        found = [s for s in found if len(s) > 3][:per_item]
        sentences += found
        owner += [n] * len(found)
    if not sentences:
        return
    scores = vectors.service().encode(sentences) @ vector
    best: dict[int, int] = {}
    for i, n in enumerate(owner):
        if n not in best or scores[i] > scores[best[n]]:
            best[n] = i
    for n, i in best.items():
        matches[n].reason = sentences[i][:300]


def demands_for_initiative(initiative: Initiative, limit: int = 5, reasons: bool = False) -> list[Match]:
    """The open demands closest to ``initiative``, above the demand threshold (with ``reasons``,
    each with its closest sentence, as the pages show)."""
    vector = vectors.vector_of("initiative", initiative.id, initiative)
    if vector is None:
        return []
    demands = Demand.query.filter_by(state=DemandState.OPEN.value).all()
    return _ranked(vector, "demand", demands, current_app.config["DEMAND_MATCH_THRESHOLD"], limit,
                   lambda d: keywords_in(initiative.keywords, d.title + " " + d.description), reasons)


def initiatives_for_demand(demand: Demand, only_accepted: bool, limit: int = 10,
                           reasons: bool = False) -> list[Match]:
    """The initiatives closest to ``demand``: accepted ones, or every non-draft one for admins."""
    vector = vectors.vector_of("demand", demand.id, demand)
    if vector is None:
        return []
    query = Initiative.query
    if only_accepted:
        query = query.filter(Initiative.state == S.ACCEPTED.value)
    else:
        query = query.filter(Initiative.state.notin_([S.DRAFT.value, S.WITHDRAWN.value]))
    text = demand.title + " " + demand.description
    return _ranked(vector, "initiative", query.all(), current_app.config["DEMAND_MATCH_THRESHOLD"], limit,
                   lambda i: keywords_in(i.keywords, text), reasons)


def near_duplicates(initiative: Initiative, limit: int = 5) -> list[Match]:
    """Initiatives in the catalogue semantically close to ``initiative`` (above the threshold).

    Encodes the initiative's current text on the spot: the proposer is about to submit it."""
    vector = vectors.embed([vectors.initiative_text(initiative)], [initiative.language])[0]
    others = Initiative.query.filter(Initiative.id != initiative.id,
                                     Initiative.state.notin_([S.DRAFT.value, S.WITHDRAWN.value])).all()
    return _ranked(vector, "initiative", others, current_app.config["DUPLICATE_THRESHOLD"], limit,
                   lambda i: shared_keywords(i.keywords or [], initiative.keywords or []))
