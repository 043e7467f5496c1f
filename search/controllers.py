"""Matching in the pages: experts and demands on an initiative, initiatives on a demand, the
expert finder, and the near-duplicate warning before a submission."""

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from initiatives.access import role_required
from initiatives.models import InitiativeState, Role
from search import matching, vectors

blueprint = Blueprint("matching", __name__, url_prefix="/matching")


@blueprint.route("/experts")
@role_required(Role.ADMIN)
def find_experts():
    """An admin types a topic and gets the best experts for it."""
    query = (request.args.get("q") or "").strip()[:500]
    results = matching.experts_for_query(query) if query else []
    return render_template("search/find_experts.html", q=query, results=results)


def initiative_panel(initiative) -> Markup:
    """Experts (admins) and open demands (proposer and admins) for an initiative."""
    user = current_user
    if not user.is_authenticated or not (user.is_admin or initiative.is_proposer(user)):
        return Markup("")
    if initiative.status == InitiativeState.DRAFT:
        return Markup("")
    encoded = vectors.vector_of("initiative", initiative.id, initiative) is not None
    suggested, excluded = matching.suggest_experts(initiative) if (encoded and user.is_admin) else ([], [])
    demands = matching.demands_for_initiative(initiative, reasons=True) if encoded else []
    return Markup(render_template("search/initiative_panel.html", initiative=initiative, encoded=encoded,
                                  suggested=suggested, excluded=excluded, demands=demands))


def demand_panel(demand) -> Markup:
    """Accepted initiatives for the demand's owner; every initiative for admins."""
    user = current_user
    if not user.is_authenticated or not (user.is_admin or demand.is_owner(user)):
        return Markup("")
    encoded = vectors.vector_of("demand", demand.id, demand) is not None
    matches = matching.initiatives_for_demand(demand, only_accepted=not user.is_admin, reasons=True) if encoded else []
    return Markup(render_template("search/demand_panel.html", demand=demand, encoded=encoded,
                                  matches=matches))


def duplicate_warnings(initiative):
    """Before submission: semantically near-duplicate initiatives already in the catalogue."""
    found = matching.near_duplicates(initiative)
    visible = [m for m in found if m.item.can_view(current_user)]
    hidden = len(found) - len(visible)
    warnings = []
    if visible:
        warnings.append((_l("These initiatives in the catalogue look very similar to yours. Please "
                            "check that yours is not a duplicate before you submit."), visible))
    if hidden:
        # Others' unpublished initiatives are counted, never named.
        warnings.append((_l("%(n)d initiative(s) under review elsewhere in the portal look very "
                            "similar to yours.", n=hidden), []))
    return warnings


def init_app(app) -> None:
    from initiatives.demands.controllers import demand_panels
    from initiatives.proposals.controllers import initiative_panels
    from initiatives.proposals.operations import submission_warnings
    from initiatives.templating import extra_nav_items

    app.register_blueprint(blueprint)
    for hooks, hook in ((initiative_panels, initiative_panel), (demand_panels, demand_panel),
                        (submission_warnings, duplicate_warnings)):
        if hook not in hooks:
            hooks.append(hook)
    if find_experts_nav not in extra_nav_items:
        extra_nav_items.append(find_experts_nav)


def find_experts_nav(user):
    if user.is_authenticated and user.is_admin:
        return [{"url": "/matching/experts", "label": _l("Find experts"), "prefix": "/matching",
                 "group": "admin"}]
    return []
