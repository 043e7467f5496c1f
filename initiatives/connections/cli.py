"""``flask connections suggest``: record the matcher's suggestions for the open demands."""

import click
from flask.cli import AppGroup

from ..extensions import db

connections_cli = AppGroup("connections", help="Connections between demands and initiatives.")


@connections_cli.command("suggest")
@click.option("--demand", "demand_id", type=int, default=None, help="Only this demand (its id).")
def suggest(demand_id):
    """Record the accepted initiatives the matcher finds for each open demand as suggestions."""
    from ..models import Demand, DemandState
    from . import operations

    query = Demand.query.filter_by(state=DemandState.OPEN.value)
    if demand_id is not None:
        query = query.filter_by(id=demand_id)
    demands = query.order_by(Demand.id).all()
    created = 0
    with click.progressbar(demands, label="Suggesting") as bar:
        for demand in bar:
            created += len(operations.suggest_for_demand(demand))
    db.session.commit()
    click.echo(f"{created} new suggestion(s) for {len(demands)} open demand(s).")


def init_app(app) -> None:
    app.cli.add_command(connections_cli)
