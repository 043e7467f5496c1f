"""Expert profile operations. They never commit."""

from flask_babel import lazy_gettext as _l

from .. import audit, taxonomy
from ..extensions import db
from ..models import ExpertProfile, OrganisationConflict, Publication
from ..models.expert import PERSON_RELATIONS, PersonConflict
from ..models.user import utcnow
from ..signals import announce_after_commit, expert_changed

PROFILE_FIELDS = ("name", "organisation", "fields", "keywords", "bio", "languages", "max_load",
                  "available", "unavailable_until")


class ExpertError(ValueError):
    """An expert profile operation refused, with a message for the user."""


def split_list(value, separator=",") -> list[str]:
    """A list from text separated by ``separator`` (lists pass through), blanks dropped."""
    if isinstance(value, str):
        value = value.split(separator)
    return [part.strip() for part in (value or []) if part and part.strip()]


def profile_for(user, create: bool = True) -> ExpertProfile | None:
    """The user's expert profile, created empty on first use when ``create``."""
    profile = ExpertProfile.query.filter_by(user_id=user.id).first()
    if profile is None and create:
        profile = ExpertProfile(user_id=user.id, name=user.name, email=user.email,
                                organisation=user.organisation or "", languages=[user.locale or "vi"])
        db.session.add(profile)
        db.session.flush()
    return profile


def _changed(profile: ExpertProfile) -> None:
    """Announce the change after commit. The profile's own time moves too when only a publication
    changed: the search index's catch-up after a rebuild finds changed experts by that time."""
    profile.updated_at = utcnow()
    announce_after_commit(db.session, expert_changed, expert_id=profile.id)


def update_profile(profile: ExpertProfile, user, **values) -> ExpertProfile:
    """Change the profile's fields."""
    if not profile.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    for name in PROFILE_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if name in ("fields", "keywords", "languages"):
            value = split_list(value)
        if name == "fields" and any(slug not in taxonomy.fields() for slug in value):
            raise ExpertError(_l("Unknown field."))
        if name == "max_load" and (value is None or not 0 <= int(value) <= 50):
            raise ExpertError(_l("The maximum load runs from 0 to 50."))
        setattr(profile, name, value)
    if profile.available:
        profile.unavailable_until = None
    audit.record("expert.profile_edited", profile, actor=user)
    _changed(profile)
    return profile


def add_publication(profile: ExpertProfile, user, title, abstract="", year=None, venue="") -> Publication:
    """Add a publication to the profile."""
    if not profile.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    if not (title or "").strip():
        raise ExpertError(_l("A publication needs a title."))
    publication = Publication(expert=profile, title=title.strip(), abstract=(abstract or "").strip(),
                              year=year, venue=(venue or "").strip())
    db.session.add(publication)
    db.session.flush()
    _changed(profile)
    return publication


def update_publication(publication: Publication, user, **values) -> Publication:
    """Change a publication."""
    if not publication.expert.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    for name in ("title", "abstract", "year", "venue"):
        if name in values:
            setattr(publication, name, values[name].strip() if isinstance(values[name], str) else values[name])
    if not publication.title:
        raise ExpertError(_l("A publication needs a title."))
    _changed(publication.expert)
    return publication


def remove_publication(publication: Publication, user) -> None:
    """Remove a publication."""
    if not publication.expert.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    _changed(publication.expert)
    db.session.delete(publication)


def declare_conflict(profile: ExpertProfile, user, organisation: str, reason: str = "") -> OrganisationConflict:
    """Declare a conflict of interest with an organisation."""
    if not profile.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    if not (organisation or "").strip():
        raise ExpertError(_l("Name the organisation."))
    conflict = OrganisationConflict(expert=profile, organisation=organisation.strip(), reason=(reason or "").strip())
    db.session.add(conflict)
    audit.record("expert.conflict_declared", profile, actor=user, organisation=conflict.organisation)
    return conflict


def remove_conflict(conflict: OrganisationConflict, user) -> None:
    """Withdraw a declared organisation conflict."""
    if not conflict.expert.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    audit.record("expert.conflict_removed", conflict.expert, actor=user, organisation=conflict.organisation)
    db.session.delete(conflict)


def declare_person_conflict(profile: ExpertProfile, user, name: str = "", email: str = "",
                            relation: str = "other", reason: str = "") -> PersonConflict:
    """Declare a conflict of interest with a person (a co-author, a relative...): the matcher
    leaves out the initiatives they propose or work on (search.matching)."""
    if not profile.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    name, email = (name or "").strip(), (email or "").strip()
    if not (name or email):
        raise ExpertError(_l("Name the person or give their e-mail."))
    if relation not in PERSON_RELATIONS:
        raise ExpertError(_l("Unknown relation."))
    conflict = PersonConflict(expert=profile, name=name, email=email, relation=relation,
                              reason=(reason or "").strip())
    db.session.add(conflict)
    audit.record("expert.person_conflict_declared", profile, actor=user, name=name, email=email,
                 relation=relation)
    return conflict


def remove_person_conflict(conflict: PersonConflict, user) -> None:
    """Withdraw a declared conflict with a person."""
    if not conflict.expert.can_edit(user):
        raise ExpertError(_l("You cannot edit this profile."))
    audit.record("expert.person_conflict_removed", conflict.expert, actor=user, name=conflict.name,
                 email=conflict.email, relation=conflict.relation)
    db.session.delete(conflict)
