"""Review forms: calls, rubric criteria, screening, answers to invitations, the review itself
(generated from the rubric), reopening and decisions."""

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FloatField,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from initiatives.forms import PortalForm
from review.models import RECOMMENDATION_LABELS

BLIND_CHOICES = [("single", _l("Single-blind: reviewers see who proposed")),
                 ("double", _l("Double-blind: reviewers see no proposer, organisation or team"))]


class CallForm(PortalForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    slug = StringField(_l("Short name"), validators=[Optional(), Length(max=80)],
                       description=_l("Used in links and on the command line; made from the title when empty."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])
    opens_on = DateField(_l("Opens on"), validators=[Optional()])
    closes_on = DateField(_l("Closes on"), validators=[Optional()])
    reviewers_per_initiative = IntegerField(_l("Reviewers per initiative"), default=3,
                                            validators=[InputRequired(), NumberRange(1, 10)])
    default_max_load = IntegerField(_l("Default maximum load per expert"), default=5,
                                    validators=[InputRequired(), NumberRange(1, 50)])
    review_days = IntegerField(_l("Days to review"), default=21, validators=[InputRequired(), NumberRange(1, 365)],
                               description=_l("The due date of an invitation is this many days after it is sent."))
    blind_mode = SelectField(_l("Blind mode"), choices=BLIND_CHOICES, default="single")
    reviewers_see_others = BooleanField(_l("Reviewers see each other's reviews after submitting their own"))
    submit = SubmitField(_l("Save the call"))

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in (
            "title", "slug", "description", "opens_on", "closes_on", "reviewers_per_initiative",
            "default_max_load", "review_days", "blind_mode", "reviewers_see_others")}


class CriterionForm(PortalForm):
    """One line of the rubric editor (a sub-form: the editor's form carries the CSRF token)."""

    class Meta:
        csrf = False

    id = HiddenField()
    position = IntegerField(_l("Order"), validators=[Optional(), NumberRange(0, 1000)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=200)])
    name_vi = StringField(_l("Name (Vietnamese)"), validators=[Optional(), Length(max=200)])
    guidance_en = TextAreaField(_l("Guidance (English)"), validators=[Optional(), Length(max=3000)])
    guidance_vi = TextAreaField(_l("Guidance (Vietnamese)"), validators=[Optional(), Length(max=3000)])
    weight = FloatField(_l("Weight"), default=1.0, validators=[Optional(), NumberRange(0, 100)])
    scale_min = IntegerField(_l("Scale from"), default=1, validators=[Optional(), NumberRange(0, 100)])
    scale_max = IntegerField(_l("to"), default=5, validators=[Optional(), NumberRange(0, 100)])
    remove = BooleanField(_l("Remove"))

    def values(self) -> dict:
        return {
            "id": int(self.id.data) if (self.id.data or "").isdigit() else None,
            **{name: getattr(self, name).data for name in (
                "position", "name_en", "name_vi", "guidance_en", "guidance_vi", "weight", "scale_min",
                "scale_max", "remove")},
        }


class RubricForm(PortalForm):
    criteria = FieldList(FormField(CriterionForm), min_entries=1, max_entries=40)
    submit = SubmitField(_l("Save the rubric"))


class ScreeningRejectForm(PortalForm):
    reason = TextAreaField(_l("Reason the proposer will read"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Reject as ineligible"))


class DeclineForm(PortalForm):
    reason = TextAreaField(_l("Why do you decline?"), validators=[DataRequired(), Length(max=500)])
    conflict = BooleanField(_l("I have a conflict of interest with this initiative"),
                            description=_l("It is recorded so that you are not asked again."))
    submit = SubmitField(_l("Decline"))


class ReasonForm(PortalForm):
    """A confirmation with an optional reason (cancel, reopen)."""

    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Confirm"))


class DecisionForm(PortalForm):
    outcome = SelectField(_l("Decision"), choices=[
        ("accepted", _l("Accept")), ("revision_requested", _l("Ask for a revision")), ("rejected", _l("Reject"))],
        validators=[DataRequired()])
    rationale = TextAreaField(_l("Rationale (the proposer reads it)"),
                              validators=[DataRequired(), Length(max=10000)])
    submit = SubmitField(_l("Record the decision"))


class ReviewFormBase(PortalForm):
    confidence = SelectField(_l("Your confidence"), choices=[("", "—")] + [(str(n), str(n)) for n in range(1, 6)],
                             validators=[Optional()],
                             description=_l("1: outside my expertise; 5: squarely within it."))
    recommendation = RadioField(_l("Recommendation"), validators=[Optional()],
                                choices=list(RECOMMENDATION_LABELS.items()))
    comments_to_proposer = TextAreaField(_l("Comments to the proposer"), validators=[Optional(), Length(max=20000)],
                                         description=_l("Shown to the proposer after the decision, signed “Reviewer A, B…”, never with your name."))
    confidential_comments = TextAreaField(_l("Confidential comments to the committee"),
                                          validators=[Optional(), Length(max=20000)],
                                          description=_l("Only administrators read these."))
    save = SubmitField(_l("Save draft"))
    submit = SubmitField(_l("Submit the review"))


def review_form(rubric, review=None, formdata=None):
    """A review form with one score per criterion of ``rubric`` (drafts may leave scores empty)."""

    class ReviewForm(ReviewFormBase):
        pass

    for criterion in rubric.criteria:
        choices = [("", "—")] + [(str(n), str(n)) for n in range(criterion.scale_min, criterion.scale_max + 1)]
        setattr(ReviewForm, f"score_{criterion.id}",
                SelectField(criterion.name, choices=choices, validators=[Optional()], description=criterion.guidance))
    kwargs = {}
    if review is not None and formdata is None:
        kwargs["data"] = {
            **{f"score_{c.id}": str(review.score_of(c)) if review.score_of(c) is not None else ""
               for c in rubric.criteria},
            "confidence": str(review.confidence) if review.confidence else "",
            "recommendation": review.recommendation,
            "comments_to_proposer": review.comments_to_proposer,
            "confidential_comments": review.confidential_comments,
        }
    form = ReviewForm(formdata=formdata, **kwargs) if formdata is not None else ReviewForm(**kwargs)
    form.criteria = list(rubric.criteria)
    return form


def review_values(form) -> dict:
    """The form's values for ``reviewing.save_review``."""
    scores = {}
    for criterion in form.criteria:
        raw = getattr(form, f"score_{criterion.id}").data
        scores[criterion.id] = int(raw) if raw not in (None, "") and str(raw).lstrip("-").isdigit() else None
    confidence = form.confidence.data
    return {
        "scores": scores,
        "confidence": int(confidence) if confidence and str(confidence).isdigit() else None,
        "recommendation": form.recommendation.data or None,
        "comments_to_proposer": form.comments_to_proposer.data or "",
        "confidential_comments": form.confidential_comments.data or "",
    }
