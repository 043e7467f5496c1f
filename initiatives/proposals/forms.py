"""Initiative forms: a draft saves incomplete; completeness is checked at submission."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from .. import taxonomy
from ..forms import PortalForm

IP_CHOICES = [
    ("", "—"), ("none", _l("None")), ("filed", _l("Filed")), ("granted", _l("Granted")),
    ("trade_secret", _l("Trade secret")), ("open_licence", _l("Open licence")),
]


class InitiativeForm(PortalForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=1000)],
                            description=_l("Two or three sentences."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=50000)],
                                description=_l("Markdown: **bold**, lists, headings, links."))
    field = SelectField(_l("Field"), validators=[Optional()])
    keywords = StringField(_l("Keywords"), validators=[Optional(), Length(max=500)],
                           description=_l("Separated by commas."))
    trl = IntegerField(_l("Technology readiness level (1-9)"), validators=[Optional(), NumberRange(1, 9)])
    ip_status = SelectField(_l("Intellectual property status"), choices=IP_CHOICES, validators=[Optional()])
    province = SelectField(_l("Province or city"), validators=[Optional()])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    team_members = TextAreaField(_l("Team members"), validators=[Optional(), Length(max=3000)],
                                 description=_l("One name per line."))
    budget_vnd = IntegerField(_l("Requested budget (VND)"), validators=[Optional(), NumberRange(min=0, max=10**15)])
    expected_impact = TextAreaField(_l("Expected impact"), validators=[Optional(), Length(max=5000)])
    language = SelectField(_l("Language of the initiative"), choices=[("vi", "Tiếng Việt"), ("en", "English")])
    call_id = SelectField(_l("Call"), coerce=int, validators=[Optional()])
    submit = SubmitField(_l("Save draft"))

    def __init__(self, *args, calls=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.field.choices = [("", "—")] + taxonomy.field_choices()
        self.province.choices = [("", "—")] + taxonomy.province_choices()
        self.call_id.choices = [(call.id, call.title) for call in calls]

    def values(self) -> dict:
        """The form's values for the operations, lists joined as text."""
        return {name: getattr(self, name).data for name in (
            "title", "summary", "description", "field", "keywords", "trl", "ip_status", "province",
            "organisation", "team_members", "budget_vnd", "expected_impact", "language", "call_id",
        )}


class AttachmentForm(PortalForm):
    file = FileField(_l("File (PDF, DOCX, XLSX, PNG, JPEG; at most 10 MB)"), validators=[FileRequired()])
    submit = SubmitField(_l("Attach"))


class ConfirmForm(PortalForm):
    """A bare confirmation (submit, withdraw, delete): CSRF is its content."""

    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Confirm"))


class InitiativeFilterForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField(_l("Title contains"), validators=[Optional()])
    state = SelectField(_l("Status"), validators=[Optional()])
    field = SelectField(_l("Field"), validators=[Optional()])
    province = SelectField(_l("Province or city"), validators=[Optional()])
    call = SelectField(_l("Call"), validators=[Optional()])
