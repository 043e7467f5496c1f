"""The base of every form: WTForms' own messages in the interface language.

WTForms ships no Vietnamese catalogue, so its built-in validation messages are listed here for
extraction into the portal's catalogue, and forms look them up there.
"""

from flask_babel import get_translations
from flask_wtf import FlaskForm


def _mark(message: str) -> str:
    """Mark ``message`` for extraction only (WTForms itself produces it at run time)."""
    return message


WTFORMS_MESSAGES = (
    _mark("This field is required."),
    _mark("Invalid email address."),
    _mark("Invalid input."),
    _mark("Not a valid choice."),
    _mark("Invalid Choice: could not coerce."),
    _mark("Not a valid integer value."),
    _mark("Not a valid date value."),
    _mark("Number must be at least %(min)s."),
    _mark("Number must be at most %(max)s."),
    _mark("Number must be between %(min)s and %(max)s."),
    _mark("Field must be equal to %(other_name)s."),
    _mark("Field must be between %(min)d and %(max)d characters long."),
    _mark("Field must be at least %(min)d character long."),
    _mark("Field must be at least %(min)d characters long."),
    _mark("Field cannot be longer than %(max)d character."),
    _mark("Field cannot be longer than %(max)d characters."),
)


class _PortalTranslations:
    """WTForms' translation hook, answered from the portal's own catalogue.

    WTForms fills in the placeholders itself, so the raw catalogue is used, not Flask-Babel's
    gettext (which would interpolate too early)."""

    def gettext(self, string):
        return get_translations().gettext(string)

    def ngettext(self, singular, plural, n):
        return get_translations().ngettext(singular, plural, n)


class PortalForm(FlaskForm):
    """A Flask-WTF form (CSRF included) whose built-in messages follow the interface language."""

    class Meta:
        def get_translations(self, form):
            return _PortalTranslations()

