"""Expert profile forms."""

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from .. import taxonomy
from ..accounts.forms import MultiCheckboxField
from ..forms import PortalForm
from ..models.expert import PERSON_RELATIONS


class ExpertProfileForm(PortalForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    fields = MultiCheckboxField(_l("Fields"), validators=[Optional()])
    keywords = StringField(_l("Keywords"), validators=[Optional(), Length(max=500)],
                           description=_l("Separated by commas."))
    bio = TextAreaField(_l("Short biography"), validators=[Optional(), Length(max=5000)])
    languages = MultiCheckboxField(_l("Languages I review in"), choices=[("vi", "Tiếng Việt"), ("en", "English")])
    max_load = IntegerField(_l("Maximum number of reviews at a time"), validators=[InputRequired(), NumberRange(0, 50)], default=5)
    available = BooleanField(_l("Available for new assignments"), default=True)
    unavailable_until = DateField(_l("Unavailable until"), validators=[Optional()])
    submit = SubmitField(_l("Save profile"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.choices = taxonomy.field_choices()


class PublicationForm(PortalForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=500)])
    abstract = TextAreaField(_l("Abstract"), validators=[Optional(), Length(max=10000)])
    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(1900, 2100)])
    venue = StringField(_l("Venue"), validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Save publication"))


class ConflictForm(PortalForm):
    organisation = StringField(_l("Organisation"), validators=[DataRequired(), Length(max=300)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Declare conflict"))


class PersonConflictForm(PortalForm):
    """A person the expert declares a conflict with: a name, an e-mail or both."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[Optional(), Email(), Length(max=254)],
                       description=_l("Name the person, give their e-mail, or both: the e-mail "
                                      "recognises them as a proposer, the name also in a team."))
    relation = SelectField(_l("Relation"), choices=list(PERSON_RELATIONS.items()), default="co_author")
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Declare conflict"))

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, and a name or an e-mail (either alone will do)."""
        if not super().validate(extra_validators):
            return False
        if not ((self.name.data or "").strip() or (self.email.data or "").strip()):
            self.name.errors.append(_l("Name the person or give their e-mail."))
            return False
        return True
