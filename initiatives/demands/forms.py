"""Demand forms."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from .. import taxonomy
from ..forms import PortalForm


class DemandForm(PortalForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    description = TextAreaField(_l("The problem to solve"), validators=[DataRequired(), Length(max=20000)],
                                description=_l("Markdown is allowed."))
    field = SelectField(_l("Field"), validators=[Optional()])
    province = SelectField(_l("Province or city"), validators=[Optional()])
    budget_min_vnd = IntegerField(_l("Budget from (VND)"), validators=[Optional(), NumberRange(min=0)])
    budget_max_vnd = IntegerField(_l("Budget up to (VND)"), validators=[Optional(), NumberRange(min=0)])
    deadline = DateField(_l("Wanted by"), validators=[Optional()])
    language = SelectField(_l("Language"), choices=[("vi", "Tiếng Việt"), ("en", "English")])
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.field.choices = [("", "—")] + taxonomy.field_choices()
        self.province.choices = [("", "—")] + taxonomy.province_choices()

    def values(self) -> dict:
        """The form's values for the operations."""
        return {name: getattr(self, name).data for name in (
            "title", "organisation", "description", "field", "province", "budget_min_vnd",
            "budget_max_vnd", "deadline", "language")}


class DemandFilterForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField(_l("Title contains"), validators=[Optional()])
    state = SelectField(_l("Status"), validators=[Optional()])
    province = SelectField(_l("Province or city"), validators=[Optional()])
