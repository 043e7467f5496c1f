"""``flask match embed``, ``flask match experts``, ``flask export affinities``."""

import csv

import click
import numpy as np
from flask.cli import AppGroup

from initiatives.models import ExpertProfile, Initiative, InitiativeState
from search import matching, vectors

match_cli = AppGroup("match", help="Embeddings and matching.")
export_cli = AppGroup("export", help="Export data.")


@match_cli.command("embed")
@click.option("--all", "force", is_flag=True, help="Re-encode everything (after a model change).")
def embed(force):
    """Encode every initiative, demand, expert profile and publication missing or stale."""
    todo = vectors.count_stale(force=force)
    total = sum(todo.values())
    configured, serving = vectors.configured_model(), vectors.serving_model()
    if serving != configured:
        click.echo(f"Switching from {serving} to {configured}: {serving}'s vectors serve the portal "
                   "until every text is encoded.")
    click.echo(f"Model {configured}: {total} texts to encode "
               + ", ".join(f"{n} {kind}" for kind, n in todo.items()) + ".")
    with click.progressbar(length=total, label="Encoding", show_eta=True, show_pos=True) as bar:
        done = vectors.sync(force=force, progress=lambda kind, n: bar.update(n))
    removed = vectors.prune()
    vectors.forget_serving_model()
    replaced = vectors.prune_other_models()
    click.echo(f"Encoded {sum(done.values())} texts; removed {removed} vectors of deleted objects.")
    if replaced:
        click.echo(f"{configured} now serves; removed {replaced} vectors of earlier models.")


@match_cli.command("experts")
@click.argument("query")
@click.option("--limit", default=10, show_default=True)
def experts(query, limit):
    """The best experts for a topic typed on the command line."""
    for suggestion in matching.experts_for_query(query, limit):
        click.echo(f"{suggestion.score:.3f}\t{suggestion.expert.name}\t{suggestion.reason}")


def ref(item) -> str:
    return item.external_ref or str(item.id)


@export_cli.command("affinities")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Only the N best experts per initiative.")
def export_affinities(out, top):
    """Write initiative_ref,expert_ref,score for every pair (or the top N per initiative)."""
    vectors.sync(["initiative", "expert", "publication"])
    initiatives = (Initiative.query.filter(Initiative.state != InitiativeState.DRAFT.value)
                   .order_by(Initiative.id).all())
    ids, matrix = vectors.matrix("initiative", [i.id for i in initiatives])
    by_id = {i.id: i for i in initiatives}
    unencoded = [i for i in initiatives if i.id not in set(ids)]
    if unencoded:  # encoding failed even after sync: say so rather than leave them out silently
        click.echo(f"Left out {len(unencoded)} initiative(s) without a vector (run 'match embed'): "
                   + ", ".join(ref(i) for i in unencoded[:20]) + (" ..." if len(unencoded) > 20 else ""),
                   err=True)
    experts = ExpertProfile.query.order_by(ExpertProfile.id).all()
    texts = matching.expert_texts(experts)
    rows = 0
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["initiative_ref", "expert_ref", "score"])
        with click.progressbar(range(0, len(ids), 256), label="Scoring") as chunks:
            for start in chunks:
                scores = matching.affinities(matrix[start:start + 256], texts)
                for offset, row in enumerate(scores):
                    order = np.argsort(-row, kind="stable")
                    for j in order[:top] if top else range(len(experts)):
                        writer.writerow([ref(by_id[ids[start + offset]]), ref(experts[j]), f"{row[j]:.6f}"])
                        rows += 1
    click.echo(f"Wrote {rows} pairs to {out}.")


def init_app(app) -> None:
    app.cli.add_command(match_cli)
    app.cli.add_command(export_cli)
