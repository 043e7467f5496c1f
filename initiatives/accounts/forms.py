"""Account forms."""

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms import PortalForm
from ..models.user import SELF_SERVICE_ROLES, Role

ROLE_LABELS = {
    Role.PROPOSER: _l("Proposer: I submit initiatives"),
    Role.EXPERT: _l("Expert: I review initiatives"),
    Role.DEMAND_OWNER: _l("Demand owner: my organisation has a problem to solve"),
    Role.ADMIN: _l("Administrator"),
}
LANGUAGE_CHOICES = [("vi", "Tiếng Việt"), ("en", "English")]


class MultiCheckboxField(SelectMultipleField):
    """Several choices shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RegisterForm(PortalForm):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=200)])
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))])
    roles = MultiCheckboxField(
        _l("I take part as"), choices=[(r.value, ROLE_LABELS[r]) for r in SELF_SERVICE_ROLES],
        validators=[DataRequired(message=_l("Choose at least one role."))],
    )
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="vi")
    submit = SubmitField(_l("Create account"))


class LoginForm(PortalForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in"))
    submit = SubmitField(_l("Sign in"))


class ChangePasswordForm(PortalForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))])
    submit = SubmitField(_l("Change password"))


class ForgotPasswordForm(PortalForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    submit = SubmitField(_l("Send me a reset link"))


class ResetPasswordForm(PortalForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))])
    submit = SubmitField(_l("Set the new password"))


class ProfileForm(PortalForm):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    email_notifications = BooleanField(_l("Send me notifications by e-mail"))
    email_kinds = MultiCheckboxField(
        _l("E-mail me about"),
        description=_l("Notifications in the portal (the bell) always arrive; these choose what also comes by e-mail."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        from ..mail import EMAIL_KINDS

        super().__init__(*args, **kwargs)
        self.email_kinds.choices = [(kind, label) for kind, label in EMAIL_KINDS.items()]


class UserRolesForm(PortalForm):
    roles = MultiCheckboxField(_l("Roles"), choices=[(r.value, ROLE_LABELS[r]) for r in Role])
    submit = SubmitField(_l("Save roles"))


class ActivationForm(PortalForm):
    submit = SubmitField(_l("Change"))
