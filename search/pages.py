"""The catalogue pages, the search commands and the search document shared with the API."""

import csv
import io
import json

import click
from flask import Blueprint, Response, abort, render_template, request
from flask.cli import AppGroup
from flask_login import current_user

from initiatives import taxonomy
from initiatives.models import Call
from search.catalogue import FACET_ALIASES, FILTER_NAMES, MODES, SORTS, Answer, catalogue

blueprint = Blueprint("catalogue", __name__, url_prefix="/catalogue")
search_cli = AppGroup("search", help="The catalogue's search index.")
EXPORT_LIMIT = 10_000


def read_arguments(args) -> dict:
    """Search arguments from a query string, with unknown or malformed values dropped."""
    mode = args.get("mode") if args.get("mode") in MODES else "hybrid"
    sort = args.get("sort") if args.get("sort") in SORTS else "relevance"
    filters = {FACET_ALIASES.get(name, name): args.get(name, "").strip()[:80]
               for name in reversed(FILTER_NAMES) if args.get(name, "").strip()}
    return {"text": (args.get("q") or "")[:400], "mode": mode, "sort": sort, "filters": filters,
            "kind": args.get("kind") or None, "page": args.get("page", 1, type=int) or 1}


def answer_document(answer: Answer) -> dict:
    """The search answer as JSON: the API's and ``flask search query --json``'s document."""
    return {
        "total": answer.total, "total_exact": answer.exact, "page": answer.page, "mode": answer.mode,
        "results": [{"kind": r.kind, "id": r.id, "external_ref": getattr(r.item, "external_ref", None),
                     "title": getattr(r.item, "title", None) or getattr(r.item, "name", ""),
                     "score": round(r.score, 6), "highlights": r.snippet} for r in answer.results],
        "facets": answer.facets,
        **({"notice": answer.notice} if answer.notice else {}),
    }


@blueprint.route("")
def index():
    """The catalogue: accepted initiatives for everyone, every object for admins."""
    arguments = read_arguments(request.args)
    answer = catalogue().search(arguments["text"], current_user, mode=arguments["mode"],
                                kind=arguments["kind"], filters=arguments["filters"],
                                page=arguments["page"], sort=arguments["sort"])
    calls = {str(c.id): c.title for c in Call.query.all()}
    return render_template("search/catalogue.html", answer=answer, args=arguments, calls=calls,
                           fields=taxonomy.fields(), provinces=taxonomy.provinces())


@blueprint.route("/export.csv")
def export():
    """The current result set as CSV (admins)."""
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(403)
    arguments = read_arguments(request.args)
    rows = []
    page = 1
    while len(rows) < EXPORT_LIMIT:
        answer = catalogue().search(arguments["text"], current_user, mode=arguments["mode"],
                                    kind=arguments["kind"], filters=arguments["filters"],
                                    page=page, per_page=100, sort=arguments["sort"])
        rows.extend(answer.results)
        if page >= answer.pages or not answer.results:
            break
        page += 1
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kind", "id", "external_ref", "title", "state", "field", "province", "score"])
    for r in rows:
        item = r.item
        writer.writerow([r.kind, r.id, getattr(item, "external_ref", "") or "",
                         getattr(item, "title", None) or getattr(item, "name", ""),
                         getattr(item, "state", ""), getattr(item, "field", "") or "",
                         getattr(item, "province", "") or "", f"{r.score:.6f}"])
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=catalogue.csv"})


def more_like_this_panel(initiative):
    from markupsafe import Markup

    similar = catalogue().more_like_this(initiative, current_user)
    if not similar:
        return Markup("")
    return Markup(render_template("search/more_like_this.html", similar=similar))


@search_cli.command("reindex")
def reindex():
    """Rebuild the index from the database (searches keep working meanwhile), then index again
    what other processes changed while it ran."""
    from search.catalogue import count_docs

    total = count_docs()
    with click.progressbar(length=total, label="Indexing") as bar:
        count = catalogue().rebuild(progress=bar.update)
    click.echo(f"Indexed {count} documents.")


@search_cli.command("check")
def check():
    """Report whether the index is missing, empty, corrupt or ok."""
    health = catalogue().index.check()
    click.echo(f"{health.state} ({health.doc_count} documents) {health.detail}".strip())
    if not health.ok:
        raise SystemExit(1)


@search_cli.command("query")
@click.argument("text")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON document.")
def query(text, mode, limit, as_json):
    """Search the catalogue as an admin sees it."""
    from initiatives.models import Role, User, UserRole

    admin = User.query.join(UserRole).filter(UserRole.role == Role.ADMIN.value).first()
    if admin is None:
        # On stderr, so that --json still prints nothing but the document.
        click.echo("Note: there is no administrator account, so these are the public results "
                   "(accepted initiatives only).", err=True)
    answer = catalogue().search(text, admin, mode=mode, per_page=limit)
    if as_json:
        click.echo(json.dumps(answer_document(answer), ensure_ascii=False, indent=2))
        return
    if answer.notice:
        click.echo(answer.notice, err=True)
    click.echo(f"{answer.total} results ({answer.mode})")
    for r in answer.results:
        click.echo(f"{r.score:.4f}\t{r.kind} {r.id}\t{getattr(r.item, 'title', None) or r.item.name}")


def catalogue_nav(user):
    from flask_babel import lazy_gettext as _l

    return [{"url": "/catalogue", "label": _l("Catalogue"), "prefix": "/catalogue"}]


def init_app(app) -> None:
    from initiatives.proposals.controllers import initiative_panels
    from initiatives.templating import extra_nav_items

    if catalogue_nav not in extra_nav_items:
        extra_nav_items.insert(0, catalogue_nav)

    app.register_blueprint(blueprint)
    app.cli.add_command(search_cli)
    if more_like_this_panel not in initiative_panels:
        initiative_panels.append(more_like_this_panel)


