"""The dashboard: charts of submissions, fields, provinces, the review funnel, reviewer load,
scores and matches, for admins, and the public figures."""


def init_app(app) -> None:
    """Register the pages and the menu entry."""
    from ..templating import extra_nav_items
    from . import controllers

    app.register_blueprint(controllers.blueprint)
    app.jinja_env.globals["public_figures_url"] = "/figures"  # the front page links to it
    if controllers.dashboard_nav not in extra_nav_items:
        extra_nav_items.append(controllers.dashboard_nav)
