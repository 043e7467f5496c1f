"""Expert profiles, their publications and their conflicts of interest."""

from datetime import date

from flask_babel import lazy_gettext as _l

from ..extensions import db
from .user import User, UserRole, utcnow


class ExpertProfile(db.Model):
    """What the matcher knows of a reviewer; imported experts may have no account yet."""

    __tablename__ = "expert_profile"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), unique=True)
    external_ref = db.Column(db.String(100), unique=True)
    name = db.Column(db.String(200), nullable=False)
    email = db.Column(db.String(254))
    organisation = db.Column(db.String(300), nullable=False, default="")
    fields = db.Column(db.JSON, nullable=False, default=list)
    keywords = db.Column(db.JSON, nullable=False, default=list)
    bio = db.Column(db.Text, nullable=False, default="")
    languages = db.Column(db.JSON, nullable=False, default=list)
    max_load = db.Column(db.Integer, nullable=False, default=5)
    available = db.Column(db.Boolean, nullable=False, default=True)
    unavailable_until = db.Column(db.Date)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # The name, bio and keywords, folded (search.textfold), so that the database search answering while
    # the index is rebuilt matches one column; search.catalogue keeps it before each flush.
    search_text = db.Column(db.Text)

    user = db.relationship("User", backref=db.backref("expert_profile", uselist=False))
    publications = db.relationship(
        "Publication", back_populates="expert", cascade="all, delete-orphan",
        order_by="Publication.year.desc()",
    )
    organisation_conflicts = db.relationship(
        "OrganisationConflict", back_populates="expert", cascade="all, delete-orphan"
    )
    person_conflicts = db.relationship(
        "PersonConflict", back_populates="expert", cascade="all, delete-orphan", order_by="PersonConflict.id"
    )

    @classmethod
    def reviewers(cls):
        """The profiles the matcher may propose: imported ones without an account yet, and
        those of active accounts that hold the expert role (not an admin who opened the profile
        page, nor someone whose expert role was taken away or whose account is deactivated)."""
        experts = (db.session.query(UserRole.user_id)
                   .join(User, User.id == UserRole.user_id)
                   .filter(UserRole.role == "expert", User.active.is_(True)))
        return cls.query.filter(cls.user_id.is_(None) | cls.user_id.in_(experts)).order_by(cls.id)

    def is_available(self, today: date | None = None) -> bool:
        """Whether the expert takes new assignments on ``today``."""
        today = today or date.today()
        if self.available:
            return True
        return bool(self.unavailable_until and today > self.unavailable_until)

    def can_edit(self, user) -> bool:
        """The expert edits their own profile; admins edit any."""
        if not (user and user.is_authenticated):
            return False
        return user.id == self.user_id or user.is_admin


class Publication(db.Model):
    """A paper, report or patent that shows what an expert knows."""

    __tablename__ = "publication"
    id = db.Column(db.Integer, primary_key=True)
    expert_id = db.Column(
        db.Integer, db.ForeignKey("expert_profile.id", ondelete="CASCADE"), nullable=False, index=True
    )
    title = db.Column(db.String(500), nullable=False)
    abstract = db.Column(db.Text, nullable=False, default="")
    year = db.Column(db.Integer)
    venue = db.Column(db.String(300), nullable=False, default="")
    expert = db.relationship("ExpertProfile", back_populates="publications")


class OrganisationConflict(db.Model):
    """An organisation an expert declares a conflict with (former employer, spouse's firm...)."""

    __tablename__ = "organisation_conflict"
    id = db.Column(db.Integer, primary_key=True)
    expert_id = db.Column(
        db.Integer, db.ForeignKey("expert_profile.id", ondelete="CASCADE"), nullable=False, index=True
    )
    organisation = db.Column(db.String(300), nullable=False)
    reason = db.Column(db.String(500), nullable=False, default="")
    expert = db.relationship("ExpertProfile", back_populates="organisation_conflicts")


# How an expert is tied to a person they declare a conflict with, in the order the form offers.
PERSON_RELATIONS = {"co_author": _l("co-author"), "relative": _l("relative"),
                    "supervisor_student": _l("supervisor or student"), "colleague": _l("colleague"),
                    "other": _l("other relation")}


class PersonConflict(db.Model):
    """A person an expert declares a conflict with (co-author, relative...): the expert is not
    asked to review initiatives that person proposed or works on (search.matching)."""

    __tablename__ = "person_conflict"
    id = db.Column(db.Integer, primary_key=True)
    expert_id = db.Column(
        db.Integer, db.ForeignKey("expert_profile.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # A name, an e-mail or both: the e-mail identifies a proposer exactly, the name also finds
    # team members, who are stored as names only.
    name = db.Column(db.String(200), nullable=False, default="")
    email = db.Column(db.String(254), nullable=False, default="")
    relation = db.Column(db.String(20), nullable=False, default="other")
    reason = db.Column(db.String(500), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    expert = db.relationship("ExpertProfile", back_populates="person_conflicts")

    @property
    def label(self) -> str:
        """The person as people read it: the name, else the e-mail."""
        return self.name or self.email

    @property
    def relation_label(self) -> str:
        """The relation in the reader's language."""
        return str(PERSON_RELATIONS.get(self.relation, PERSON_RELATIONS["other"]))


class InitiativeConflict(db.Model):
    """A conflict between an expert and one initiative: declared, or recorded at a decline."""

    __tablename__ = "initiative_conflict"
    __table_args__ = (db.UniqueConstraint("expert_id", "initiative_id"),)
    id = db.Column(db.Integer, primary_key=True)
    expert_id = db.Column(
        db.Integer, db.ForeignKey("expert_profile.id", ondelete="CASCADE"), nullable=False, index=True
    )
    initiative_id = db.Column(
        db.Integer, db.ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
    )
    source = db.Column(db.String(20), nullable=False, default="declared")  # declared | decline
    reason = db.Column(db.String(500), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
