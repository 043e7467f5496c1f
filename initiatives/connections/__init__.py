"""Connections between demands and initiatives: requests, answers, adoption (DESIGN section 2)."""


def init_app(app) -> None:
    """Register the pages, the panels on the initiative and demand pages, the menu and the commands."""
    from ..demands.controllers import demand_panels
    from ..proposals.controllers import initiative_panels
    from ..templating import extra_nav_items
    from . import cli, controllers, models  # noqa: F401  (models registers the table)

    app.register_blueprint(controllers.blueprint)
    for hooks, hook in ((initiative_panels, controllers.initiative_panel),
                        (demand_panels, controllers.demand_panel),
                        (extra_nav_items, controllers.connections_nav)):
        if hook not in hooks:
            hooks.append(hook)
    cli.init_app(app)
