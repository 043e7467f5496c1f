"""Matching in the portal: experts and demands for initiatives, with reasons and exclusions.

Pure arithmetic lives in ``search.affinity``; this module gathers the stored vectors, applies the
conflict rules of DESIGN section 2 and turns scores into suggestions people can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

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
    User,
)
from initiatives.models.expert import PERSON_RELATIONS, PersonConflict
from search import vectors
from search.affinity import shared_keywords
from search.textfold import fold, sql_fold

S = InitiativeState


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

# Words that say what kind of body an organisation is, not which one, and the kind they say.
# They are dropped before two organisations are compared, so "Trường Đại học Cần Thơ", "ĐH Cần
# Thơ", "Can Tho University" and "Đại học Cần Thơ" are one organisation. The kind is kept
# apart: "Đại học Đà Nẵng" and "Bệnh viện Đà Nẵng" differ by it, while a name without any kind
# ("Sakura Robotics" for "Sakura Robotics Co., Ltd.") takes any. "" is no kind (connectives,
# "city"). Folded (search.textfold.fold), matched as whole words, longest phrase first ("hoc
# vien" before "vien"). A bare "co" stays: folded, it is also "cơ", "cổ", "cô" ("Cơ khí").
GENERIC_ORGANISATION_WORDS = {
    **dict.fromkeys(("truong", "dai hoc", "hoc vien", "vien", "phan vien", "trung tam", "university",
                     "universite", "universitat", "universita", "universidad", "institute", "academy",
                     "college", "school", "centre", "center"), "academic"),
    **dict.fromkeys(("benh vien", "hospital"), "hospital"),
    **dict.fromkeys(("cong ty", "tong cong ty", "tap doan", "co phan", "cp", "trach nhiem huu han",
                     "tnhh", "mot thanh vien", "mtv", "company", "co ltd", "ltd", "limited", "inc",
                     "jsc", "llc", "gmbh", "plc", "corporation", "corp", "group"), "company"),
    **dict.fromkeys(("hop tac xa", "cooperative"), "cooperative"),
    **dict.fromkeys(("thanh pho", "tp", "va", "the", "of", "and", "for"), ""),
}
_GENERIC_LONGEST = max(len(phrase.split()) for phrase in GENERIC_ORGANISATION_WORDS)
# Abbreviations and run-together spellings, written out before the generic words are dropped.
ORGANISATION_SPELLINGS = {
    "dh": "dai hoc", "dhqg": "dai hoc quoc gia", "dhbk": "dai hoc bach khoa", "hv": "hoc vien",
    "cty": "cong ty", "htx": "hop tac xa", "tphcm": "ho chi minh", "hcm": "ho chi minh",
    "hcmc": "ho chi minh", "hn": "ha noi", "hanoi": "ha noi", "danang": "da nang", "cantho": "can tho",
    "haiphong": "hai phong", "vietnam": "viet nam",
}
# Titles written before a person's name: "Dr. Lars Eriksson" and "PGS.TS. Trần Văn B" are the
# same people as "Lars Eriksson" and "Trần Văn B".
PERSON_TITLES = frozenset({"dr", "prof", "professor", "assoc", "mr", "mrs", "ms", "miss",
                           "gs", "pgs", "ts", "tskh", "ths", "ncs", "ks", "bs"})
_WORDS = re.compile(r"\w+")
_BRACKETS = re.compile(r"\([^()]*\)")
# A team member written with their organisation: "Name (Organisation)" or "Name - Organisation"
# (a dash between spaces, so "Jean-Pierre" stays one name).
_MEMBER_IN_BRACKETS = re.compile(r"^\s*(?P<name>[^()]+?)\s*\((?P<organisation>[^()]+)\)\s*$")
_MEMBER_WITH_DASH = re.compile(r"^\s*(?P<name>.+?)\s+[-–—]\s+(?P<organisation>.+?)\s*$")
_IN_CLAUSE = 500  # names per IN (...) when looking people up by name


class OrganisationKey(NamedTuple):
    """An organisation's name reduced for comparison (``organisation_key``)."""

    words: str              # what names it: "can tho"; "" when only generic words were left
    kinds: frozenset[str]   # what kind of body the name said it is: {"academic"}; empty: unsaid

    def matches(self, other: OrganisationKey) -> bool:
        """Whether both name the same organisation: the same words, and kinds that agree
        (one of them unsaid, or a kind in common)."""
        return (bool(self.words) and self.words == other.words
                and (not self.kinds or not other.kinds or bool(self.kinds & other.kinds)))


def organisation_key(name: str) -> OrganisationKey:
    """An organisation's name as it is compared: folded (case, diacritics, spacing), without
    punctuation or a bracketed aside ("(DTU)"), abbreviations written out, and the words of
    ``GENERIC_ORGANISATION_WORDS`` dropped into its kinds. A name made only of generic words
    ("Trường Đại học") keeps no words and matches no organisation."""
    words = []
    for word in _WORDS.findall(fold(_BRACKETS.sub(" ", name or ""))):
        words.extend(ORGANISATION_SPELLINGS.get(word, word).split())
    kept, kinds, at = [], set(), 0
    while at < len(words):
        for size in range(min(_GENERIC_LONGEST, len(words) - at), 0, -1):
            kind = GENERIC_ORGANISATION_WORDS.get(" ".join(words[at:at + size]))
            if kind is not None:
                kinds.add(kind)
                at += size
                break
        else:
            kept.append(words[at])
            at += 1
    return OrganisationKey(" ".join(kept), frozenset(kinds - {""}))


def same_organisation(a: str, b: str) -> bool:
    """Whether two organisation names name the same organisation (``organisation_key``)."""
    return organisation_key(a).matches(organisation_key(b))


def person_key(name: str) -> str:
    """A person's name as it is compared: folded, without punctuation or the titles before it."""
    words = _WORDS.findall(fold(name or ""))
    while words and words[0] in PERSON_TITLES:
        words.pop(0)
    return " ".join(words)


def team_member(entry: str) -> tuple[str, str]:
    """A team member as written, split into the name and the organisation written after it:
    "Trần Văn B (Đại học Cần Thơ)" or "Trần Văn B - Đại học Cần Thơ"; ("Trần Văn B", "") else."""
    entry = (entry or "").strip()
    found = _MEMBER_IN_BRACKETS.match(entry) or _MEMBER_WITH_DASH.match(entry)
    return (found["name"], found["organisation"]) if found else (entry, "")


def _spelled(shown: str, other: str) -> str:
    """``shown``, followed by ``other`` when it is spelled otherwise than by case, spacing and
    diacritics, so an admin sees which two names were taken for one organisation."""
    return shown if fold(shown) == fold(other) else f"{shown} ≈ {other}"


@dataclass
class _Party:
    """Someone an initiative belongs to, as the conflict rules read them."""

    role: str                                            # initiative | proposer | member
    name: str = ""                                       # a team member's name as written
    keys: set[str] = field(default_factory=set)          # person_key of their names
    emails: set[str] = field(default_factory=set)        # lower case
    organisations: list[tuple[OrganisationKey, str]] = field(default_factory=list)  # with the name as written

    def add_organisation(self, name: str) -> None:
        key = organisation_key(name)
        if key.words and all(key != known for known, _written in self.organisations):
            self.organisations.append((key, name.strip()))


def _people_by_name(names: set[str]) -> dict[str, list]:
    """Accounts and expert profiles named as one of ``names`` (as written), by ``person_key``:
    rows of name, email and organisation, read with two queries (two per 500 names, or the two
    tables whole for a large call), never one per person."""
    keys = {person_key(name) for name in names} - {""}
    found: dict[str, list] = {}
    if not keys:
        return found
    # The database narrows on the folded name, as written and as person_key leaves it; person_key
    # then decides. An account whose own name carries a title ("Dr. ...") is not found this way.
    wanted = sorted(keys | {fold(name) for name in names})
    for model in (User, ExpertProfile):
        columns = (model.name, model.email, model.organisation)
        if len(wanted) > 4 * _IN_CLAUSE:
            rows = db.session.query(*columns).all()
        else:
            rows = [row for at in range(0, len(wanted), _IN_CLAUSE) for row in
                    db.session.query(*columns).filter(sql_fold(model.name).in_(wanted[at:at + _IN_CLAUSE]))]
        for row in rows:
            key = person_key(row.name)
            if key in keys:
                found.setdefault(key, []).append(row)
    return found


def _parties(initiatives: list[Initiative]) -> dict[int, list[_Party]]:
    """Per initiative: its organisation field, its proposer (account and expert profile) and
    its team members (as written, and the accounts and profiles of the same name), read with a
    fixed number of queries for all the initiatives together."""
    proposer_ids = sorted({initiative.proposer_id for initiative in initiatives})
    accounts, profiles = {}, {}
    if proposer_ids:
        accounts = {row.id: row for row in db.session.query(User.id, User.name, User.email, User.organisation)
                    .filter(User.id.in_(proposer_ids))}
        profiles = {row.user_id: row for row in db.session.query(
            ExpertProfile.user_id, ExpertProfile.name, ExpertProfile.email, ExpertProfile.organisation)
            .filter(ExpertProfile.user_id.in_(proposer_ids))}
    members = {initiative.id: [team_member(entry) for entry in initiative.team_members or [] if entry]
               for initiative in initiatives}
    names = {name for written in members.values() for name, _organisation in written}
    people = _people_by_name(names)
    result = {}
    for initiative in initiatives:
        own = _Party("initiative")
        own.add_organisation(initiative.organisation or "")
        proposer = _Party("proposer")
        for row in (accounts.get(initiative.proposer_id), profiles.get(initiative.proposer_id)):
            if row is not None:
                proposer.keys.add(person_key(row.name))
                proposer.emails.add((row.email or "").strip().lower())
                proposer.add_organisation(row.organisation or "")
        proposer.keys.discard("")
        proposer.emails.discard("")
        parties = [own, proposer]
        for name, organisation in members[initiative.id]:
            member = _Party("member", name=name.strip(), keys={person_key(name)} - {""})
            member.add_organisation(organisation)
            for row in people.get(person_key(name), []):
                member.emails.add((row.email or "").strip().lower())
                member.add_organisation(row.organisation or "")
            member.emails.discard("")
            parties.append(member)
        result[initiative.id] = parties
    return result


def _rows_for(model, expert_ids: list[int]) -> list:
    """The rows of ``model`` (a conflict table) for these experts: filtered in the database for
    a few experts, the whole (small) table for a call's thousands."""
    query = model.query
    if len(expert_ids) <= _IN_CLAUSE:
        query = query.filter(model.expert_id.in_(expert_ids))
    return query.all()


def _same_organisation_reason(party: _Party, theirs: str, expert_organisation: str) -> str:
    """Why an expert of ``expert_organisation`` may not review: it is ``party``'s ``theirs``."""
    if party.role == "initiative":
        return str(_l("same organisation (%(org)s)", org=_spelled(expert_organisation, theirs)))
    if party.role == "proposer":
        return str(_l("same organisation as the proposer (%(org)s)", org=_spelled(theirs, expert_organisation)))
    return str(_l("same organisation as team member %(name)s (%(org)s)", name=party.name,
                  org=_spelled(theirs, expert_organisation)))


def _declared_organisation_reason(party: _Party, theirs: str, declared: str) -> str:
    """Why an expert who declared a conflict with ``declared`` may not review: it is
    ``party``'s ``theirs``."""
    if party.role == "initiative":
        return str(_l("declared a conflict with %(org)s", org=_spelled(theirs, declared)))
    if party.role == "proposer":
        return str(_l("declared a conflict with %(org)s, the proposer's organisation",
                      org=_spelled(theirs, declared)))
    return str(_l("declared a conflict with %(org)s, the organisation of team member %(name)s",
                  org=_spelled(theirs, declared), name=party.name))


def _declared_person_reason(parties: list[_Party], conflicts: list[PersonConflict]) -> str:
    """Why an expert who declared ``conflicts`` with people may not review: one of them is the
    proposer (by e-mail, exactly but for case, or by name) or a team member (by name, or by the
    e-mail of the account or profile of that name)."""
    for party in parties:
        if party.role == "initiative":  # an organisation field, no person
            continue
        for conflict in conflicts:
            email, key = (conflict.email or "").strip().lower(), person_key(conflict.name)
            if not ((email and email in party.emails) or (key and key in party.keys)):
                continue
            relation = PERSON_RELATIONS.get(conflict.relation, PERSON_RELATIONS["other"])
            person = conflict.name or conflict.email
            if party.role == "proposer":
                return str(_l("declared a conflict with %(person)s (%(relation)s), the proposer",
                              person=person, relation=relation))
            return str(_l("declared a conflict with %(person)s (%(relation)s), a team member",
                          person=person, relation=relation))
    return ""


def conflict_reason(expert: ExpertProfile, initiative: Initiative) -> str:
    """Why ``expert`` may not review ``initiative``, or "" when nothing stands in the way."""
    return conflict_matrix([initiative], [expert])[0][0]


def conflict_matrix(initiatives: list[Initiative], experts: list[ExpertProfile]) -> list[list[str]]:
    """``conflict_reason`` for every pair (docs/matching.md, "Conflicts of interest"): the first
    rule that applies gives the reason. ``experts`` need only ``id``, ``user_id``, ``name`` and
    ``organisation``. People, organisations and declared conflicts are read once for the whole
    matrix, with a fixed number of queries, never once per pair or per expert; and only the
    experts an initiative's people, organisations or declarations point at are looked at
    closely, so a call's thousands of experts cost a dictionary lookup each."""
    expert_ids = [expert.id for expert in experts]
    declared: dict[int, list[tuple[OrganisationKey, str]]] = {}
    for row in _rows_for(OrganisationConflict, expert_ids):
        key = organisation_key(row.organisation)
        if key.words:
            declared.setdefault(row.expert_id, []).append((key, row.organisation))
    persons: dict[int, list[PersonConflict]] = {}
    for row in _rows_for(PersonConflict, expert_ids):
        persons.setdefault(row.expert_id, []).append(row)
    pair_conflicts: dict[int, dict[int, str]] = {}
    for row in _rows_for(InitiativeConflict, expert_ids):
        pair_conflicts.setdefault(row.initiative_id, {})[row.expert_id] = row.source
    by_id: dict[int, list[int]] = {}
    by_user: dict[int, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    by_organisation: dict[str, list[int]] = {}
    names, organisations = [], []
    for index, expert in enumerate(experts):
        names.append(person_key(expert.name))
        organisations.append(organisation_key(expert.organisation or ""))
        by_id.setdefault(expert.id, []).append(index)
        if expert.user_id is not None:
            by_user.setdefault(expert.user_id, []).append(index)
        by_name.setdefault(names[-1], []).append(index)
        by_organisation.setdefault(organisations[-1].words, []).append(index)
    by_name.pop("", None)
    by_organisation.pop("", None)
    declaring = [index for index, expert in enumerate(experts) if expert.id in declared or expert.id in persons]
    parties = _parties(initiatives)
    result = []
    for initiative in initiatives:
        own = parties[initiative.id]
        team = set().union(*(party.keys for party in own if party.role == "member"))
        # The initiative's organisations by their words, in the order of the rules: its
        # organisation field, the proposer's, the team members'.
        theirs: dict[str, list[tuple[_Party, OrganisationKey, str]]] = {}
        for party in own:
            for key, written in party.organisations:
                theirs.setdefault(key.words, []).append((party, key, written))
        declined = pair_conflicts.get(initiative.id, {})
        candidates = {*by_user.get(initiative.proposer_id, ()), *declaring,
                      *(index for key in team for index in by_name.get(key, ())),
                      *(index for words in theirs for index in by_organisation.get(words, ()))}
        candidates.update(index for expert_id in declined for index in by_id.get(expert_id, ()))
        row = [""] * len(experts)
        for index in candidates:
            expert = experts[index]
            row[index] = _pair_reason(expert, initiative, names[index], organisations[index], team, theirs,
                                      own, declared.get(expert.id, ()), persons.get(expert.id, ()),
                                      declined.get(expert.id))
        result.append(row)
    return result


def _pair_reason(expert, initiative: Initiative, name: str, organisation: OrganisationKey, team: set[str],
                 theirs: dict, parties: list[_Party], declared, persons, declined: str | None) -> str:
    """The first rule that keeps ``expert`` from ``initiative``, or ""."""
    if expert.user_id is not None and expert.user_id == initiative.proposer_id:
        return str(_l("is the proposer"))
    if name and name in team:
        return str(_l("is a team member"))
    for party, key, written in theirs.get(organisation.words, ()):
        if organisation.matches(key):
            return _same_organisation_reason(party, written, expert.organisation)
    for declared_key, declared_as in declared:
        for party, key, written in theirs.get(declared_key.words, ()):
            if declared_key.matches(key):
                return _declared_organisation_reason(party, written, declared_as)
    reason = _declared_person_reason(parties, persons) if persons else ""
    if not reason and declined is not None:
        reason = (str(_l("declined earlier for a conflict")) if declined == "decline"
                  else str(_l("declared a conflict with this initiative")))
    return reason


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
    return vectors.closest_passages("expert", [obj], init_vec).get(obj.id, ""), kind


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
    # Below the model's floor an expert is no real match: the page says "no good match yet"
    # rather than listing a long tail.
    lowest = vectors.floor("EXPERT_MIN_AFFINITY")
    shown = [index for index in _best_first(free, limit).tolist()
             if np.isfinite(free[index]) and free[index] >= lowest]
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
    vector = vectors.embed_query(query)
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


def _closest_sentences(matches: list[Match], vector: np.ndarray) -> None:
    """Give each match its passage (of the summary, else the description) closest to ``vector``:
    the reason shown beside the score, also when no keyword is shared. Looked up among the
    passages stored when each item was encoded: no model call."""
    by_kind: dict[str, list[Match]] = {}
    for match in matches:
        by_kind.setdefault("initiative" if isinstance(match.item, Initiative) else "demand", []).append(match)
    for kind, group in by_kind.items():
        closest = vectors.closest_passages(kind, [m.item for m in group], vector)
        for match in group:
            match.reason = closest.get(match.item.id, "")


def demands_for_initiative(initiative: Initiative, limit: int = 5, reasons: bool = False) -> list[Match]:
    """The open demands closest to ``initiative``, above the demand threshold (with ``reasons``,
    each with its closest sentence, as the pages show)."""
    vector = vectors.vector_of("initiative", initiative.id, initiative)
    if vector is None:
        return []
    demands = Demand.query.filter_by(state=DemandState.OPEN.value).all()
    return _ranked(vector, "demand", demands, vectors.floor("DEMAND_MATCH_THRESHOLD"), limit,
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
    return _ranked(vector, "initiative", query.all(), vectors.floor("DEMAND_MATCH_THRESHOLD"), limit,
                   lambda i: keywords_in(i.keywords, text), reasons)


def near_duplicates(initiative: Initiative, limit: int = 5) -> list[Match]:
    """Initiatives in the catalogue semantically close to ``initiative`` (above the duplicate
    floor), each with its score and its passage closest to the initiative.

    The draft's stored vector is used when it is current (the encoder made it after the last
    save); otherwise its text, which the proposer has just written, is encoded now."""
    vector = vectors.vector_of("initiative", initiative.id, initiative)
    if vector is None:
        vector = vectors.embed([vectors.initiative_text(initiative)], [initiative.language])[0]
    others = Initiative.query.filter(Initiative.id != initiative.id,
                                     Initiative.state.notin_([S.DRAFT.value, S.WITHDRAWN.value])).all()
    # A translation sits lower than a paraphrase: any two texts in different languages do
    # (docs/matching.md, "Floors"), so a pair across languages has a floor of its own.
    same, across = vectors.floor("DUPLICATE_THRESHOLD"), vectors.floor("DUPLICATE_THRESHOLD_ACROSS")
    floors = {other.id: same if other.language == initiative.language else across for other in others}
    found = _ranked(vector, "initiative", others, min(same, across), len(others),
                    lambda i: shared_keywords(i.keywords or [], initiative.keywords or []))
    found = [match for match in found if match.score >= floors[match.item.id]][:limit]
    _closest_sentences(found, vector)
    return found
