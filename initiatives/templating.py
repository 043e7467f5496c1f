"""Template filters and globals shared by every page."""

from flask import request, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from . import labels, taxonomy
from .models import Notification, Role
from .rendering import render_markdown


def format_vnd(amount) -> str:
    """A budget in Vietnamese dong with thousands separated by dots, as Vietnamese readers expect."""
    if amount is None:
        return ""
    return f"{int(amount):,}".replace(",", ".") + " ₫"


# Other areas add menu entries here: callables (user) -> list of {url, label, prefix}.
extra_nav_items: list = []


def nav_items() -> list[dict]:
    """The menu entries the user's roles open, in the order they are shown."""
    if not (current_user and current_user.is_authenticated):
        return [entry for extra in extra_nav_items for entry in extra(current_user)]

    def item(endpoint: str, label: str, **values) -> dict:
        url = url_for(endpoint, **values)
        return {"url": url, "label": label, "prefix": url}

    items = []
    if current_user.has_role(Role.PROPOSER):
        items.append(item("proposals.mine", _("My initiatives")))
    if current_user.has_role(Role.DEMAND_OWNER):
        items.append(item("demands.mine", _("My demands")))
    if current_user.has_role(Role.EXPERT):
        items.append(item("experts.profile", _("Expert profile")))
    items.append(item("demands.open_list", _("Open demands")))
    for extra in extra_nav_items:
        items.extend(extra(current_user))
    if current_user.is_admin:
        # The management pages share one drop-down, so that an admin's menu fits on one line.
        managed = [entry for entry in items if entry.get("group") == "admin"]
        items = [entry for entry in items if entry.get("group") != "admin"]
        children = [
            {**item("admin.index", _("Overview")), "exact": True},
            *managed,
            item("proposals.admin_list", _("All initiatives")),
            item("admin.users", _("Users")),
            item("demands.admin_list", _("Demands")),
            item("experts.admin_list", _("Experts")),
        ]
        items.append({"label": _("Administration"), "children": children,
                      "prefix": tuple(child["prefix"] for child in children)})
    return items


def init_app(app) -> None:
    """Register filters and globals on ``app``."""
    app.jinja_env.filters.update(
        markdown=render_markdown,
        province=taxonomy.province_name,
        field_name=taxonomy.field_name,
        vnd=format_vnd,
        state_label=labels.state_label,
        state_style=lambda state: labels.STATE_STYLES.get(str(state), "secondary"),
        role_name=lambda role: str(labels.ROLE_NAMES.get(str(role), role)),
        date=lambda value: format_date(value) if value else "",
        datetime=lambda value: format_datetime(value, "short") if value else "",
    )

    @app.context_processor
    def portal_globals():
        unread = 0
        if current_user and current_user.is_authenticated:
            unread = Notification.query.filter_by(user_id=current_user.id, read_at=None).count()
        return {
            "current_locale": str(get_locale()),
            "unread_notifications": unread,
            "nav_items": nav_items,
            "lang_url": lambda code: url_for("accounts.set_language", code=code, next=request.full_path),
        }
