"""Command-line tools: ``flask --app wsgi users|demo|mail|import|backup|restore|uploads ...`` (the README lists them)."""

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from .extensions import db

users_cli = AppGroup("users", help="Manage accounts.")
mail_cli = AppGroup("mail", help="The mail outbox.")


@users_cli.command("create")
@click.option("--email", required=True, help="E-mail address, the login name.")
@click.option("--name", default=None, help="Display name (defaults to the e-mail's local part).")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["proposer", "expert", "demand_owner", "admin"]),
              help="A role to grant; repeat for several.")
@click.option("--organisation", default="")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
def create_user(email, name, roles, organisation, password_stdin):
    """Create an account; the only way to create the first admin."""
    from .accounts.operations import AccountError, register_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = register_user(email, name or email.split("@")[0], password, roles,
                             organisation=organisation, allow_admin=True)
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Created {user.email} with roles {', '.join(sorted(r.value for r in user.roles))}.")


@users_cli.command("list")
def list_users():
    """List accounts with their roles."""
    from .models import User

    for user in User.query.order_by(User.id):
        status = "active" if user.active else "deactivated"
        click.echo(f"{user.id}\t{user.email}\t{','.join(sorted(r.value for r in user.roles))}\t{status}")


@click.command("demo")
def load_demo():
    """Load the demo accounts, initiatives, demands and experts (safe to run again)."""
    from review import demo as review_demo

    from . import demo
    from .models import User

    created = demo.load()
    admin = User.query.filter_by(email="admin@demo.vn").first()
    created["reviews"] = review_demo.load(admin)
    db.session.commit()
    click.echo("Demo data: " + ", ".join(f"{count} {kind}" for kind, count in created.items())
               + f". Demo accounts use the password {demo.DEMO_PASSWORD!r}.")


@mail_cli.command("send")
def send_mail():
    """Deliver the outbox's pending messages through the configured SMTP server."""
    from flask import current_app

    from .mail import deliver_pending

    if not current_app.config.get("MAIL_SERVER"):
        raise click.ClickException("No PORTAL_MAIL_SERVER configured: messages stay in the outbox.")
    sent, failed = deliver_pending()
    click.echo(f"Sent {sent}, failed {failed}.")
    if failed:
        sys.exit(1)


import_cli = AppGroup("import", help="Import experts, initiatives and demands from files.")


def _wait_for_encoding() -> None:
    """Let the background encoder finish what the commit queued: the process ends with the
    command, and the vectors of imported texts would be lost with it."""
    from flask import current_app

    encoder = current_app.extensions.get("portal_encoder")
    if encoder is not None:
        encoder.wait()


def _import_command(kind: str, formats: str):
    """A ``flask import KIND FILE`` command: check the whole file, then write it all or nothing."""

    @import_cli.command(kind, help=f"Create or update {kind} from {formats}, matched by "
                                   "external_ref. Nothing is written if any item is bad.")
    @click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
    @click.option("--as", "as_email", metavar="EMAIL",
                  help="The admin account the import acts as (default: the first admin).")
    @click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
    def run(path, as_email, dry_run):
        from sqlalchemy.exc import SQLAlchemyError

        from .importing import ImportRefused, import_file, importing_admin

        try:
            result = import_file(kind, path, importing_admin(as_email))
            for warning in result.warnings:
                click.echo(f"Warning: {warning}", err=True)
            if dry_run:
                db.session.rollback()
            else:
                db.session.commit()
                _wait_for_encoding()
        except (ImportRefused, SQLAlchemyError) as error:
            db.session.rollback()
            raise click.ClickException(f"nothing imported from {path}.\n{error}") from error
        if dry_run:
            click.echo(f"Checked {path}: would have {result.summary()}; nothing written (--dry-run).")
        else:
            click.echo(f"Imported {kind} from {path}: {result.summary()}.")

    return run


import_experts = _import_command("experts", "FILE.json")
import_initiatives = _import_command("initiatives", "FILE.json or FILE.csv")
import_demands = _import_command("demands", "FILE.json or FILE.csv")


@click.command("backup")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder to write the backup into (default: <instance>/backups).")
def backup(out_dir):
    """Write a consistent copy of the database and the attachments into a timestamped folder."""
    from pathlib import Path

    from flask import current_app

    from .backup import BackupError, create_backup

    target = Path(out_dir) if out_dir else Path(current_app.instance_path) / "backups"
    try:
        result = create_backup(target)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    manifest = result.manifest
    click.echo(f"Backup written to {result.path} ({manifest['database']}: "
               f"{manifest['counts'].get('initiative', 0)} initiatives, "
               f"{len(manifest['attachments'])} attachment files).")
    for stored_name in manifest["missing_attachments"]:
        click.echo(f"Warning: the file of attachment {stored_name} was missing; not in the backup.", err=True)


@click.command("restore")
@click.argument("path", type=click.Path())
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(path, yes):
    """Replace the database and the attachments with the backup in PATH (stop the portal first)."""
    from .backup import BackupError, read_backup, restore_backup

    try:
        manifest = read_backup(path)
        if not yes:
            click.confirm(f"Replace this portal's database and attachments with the backup of "
                          f"{manifest['created_at']}?", abort=True)
        restore_backup(path)
    except BackupError as error:
        raise click.ClickException(f"nothing restored. {error}") from error
    click.echo(f"Restored the backup of {manifest['created_at']} ({manifest['database']}, "
               f"{len(manifest['attachments'])} attachment files).")


uploads_cli = AppGroup("uploads", help="Attachment files.")


@uploads_cli.command("check")
@click.option("--fix", is_flag=True, help="Move committed files into place and delete files no row knows.")
@click.option("--min-age", type=float, default=3600, show_default=True,
              help="Seconds before an unrecorded incoming file counts as left over.")
def check_uploads(fix, min_age):
    """Compare the attachment rows with the files: orphans, left-overs and missing files."""
    from .uploads import check_files

    report = check_files(fix=fix, min_age=min_age)
    verb = "removed" if fix else "found"
    lines = [
        (report.orphans, f"orphan files (no attachment row) {verb}"),
        (report.leftovers, f"left-over incoming files (interrupted uploads) {verb}"),
        (report.unpublished, "committed files " + ("moved into place" if fix else "waiting in the incoming folder")),
        (report.in_progress, "recent incoming files left alone (uploads under way?)"),
        (report.missing, "attachment rows whose file is missing"),
    ]
    for names, label in lines:
        if names:
            click.echo(f"{len(names)} {label}: {', '.join(names)}")
    if report.consistent:
        click.echo("Attachments are consistent.")
    else:
        if not fix and (report.orphans or report.leftovers or report.unpublished):
            click.echo("Run again with --fix to tidy up.")
        sys.exit(1)


def init_app(app: Flask) -> None:
    """Register the command groups on ``app``."""
    for group in (users_cli, load_demo, mail_cli, import_cli, backup, restore, uploads_cli):
        app.cli.add_command(group)
