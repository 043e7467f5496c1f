"""Connection forms: the owner's request, a step on the way, the admin's filters."""

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from ..access import MAX_ID
from ..forms import PortalForm
from .operations import MAX_MESSAGE, OUTCOME_LABELS

# Text the database can store (PostgreSQL refuses NUL characters).
NO_NUL = Regexp(r"^[^\x00]*$", message=_l("Invalid input."))


class RequestForm(PortalForm):
    """A demand owner asks a proposer to connect one demand with one initiative."""

    demand_id = IntegerField(_l("Your demand"), validators=[DataRequired(message=_l("Choose one of your demands.")),
                                                               NumberRange(min=1, max=MAX_ID)])
    initiative_id = IntegerField(_l("Initiative"), validators=[DataRequired(message=_l("Choose an initiative.")),
                                                                    NumberRange(min=1, max=MAX_ID)])
    message = TextAreaField(
        _l("Message to the proposer"),
        validators=[DataRequired(message=_l("Please write a short message to the proposer.")),
                    Length(max=MAX_MESSAGE), NO_NUL],
        description=_l("Say what you need and why this initiative could help. Your name and e-mail are "
                       "shared only if the proposer accepts."),
    )
    submit = SubmitField(_l("Request a connection"))


class MoveForm(PortalForm):
    """One step on a connection, with an optional note and, for an adoption, its outcome."""

    note = TextAreaField(_l("Message to the other side (optional)"), validators=[Optional(), Length(max=MAX_MESSAGE), NO_NUL])
    outcome = SelectField(_l("What the adoption is"), validators=[Optional()],
                          choices=[("", "—")] + [(k, v) for k, v in OUTCOME_LABELS.items()])


class ConnectionFilterForm(PortalForm):
    """Filters of the admin list (read from the query string, no CSRF)."""

    class Meta:
        csrf = False

    state = SelectField(_l("State"), validators=[Optional()])
    province = SelectField(_l("Province or city"), validators=[Optional()])
    field = SelectField(_l("Field"), validators=[Optional()])
    q = StringField(_l("Title contains"), validators=[Optional(), Length(max=200), NO_NUL])
