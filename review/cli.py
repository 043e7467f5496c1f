"""``flask review assign CALL`` (the optimal reviewer proposal of a call) and ``flask review
remind`` (reminders and overdue flags, for cron)."""

import click
from flask import current_app
from flask.cli import AppGroup

from initiatives.extensions import db
from initiatives.models import Call
from review import assign

review_cli = AppGroup("review", help="Expert review.")


@review_cli.command("assign")
@click.argument("call")
@click.option("--maximin", is_flag=True, help="Raise the weakest initiative's reviewer quality first.")
@click.option("--diverse", is_flag=True, help="At most one reviewer per organisation on an initiative.")
def assign_call(call, maximin, diverse):
    """Propose reviewers for every screened initiative of CALL (its id or slug)."""
    found = Call.query.filter_by(slug=call).first() or (Call.query.get(int(call)) if call.isdigit() else None)
    if found is None:
        raise click.ClickException(f"No call {call!r}: give a call id or slug.")
    steps = ["encode", "affinity", "solve"]
    with click.progressbar(length=len(steps), label=f"Assigning {found.slug}") as bar:
        proposal = assign.propose(found, maximin=maximin, diverse=diverse, progress=lambda step: bar.update(1))
    click.echo(f"{len(proposal.initiatives)} initiatives, {proposal.created} proposed assignments, "
               f"total affinity {proposal.objective:.3f}, solved in {proposal.solve_time:.2f}s.")
    for initiative, missing, reason in proposal.uncovered:
        click.echo(f"UNCOVERED #{initiative.id} {initiative.title}: {missing} missing ({reason})")
    for initiative in proposal.not_matched:
        click.echo(f"NOT MATCHED #{initiative.id} {initiative.title}")
    click.echo(f"Open /review/calls/{found.id}/assignment to inspect, edit and confirm.")


@review_cli.command("remind")
@click.option("--days", type=click.IntRange(0, 60), default=None,
              help="Remind reviewers whose due date is at most this many days away (default: REVIEW_REMIND_DAYS).")
def remind(days):
    """E-mail reviewers whose due date is near and mark past-due assignments overdue."""
    from review import operations

    days = current_app.config.get("REVIEW_REMIND_DAYS", 3) if days is None else days
    run = operations.send_reminders(days)
    db.session.commit()
    click.echo(f"Reminded {len(run.reminded)} reviewer(s) due within {days} day(s); "
               f"marked {len(run.overdue)} assignment(s) overdue; cancelled {len(run.cancelled)} "
               f"of initiatives that left review; closed {len(run.completed)} finished round(s).")
    for assignment in run.overdue:
        click.echo(f"OVERDUE #{assignment.id} {assignment.expert.name}: {assignment.initiative.title} "
                   f"(due {assignment.due_on.isoformat()})")


def init_app(app) -> None:
    app.cli.add_command(review_cli)
