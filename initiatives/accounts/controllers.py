"""Account pages: register, sign in and out, passwords, language, notifications."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter
from ..models import Notification
from ..models.user import utcnow
from . import operations
from .forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
)

blueprint = Blueprint("accounts", __name__)


def safe_next(default: str) -> str:
    """The ``next`` target when it stays on this site, else ``default``."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return default


def start_session(user, remember: bool = False) -> None:
    """Sign ``user`` in on a fresh session: nothing from before the sign-in (a CSRF token, any
    value planted by someone else) carries over, so a session cannot be fixed in advance."""
    session.clear()
    login_user(user, remember=remember)


@blueprint.route("/")
def home():
    """The front page: what the portal is, and where each role starts."""
    from ..models import Demand, DemandState, Initiative, InitiativeState

    figures = {
        "accepted": Initiative.query.filter_by(state=InitiativeState.ACCEPTED.value).count(),
        "under_review": Initiative.query.filter(Initiative.state.in_(["screening", "under_review", "reviewed"])).count(),
        "open_demands": Demand.query.filter_by(state=DemandState.OPEN.value).count(),
    }
    latest = (Initiative.query.filter_by(state=InitiativeState.ACCEPTED.value)
              .order_by(Initiative.decided_at.desc().nullslast(), Initiative.id.desc()).limit(6).all())
    return render_template("home.html", figures=figures, latest=latest)


@blueprint.route("/register", methods=["GET", "POST"])
def register():
    """Create an account as proposer, expert and/or demand owner."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = operations.register_user(
                form.email.data, form.name.data, form.password.data, form.roles.data,
                form.organisation.data, form.locale.data,
            )
            db.session.commit()
        except operations.AccountError as error:
            db.session.rollback()
            form.email.errors.append(str(error))
        else:
            start_session(user)
            flash(_("Welcome, %(name)s. Your account is ready.", name=user.name), "success")
            return redirect(url_for("accounts.home"))
    return render_template("accounts/register.html", form=form), (400 if form.errors else 200)


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    """Sign in with e-mail and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(url_for("accounts.home")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = operations.authenticate(form.email.data, form.password.data)
        if user is not None:
            db.session.commit()
            start_session(user, remember=form.remember.data)
            session["lang"] = user.locale
            flash(_("You are signed in."), "success")
            return redirect(safe_next(url_for("accounts.home")))
        flash(_("The e-mail address or the password is not correct."), "danger")
        status = 401
    elif form.errors:
        status = 400
    return render_template("accounts/login.html", form=form), status


@blueprint.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out."""
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("accounts.home"))


# Other areas add sections to the account page: callables (user) -> Markup or "".
account_panels: list = []


@blueprint.route("/account", methods=["GET", "POST"])
@login_required
def profile():
    """The user's own settings: name, organisation, language, which notifications come by e-mail."""
    from ..mail import EMAIL_KINDS

    form = ProfileForm(obj=current_user)
    if request.method == "GET":
        opted_out = set(current_user.email_opt_out or [])
        form.email_kinds.data = [kind for kind in EMAIL_KINDS if kind not in opted_out]
    if form.validate_on_submit():
        for field in (form.name, form.organisation, form.locale, form.email_notifications):
            field.populate_obj(current_user, field.name)
        wanted = set(form.email_kinds.data or [])
        current_user.email_opt_out = sorted(kind for kind in EMAIL_KINDS if kind not in wanted)
        db.session.commit()
        session["lang"] = current_user.locale
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("accounts.profile"))
    panels = [panel(current_user) for panel in account_panels]
    return render_template("accounts/profile.html", form=form, panels=panels), (400 if form.errors else 200)


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password, knowing the current one."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            operations.change_password(current_user, form.current.data, form.password.data)
            db.session.commit()
        except operations.AccountError as error:
            db.session.rollback()
            form.current.errors.append(str(error))
        else:
            flash(_("Your password is changed."), "success")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/change_password.html", form=form), (400 if form.errors else 200)


@blueprint.route("/account/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def forgot_password():
    """Ask for a reset link by e-mail; the answer never says whether the address exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        operations.request_password_reset(form.email.data)
        db.session.commit()
        flash(_("If an account uses this address, a reset link is on its way."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot_password.html", form=form), (400 if form.errors else 200)


@blueprint.route("/account/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    """Set a new password through the e-mailed link."""
    try:
        operations.user_for_reset_token(token)
    except operations.AccountError as error:
        flash(str(error), "danger")
        return redirect(url_for("accounts.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            operations.reset_password(token, form.password.data)
            db.session.commit()
        except operations.AccountError as error:
            db.session.rollback()
            flash(str(error), "danger")
            return redirect(url_for("accounts.forgot_password"))
        flash(_("Your password is set. Please sign in."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form), (400 if form.errors else 200)


@blueprint.route("/lang/<code>")
def set_language(code):
    """Switch the interface language (kept in the session, and on the account when signed in)."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(safe_next(url_for("accounts.home")))


@blueprint.route("/notifications", methods=["GET", "POST"])
@login_required
def notifications():
    """The bell's list; posting marks everything read."""
    query = Notification.query.filter_by(user_id=current_user.id)
    if request.method == "POST":
        query.filter(Notification.read_at.is_(None)).update({"read_at": utcnow()})
        db.session.commit()
        return redirect(url_for("accounts.notifications"))
    items = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(100).all()
    return render_template("accounts/notifications.html", items=items)
