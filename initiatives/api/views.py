"""API tokens on the account page: create (shown once), list, revoke."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ..access import load_or_404, require
from ..extensions import db
from ..forms import PortalForm
from . import tokens

blueprint = Blueprint("api_tokens", __name__, url_prefix="/account/tokens")


class TokenForm(PortalForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)],
                       description=_l("What will use it, for example “monthly report script”."))
    submit = SubmitField(_l("Create a token"))


def account_panel(user) -> Markup:
    """The account page's section listing the user's tokens, with a form for a new one."""
    rows = (tokens.ApiToken.query.filter_by(user_id=user.id)
            .order_by(tokens.ApiToken.revoked_at.isnot(None), tokens.ApiToken.created_at.desc()).all())
    return Markup(render_template("api/tokens_panel.html", rows=rows, form=TokenForm()))


@blueprint.route("", methods=["POST"])
@login_required
def create():
    """Create a token and show it this once (it is not kept, only its hash)."""
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("The token was not created: %(reason)s",
                reason="; ".join(str(e) for errors in form.errors.values() for e in errors)), "danger")
        return render_template("api/token_created.html", token=None, row=None), 400
    try:
        row, token = tokens.create_token(current_user, form.name.data)
        db.session.commit()
    except tokens.TokenError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return render_template("api/token_created.html", token=None, row=None), 400
    response = render_template("api/token_created.html", token=token, row=row)
    return response, 201, {"Cache-Control": "no-store"}


@blueprint.route("/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id):
    """Revoke one of the user's tokens."""
    row = load_or_404(tokens.ApiToken, token_id)
    require(row.user_id == current_user.id)
    if PortalForm().validate_on_submit():
        tokens.revoke_token(row, current_user)
        db.session.commit()
        flash(_("The token “%(name)s” is revoked.", name=row.name), "info")
    return redirect(url_for("accounts.profile"))


def init_app(app) -> None:
    from ..accounts.controllers import account_panels

    app.register_blueprint(blueprint)
    if account_panel not in account_panels:
        account_panels.append(account_panel)
