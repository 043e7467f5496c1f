"""The dashboard pages: the admins' one, the public figures, and each chart's JSON and CSV."""

import csv
import io

from flask import Blueprint, Response, abort, jsonify, render_template, request

from ..access import role_required
from ..models import Call, Role
from . import figures

blueprint = Blueprint("dashboard", __name__)


def _filters():
    """The request's filters, or a 400 that says what is wrong."""
    try:
        return figures.parse_filters(request.args)
    except figures.FilterError as error:
        abort(400, str(error))


def _page(template: str, charts: tuple[str, ...], endpoint: str):
    filters = _filters()
    calls = Call.query.order_by(Call.is_standing.desc(), Call.id).all()
    provinces = figures.provinces(filters)
    return render_template(template, filters=filters, calls=calls, charts=charts, endpoint=endpoint,
                           provinces=provinces, public="public" in endpoint)


def _chart(name: str, allowed: tuple[str, ...]):
    if name not in allowed:
        abort(404)
    return figures.CHARTS[name](_filters())


def _csv(chart) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(chart.columns)
    writer.writerows(["" if cell is None else cell for cell in row] for row in chart.rows)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={chart.name}.csv"})


@blueprint.route("/admin/dashboard")
@role_required(Role.ADMIN)
def admin():
    """The admins' dashboard: every chart, filtered by call and period."""
    return _page("dashboard/dashboard.html", tuple(figures.CHARTS), "dashboard.admin_chart")


@blueprint.route("/admin/dashboard/<name>.json")
@role_required(Role.ADMIN)
def admin_chart(name):
    """One chart's data for the admins' dashboard."""
    return jsonify(_chart(name, tuple(figures.CHARTS)).as_json())


@blueprint.route("/admin/dashboard/<name>.csv")
@role_required(Role.ADMIN)
def admin_csv(name):
    """One chart's data as CSV."""
    return _csv(_chart(name, tuple(figures.CHARTS)))


@blueprint.route("/figures")
def public():
    """The programme in figures, for everyone: aggregates only, no personal data."""
    return _page("dashboard/public.html", figures.PUBLIC_CHARTS, "dashboard.public_chart")


@blueprint.route("/figures/<name>.json")
def public_chart(name):
    """One public chart's data."""
    return jsonify(_chart(name, figures.PUBLIC_CHARTS).as_json())


@blueprint.route("/figures/<name>.csv")
def public_csv(name):
    """One public chart's data as CSV."""
    return _csv(_chart(name, figures.PUBLIC_CHARTS))


def dashboard_nav(user):
    """The dashboard in the menu for admins; the public figures for everyone else."""
    from flask_babel import lazy_gettext as _l

    if user.is_authenticated and user.is_admin:
        return [{"url": "/admin/dashboard", "label": _l("Dashboard"), "prefix": "/admin/dashboard",
                 "group": "admin"}]
    return [{"url": "/figures", "label": _l("Figures"), "prefix": "/figures"}]


