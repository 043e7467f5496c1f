"""Load benchmark: locust against gunicorn on PostgreSQL, with the demo data enlarged to 10,000
initiatives and 2,000 experts; then the exactly-once check of what the load wrote, and the same
load on a bare Flask "hello" app (the framework's ceiling).

Steps, all torn down at the end (gunicorn stopped, the database dropped, the temporary instance
folder removed), also on failure:

1. a fresh database on the local PostgreSQL server (trust authentication), ``flask db upgrade``
   and ``flask demo`` against it;
2. the data enlarged with SQLAlchemy Core bulk inserts, like bench/search.py: proposers, experts
   with profiles and publications, initiatives in realistic states (with their submitted
   snapshot, reviewer assignments, reviews and decisions), one random unit vector per
   initiative, profile and publication (stored with the hash of the real text, so ``match
   embed`` encodes only the demo's own objects), then ``match embed`` and ``search reindex``;
3. the load accounts, all with one password hashed once: a proposer and an expert per locust
   user and one admin; each load expert holds accepted assignments on initiatives under review
   whose two other reviewers have submitted (so a submitted review closes the round), half of
   them with a review draft already started;
4. gunicorn (``-w 2 --threads 4``, production settings) and locust headless (bench/
   load_locustfile.py: visitors, proposers, experts, one admin), bounded in users and time;
5. requests/s, median and p95 per endpoint and the error count; then the database check: every
   draft, submission and review save locust saw succeed is there exactly once, nothing is
   duplicated, and nothing is there that the load did not attempt (PASS/FAIL);
6. the same gunicorn settings and locust users against bench/hello_app.py.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/load.py                       # 10,000 / 2,000, 20 users, 60 s
    ... --initiatives 300 --experts 100 --users 5 --time 15 --assignments 5   # a smoke test
    ... --wait 0.5,2      # think time between tasks (default 0,0: a closed loop, see docs)

Needs the ``bench`` extra (``.venv/bin/pip install 'locust>=2.20'``) and a PostgreSQL server
(``--pg-host``, ``--pg-port``, ``--pg-user``; ``createdb`` rights, trust authentication).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import subprocess  # nosec B404 - runs the portal's own commands, gunicorn and locust
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))


def _bench_search():
    """bench/search.py (its generated text), loaded under another name than the portal's search."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_search", BENCH / "search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generated = _bench_search()

VENV_BIN = ROOT / ".venv" / "bin"
DIMENSION = 384
INSERT_BATCH = 5_000
PASSWORD = "load-bench-password"  # nosec B105 - throw-away accounts of a throw-away database
# bench/search.py's states, with some drafts, as a portal in use has them.
DRAFT_SHARE = 0.05
REVIEWERS = 3
CPUS = os.cpu_count() or 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--initiatives", type=int, default=10_000, help="total, demo included")
    parser.add_argument("--experts", type=int, default=2_000, help="total, demo included")
    parser.add_argument("--proposers", type=int, default=500, help="owners of the generated initiatives")
    parser.add_argument("--users", type=int, default=20, help="locust users")
    parser.add_argument("--spawn-rate", type=float, default=5, help="locust users started per second")
    parser.add_argument("--time", type=int, default=60, help="seconds of load (each run)")
    parser.add_argument("--wait", default="0,0", help="think time MIN,MAX seconds between a user's tasks")
    parser.add_argument("--assignments", type=int, default=40, help="accepted assignments per load expert")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8770)
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", default=os.environ.get("PGPORT", "5432"))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--skip-hello", action="store_true", help="do not measure the hello ceiling")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", help="keep locust's CSV files and the logs in this folder")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# The database and the portal's commands ------------------------------------------------------

def psql(args, sql: str) -> None:
    subprocess.run(["psql", "-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user,  # nosec B603 B607
                    "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def flask(*command: str, env: dict) -> None:
    started = time.perf_counter()
    subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *command], cwd=ROOT, env=env,  # nosec B603
                   check=True, stdout=subprocess.DEVNULL)
    log(f"flask {' '.join(command)}: {time.perf_counter() - started:.0f} s")


def portal_environment(args, database: str, instance: Path) -> dict:
    """The production settings of the served portal, for the commands and for gunicorn."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": secrets.token_hex(32),
        "PORTAL_DATABASE_URL": f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{database}",
        "PORTAL_INSTANCE_PATH": str(instance),
        # All load users sign in from 127.0.0.1: the limit of 10 a minute per address would
        # refuse most of them. The limiter stays in the request path with a limit never reached.
        "PORTAL_LOGIN_RATE_LIMIT": "100000 per minute",
        # Production marks cookies Secure and expects a TLS proxy in front; locust talks plain
        # http to gunicorn, and a client does not send Secure cookies over http.
        "PORTAL_SESSION_COOKIE_SECURE": "false",
        "PORTAL_REMEMBER_COOKIE_SECURE": "false",
        # The model is loaded by each worker at start, not by the first search under load.
        "PORTAL_EMBEDDING_WARM_UP": "true",
        # EMBED_ON_SAVE stays on (the default): every draft and submission is encoded by the
        # worker that saved it, after the commit, as in production.
    }


# Generated data -------------------------------------------------------------------------------

def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    matrix = rng.standard_normal((n, DIMENSION), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def insert(table, rows: list[dict]) -> None:
    from initiatives.extensions import db

    for first in range(0, len(rows), INSERT_BATCH):
        db.session.execute(table.insert(), rows[first:first + INSERT_BATCH])


def next_id(model) -> int:
    from initiatives.extensions import db

    return (db.session.query(db.func.max(model.id)).scalar() or 0) + 1


class Enlarger:
    """Bulk-inserts users, experts, initiatives, their review history and vectors."""

    def __init__(self, args, password_hash: str):
        from flask import current_app

        from initiatives import taxonomy
        from initiatives.extensions import db
        from initiatives.models import User
        from initiatives.proposals import operations as proposals
        from review import rubrics

        self.args = args
        self.rng = random.Random(args.seed)
        self.vectors = np.random.default_rng(args.seed)
        self.password_hash = password_hash
        self.now = datetime.now().replace(microsecond=0)
        self.fields = list(taxonomy.fields())
        self.provinces = list(taxonomy.provinces())
        self.admin_id = User.query.filter(User.email == "admin@demo.vn").one().id
        self.standing_call_id = proposals.standing_call().id
        self.rubric = rubrics.rubric_for(None)
        db.session.commit()
        self.criteria = {c.id: (c.scale_min, c.scale_max) for c in self.rubric.criteria}
        self.embeddings: list[dict] = []
        self.model = current_app.config["EMBEDDING_MODEL"]

    # People ------------------------------------------------------------------------------

    def users(self, prefix: str, n: int, roles: list[str], name: str) -> list[int]:
        from initiatives.models import User, UserRole

        first = next_id(User)
        rows, role_rows = [], []
        for i in range(n):
            user_id = first + i
            rows.append({
                "id": user_id, "email": f"{prefix}-{i + 1}@load.example.org", "name": f"{name} {i + 1}",
                "organisation": self.rng.choice(generated.ORGANISATIONS), "password_hash": self.password_hash,
                "locale": self.rng.choice(["vi", "en"]), "active": True, "email_notifications": True,
                "email_opt_out": [], "created_at": self.now - timedelta(days=self.rng.randint(1, 900)),
            })
            role_rows.extend({"user_id": user_id, "role": role} for role in roles)
        insert(User.__table__, rows)
        insert(UserRole.__table__, role_rows)
        return [row["id"] for row in rows]

    def experts(self, user_ids: list[int], ref: str) -> list[int]:
        """A profile with keywords and a bio, and one or two publications, per user."""
        from initiatives.extensions import db
        from initiatives.models import ExpertProfile, Publication, User
        from search import vectors
        from search.catalogue import search_text

        names = dict(db.session.query(User.id, User.name).filter(User.id.in_(user_ids)))
        first, first_publication = next_id(ExpertProfile), next_id(Publication)
        profiles, publications = [], []
        for i, user_id in enumerate(user_ids):
            lang = 0 if self.rng.random() > generated.ENGLISH_SHARE else 1
            topics = [self.rng.choice(generated.TOPICS)[lang] for _ in range(4)]
            filler = generated.EN_FILLER if lang else generated.VI_FILLER
            profile = {
                "id": first + i, "user_id": user_id, "external_ref": f"{ref}-{i + 1}",
                "name": names[user_id], "email": None, "organisation": self.rng.choice(generated.ORGANISATIONS),
                "fields": self.rng.sample(self.fields, 2), "keywords": topics[:3],
                "bio": generated.words(self.rng, filler, topics, 40),
                "languages": ["vi", "en"], "max_load": self.rng.randint(4, 8), "available": True,
                "unavailable_until": None, "created_at": self.now, "updated_at": self.now,
            }
            profiles.append(profile)
            for _ in range(self.rng.randint(1, 2)):
                publications.append({
                    "id": first_publication + len(publications), "expert_id": profile["id"],
                    "title": f"{topics[0]}: {topics[1]} ({self.rng.randint(2005, 2026)})",
                    "abstract": generated.words(self.rng, filler, topics, 60),
                    "year": self.rng.randint(2005, 2026), "venue": "Journal of Science and Technology",
                })
        for profile in profiles:  # the folded text the database search matches, as the ORM stores it
            profile["search_text"] = search_text("expert", SimpleNamespace(**profile))
        insert(ExpertProfile.__table__, profiles)
        insert(Publication.__table__, publications)
        self.vectors_for("expert", profiles, vectors.expert_text)
        self.vectors_for("publication", publications, vectors.publication_text)
        return [p["id"] for p in profiles]

    def vectors_for(self, kind: str, rows: list[dict], text) -> None:
        """One random unit vector per row, stamped with the hash of the row's real text."""
        from search.embeddings import text_hash

        for row, vector in zip(rows, unit_vectors(self.vectors, len(rows)), strict=True):
            self.embeddings.append({
                "kind": kind, "object_id": row["id"], "model": self.model,
                "text_hash": text_hash(text(SimpleNamespace(**row))), "dimension": DIMENSION,
                "vector": vector.tobytes(), "updated_at": self.now})

    # Initiatives and their review history --------------------------------------------------

    def initiatives(self, n: int, proposer_ids: list[int]) -> list[dict]:
        from initiatives.models import Initiative, InitiativeVersion
        from search import vectors
        from search.catalogue import search_text

        first, first_version = next_id(Initiative), next_id(InitiativeVersion)
        rows = generated.generate(n, proposer_ids[0], seed=self.args.seed)
        versions = []
        for row in rows:
            row["id"] += first - 1
            row["external_ref"] = f"load-{row['id']}"
            row["proposer_id"] = self.rng.choice(proposer_ids)
            row["call_id"] = self.standing_call_id
            row["ip_status"] = self.rng.choice(["none", "filed", "granted", "open_licence"])
            row["team_members"] = [f"Thành viên {k}" for k in range(self.rng.randint(0, 3))]
            if self.rng.random() < DRAFT_SHARE:
                row.update(state="draft", round=0, submitted_at=None)
                continue
            if row["state"] in ("accepted", "rejected", "revision_requested"):
                row["decided_at"] = row["submitted_at"] + timedelta(days=self.rng.randint(20, 80))
            row["screened_at"] = (row["submitted_at"] + timedelta(days=2)
                                  if row["state"] not in ("submitted", "withdrawn") else None)
            snapshot = {key: row[key] for key in (
                "title", "summary", "description", "field", "keywords", "trl", "ip_status", "province",
                "organisation", "team_members", "budget_vnd", "expected_impact", "language")}
            versions.append({"id": first_version + len(versions), "initiative_id": row["id"],
                             "round": 1, "snapshot": {**snapshot, "attachments": []},
                             "submitted_at": row["submitted_at"]})
        for row in rows:
            row.setdefault("decided_at", None)
            row.setdefault("screened_at", None)
            row["search_text"] = search_text("initiative", SimpleNamespace(**row))
        insert(Initiative.__table__, rows)
        insert(InitiativeVersion.__table__, versions)
        self.vectors_for("initiative", rows, vectors.initiative_text)
        return rows

    def review_history(self, rows: list[dict], expert_ids: list[int], load_experts: list[int],
                       per_expert: int) -> dict[int, list[int]]:
        """Assignments, reviews and decisions matching each initiative's state. Initiatives
        under review go first to the load experts: one accepted assignment of a load expert,
        two submitted ones of others. Returns each load expert's assignment ids."""
        from review.models import Assignment, Decision, Review, ReviewScore

        assignment_id, review_id, score_id = next_id(Assignment), next_id(Review), next_id(ReviewScore)
        assignments, reviews, scores, decisions = [], [], [], []
        load_queue = [expert for expert in load_experts for _ in range(per_expert)]
        self.rng.shuffle(load_queue)
        held: dict[int, list[int]] = {expert: [] for expert in load_experts}
        drafts = 0

        def review_of(assignment: dict, submitted_at, recommendation=None, comments="") -> None:
            nonlocal review_id, score_id
            reviews.append({
                "id": review_id, "assignment_id": assignment["id"], "rubric_id": self.rubric.id,
                "confidence": self.rng.randint(1, 5) if submitted_at else None,
                "recommendation": recommendation, "comments_to_proposer": comments,
                "confidential_comments": "", "submitted_at": submitted_at, "reopened_at": None,
                "created_at": assignment["accepted_at"], "updated_at": submitted_at or self.now})
            for criterion, (low, high) in self.criteria.items():
                if submitted_at or self.rng.random() < 0.5:
                    scores.append({"id": score_id, "review_id": review_id, "criterion_id": criterion,
                                   "value": self.rng.randint(low, high)})
                    score_id += 1
            review_id += 1

        for row in rows:
            state = row["state"]
            if state not in ("under_review", "reviewed", "accepted", "rejected", "revision_requested"):
                continue
            chosen = self.rng.sample(expert_ids, REVIEWERS)
            invited_at = row["screened_at"] + timedelta(days=1)
            if state == "under_review":
                if load_queue:
                    load_expert = load_queue.pop()
                    chosen[0] = load_expert
                    states = ["accepted", "submitted", "submitted"]
                else:
                    load_expert = None
                    states = [self.rng.choice(["invited", "accepted"])] + [
                        self.rng.choice(["invited", "accepted", "submitted"]) for _ in range(REVIEWERS - 1)]
            else:
                load_expert, states = None, ["submitted"] * REVIEWERS
            for expert, assignment_state in zip(chosen, states, strict=True):
                assignment = {
                    "id": assignment_id, "initiative_id": row["id"], "expert_id": expert,
                    "call_id": row["call_id"], "round": 1, "affinity": round(self.rng.uniform(0.2, 0.7), 4),
                    "method": "auto", "state": assignment_state, "due_on": (self.now + timedelta(days=21)).date()
                    if state == "under_review" else (invited_at + timedelta(days=21)).date(),
                    "decline_reason": None, "declined_for_conflict": False, "cancel_reason": None,
                    "invited_at": invited_at, "accepted_at": None if assignment_state == "invited"
                    else invited_at + timedelta(days=1), "reminded_on": None, "created_at": invited_at,
                    "updated_at": invited_at}
                assignments.append(assignment)
                assignment_id += 1
                if assignment_state == "submitted":
                    review_of(assignment, invited_at + timedelta(days=self.rng.randint(3, 20)),
                              self.rng.choice(["accept", "revise", "reject"]),
                              generated.words(self.rng, ["clear", "aims", "budget", "pilot", "the", "and"], ["impact"], 25))
                elif expert == load_expert:
                    held[expert].append(assignment["id"])
                    if drafts % 2 == 0:  # half of them have a draft already
                        review_of(assignment, None)
                    drafts += 1
            if state in ("accepted", "rejected", "revision_requested"):
                decisions.append({"initiative_id": row["id"], "round": 1, "outcome": state,
                                  "rationale": "Decided on the reviews.", "decided_by_id": self.admin_id,
                                  "created_at": row["decided_at"]})
        insert(Assignment.__table__, assignments)
        insert(Review.__table__, reviews)
        insert(ReviewScore.__table__, scores)
        insert(Decision.__table__, decisions)
        log(f"{len(assignments):,} assignments, {len(reviews):,} reviews, {len(decisions):,} decisions")
        return held

    def finish(self) -> None:
        """Store the vectors and move every id sequence past the ids given here."""
        from initiatives.extensions import db
        from search.models import Embedding

        insert(Embedding.__table__, self.embeddings)
        for table in ("user", "expert_profile", "publication", "initiative", "initiative_version",
                      "assignment", "review", "review_score", "decision", "embedding"):
            db.session.execute(db.text(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # nosec B608 - fixed names
                f"(SELECT COALESCE(MAX(id), 1) FROM \"{table}\"))"))
        db.session.commit()


def enlarge(args, plan_path: Path) -> dict:
    """Fill the migrated demo database up to the wanted size; write the locust plan."""
    from werkzeug.security import generate_password_hash

    from initiatives import create_app, taxonomy
    from initiatives.extensions import db
    from initiatives.models import ExpertProfile, Initiative, User
    from search.textfold import fold

    app = create_app()
    with app.app_context():
        password_hash = generate_password_hash(PASSWORD, method=app.config["PASSWORD_HASH_METHOD"])
        started = time.perf_counter()
        enlarger = Enlarger(args, password_hash)
        missing_experts = max(0, args.experts - ExpertProfile.query.count())
        missing_initiatives = max(0, args.initiatives - Initiative.query.count())
        proposer_ids = enlarger.users("proposer", args.proposers, ["proposer"], "Người đề xuất")
        expert_users = enlarger.users("expert", max(REVIEWERS, missing_experts - args.users), ["expert"],
                                      "Chuyên gia")
        load_proposers = enlarger.users("load-proposer", args.users, ["proposer"], "Load proposer")
        load_expert_users = enlarger.users("load-expert", args.users, ["expert"], "Load expert")
        load_admin = enlarger.users("load-admin", 1, ["admin"], "Load admin")
        expert_ids = enlarger.experts(expert_users, "load-bulk-expert")
        load_experts = enlarger.experts(load_expert_users, "load-expert")
        rows = enlarger.initiatives(missing_initiatives, proposer_ids)
        under_review = sum(row["state"] == "under_review" for row in rows)
        per_expert = min(args.assignments, under_review // max(1, args.users))
        held = enlarger.review_history(rows, expert_ids, load_experts, per_expert)
        enlarger.finish()
        log(f"enlarged by {len(rows):,} initiatives ({dict(Counter(r['state'] for r in rows))}), "
            f"{len(expert_ids) + len(load_experts):,} experts, {args.proposers + 2 * args.users + 1} "
            f"accounts in {time.perf_counter() - started:.0f} s; {per_expert} assignments per load expert")

        by_profile = dict(db.session.query(ExpertProfile.id, ExpertProfile.user_id)
                          .filter(ExpertProfile.id.in_(load_experts)))
        emails = dict(db.session.query(User.id, User.email).filter(
            User.id.in_(load_proposers + load_expert_users + load_admin)))
        public = [i for (i,) in db.session.query(Initiative.id).filter(Initiative.state == "accepted")]
        everyone = [i for (i,) in db.session.query(Initiative.id)]
        drng = random.Random(args.seed + 5)
        drafts = []
        for row in drng.sample(rows, min(50, len(rows))):
            drafts.append({
                "title": row["title"][:240], "summary": row["summary"][:1000],
                "description": row["description"], "field": row["field"],
                "keywords": ", ".join(row["keywords"]), "trl": str(row["trl"]), "ip_status": row["ip_status"],
                "province": row["province"], "organisation": row["organisation"],
                "team_members": "\n".join(row["team_members"]), "budget_vnd": str(row["budget_vnd"]),
                "expected_impact": row["expected_impact"], "language": row["language"]})
        queries = []
        for vi, en in generated.TOPICS:
            queries += [vi, fold(vi), en]
        plan = {
            "marker": f"LOAD{secrets.token_hex(3).upper()}", "password": PASSWORD,
            "proposers": [{"email": emails[i]} for i in load_proposers],
            "experts": [{"email": emails[by_profile[p]], "assignments": held[p]} for p in load_experts],
            "admin": emails[load_admin[0]], "standing_call": enlarger.standing_call_id,
            "criteria": {str(k): v for k, v in enlarger.criteria.items()},
            "public_initiatives": drng.sample(public, min(2000, len(public))),
            "any_initiatives": drng.sample(everyone, min(2000, len(everyone))),
            "fields": list(taxonomy.fields()), "provinces": list(taxonomy.provinces()),
            "states": ["submitted", "screening", "under_review", "reviewed", "accepted", "rejected"],
            "queries": queries, "drafts": drafts,
            "load_assignments": [a for p in load_experts for a in held[p]],
        }
        db.session.remove()
        db.engine.dispose()
    plan_path.write_text(json.dumps(plan, ensure_ascii=False, default=str), encoding="utf-8")
    return plan


# Serving and loading --------------------------------------------------------------------------

def start_gunicorn(args, app: str, env: dict, log_path: Path, chdir: Path = ROOT) -> subprocess.Popen:
    command = [str(VENV_BIN / "gunicorn"), "-w", str(args.workers), "--threads", str(args.threads),
               "-b", f"127.0.0.1:{args.port}", "--chdir", str(chdir), app]
    with open(log_path, "ab") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output,  # nosec B603
                                  start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}: see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/", timeout=10):  # nosec B310
                return server
        except urllib.error.HTTPError:
            return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError("gunicorn did not answer within 180 s")


def cpu_seconds(server: subprocess.Popen) -> float:
    """User + system CPU seconds of gunicorn's arbiter and workers so far."""
    import psutil  # installed with locust

    total = 0.0
    arbiter = psutil.Process(server.pid)
    for process in [arbiter, *arbiter.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def stop(server: subprocess.Popen | None) -> None:
    """Stop gunicorn (its arbiter stops the workers), waiting for it."""
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def warm_up(args, plan: dict) -> None:
    """A few requests of each kind before timing: both workers load the model and read the
    index's facet columns and the vector matrix (the arbiter gives each worker some)."""
    started = time.perf_counter()
    base = f"http://127.0.0.1:{args.port}"
    paths = ["/catalogue", "/catalogue?q=n%C3%B4ng+nghi%E1%BB%87p&mode=text",
             "/catalogue?q=solar+energy&mode=hybrid", f"/initiatives/{plan['public_initiatives'][0]}"]
    for _ in range(4):
        for path in paths:
            try:
                with urllib.request.urlopen(base + path, timeout=120) as answer:  # nosec B310
                    answer.read()
            except urllib.error.URLError as error:
                log(f"warm-up {path}: {error}")
    log(f"warm-up: {time.perf_counter() - started:.0f} s")


def run_locust(args, server: subprocess.Popen, classes: list[str], out: Path, prefix: str, env: dict) -> dict:
    """Run locust headless; its statistics per endpoint as written by the locustfile."""
    command = [str(VENV_BIN / "locust"), "-f", str(BENCH / "load_locustfile.py"), *classes,
               "--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.time}s",
               "--stop-timeout", "60", "--host", f"http://127.0.0.1:{args.port}",
               "--only-summary", "--loglevel", "WARNING"]
    log("locust " + " ".join(command[3:]))
    stats = out / f"{prefix}-stats.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, started = cpu_seconds(server), time.perf_counter()
    with open(out / f"{prefix}-locust.log", "wb") as output:
        subprocess.run(command, cwd=ROOT, env={**env, "LOAD_WAIT": args.wait, "LOAD_STATS": str(stats)},  # nosec B603
                       stdout=output, stderr=output, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(stats.read_text(encoding="utf-8"))
    result["cpu"] = {"wall": time.perf_counter() - started, "gunicorn": cpu_seconds(server) - server_before,
                     "locust": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}
    return result


def cpu_line(result: dict) -> str:
    cpu = result["cpu"]
    return (f"CPU seconds over {cpu['wall']:.0f} s of wall time: gunicorn (arbiter and workers) "
            f"{cpu['gunicorn']:.0f}, locust {cpu['locust']:.0f} ({CPUS} CPUs give {CPUS * cpu['wall']:.0f})")


def stats_table(rows: list[dict]) -> str:
    lines = ["| endpoint | requests | failures | requests/s | median ms | p95 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        name = "**all**" if row["name"] == "Aggregated" else f"`{row['name']}`"
        lines.append(f"| {name} | {row['requests']:,} | {row['failures']:,} | {row['rps']:.1f} | "
                     f"{row['median']:,.0f} | {row['p95']:,.0f} |")
    return "\n".join(lines)


# The exactly-once check -----------------------------------------------------------------------

def check_writes(plan: dict, record: dict) -> tuple[bool, list[str]]:
    """Compare what locust saw succeed with what the database holds. Returns (passed, report)."""
    from initiatives import create_app
    from initiatives.extensions import db

    problems, report = [], []
    app = create_app()
    with app.app_context():
        q = db.session.execute
        like = f"%{plan['marker']}-initiative-%"
        found = Counter()
        rows = {}
        for row in q(db.text("SELECT id, title, state, round FROM initiative WHERE title LIKE :like"),
                     {"like": like}):
            mark = row.title.rsplit("[", 1)[-1].rstrip("]")
            found[mark] += 1
            rows[mark] = row
        versions = Counter(dict(q(db.text(
            "SELECT initiative_id, count(*) FROM initiative_version v JOIN initiative i "
            "ON i.id = v.initiative_id WHERE i.title LIKE :like GROUP BY initiative_id"), {"like": like}).all()))
        submitted_events = Counter(dict(q(db.text(
            "SELECT object_id, count(*) FROM audit_event a JOIN initiative i ON i.id = a.object_id "
            "WHERE a.object_type = 'initiative' AND a.action = 'initiative.submitted' "
            "AND i.title LIKE :like GROUP BY object_id"), {"like": like}).all()))
        created_events = Counter(dict(q(db.text(
            "SELECT object_id, count(*) FROM audit_event a JOIN initiative i ON i.id = a.object_id "
            "WHERE a.object_type = 'initiative' AND a.action = 'initiative.created' "
            "AND i.title LIKE :like GROUP BY object_id"), {"like": like}).all()))
        attempted = {s["marker"]: s for s in record["submissions"]}
        created_ok = [s for s in record["submissions"] if s["create"] == "ok"]
        submitted_ok = [s for s in created_ok if s["submit"] == "ok"]
        for s in created_ok:
            n = found.get(s["marker"], 0)
            if n != 1:
                problems.append(f"draft {s['marker']}: {n} rows")
                continue
            row = rows[s["marker"]]
            if row.id != s["initiative_id"] or created_events.get(row.id, 0) != 1:
                problems.append(f"draft {s['marker']}: id {row.id} / {s['initiative_id']}, "
                                f"{created_events.get(row.id, 0)} created events")
            if s["submit"] == "ok":
                if (row.state, row.round, versions.get(row.id, 0), submitted_events.get(row.id, 0)) != (
                        "screening", 1, 1, 1):
                    problems.append(f"submission {s['marker']}: {row.state}, round {row.round}, "
                                    f"{versions.get(row.id, 0)} versions, {submitted_events.get(row.id, 0)} events")
            elif s["submit"] is None and row.state != "draft":
                problems.append(f"draft {s['marker']} never submitted but {row.state}")
        unconfirmed = [m for m in found if attempted.get(m, {}).get("create") != "ok"]
        unexplained = [m for m in unconfirmed if m not in attempted]
        problems += [f"initiative {m} in the database, never attempted" for m in unexplained]
        report.append(f"submissions: {len(created_ok)} drafts saved and {len(submitted_ok)} submitted as "
                      f"locust saw it; in the database {sum(found.values())} rows for {len(found)} markers, "
                      f"{sum(1 for v in found.values() if v > 1)} duplicated, "
                      f"{sum(1 for s in created_ok if found.get(s['marker'], 0) == 0)} missing, "
                      f"{len(unconfirmed)} from requests locust did not see succeed")

        assignments = plan["load_assignments"]
        reviews = {row.assignment_id: row for row in q(db.text(
            "SELECT r.id, r.assignment_id, r.comments_to_proposer, r.submitted_at, a.state, "
            "i.state AS initiative_state, "
            "(SELECT count(*) FROM review_score s WHERE s.review_id = r.id) AS scores, "
            "(SELECT count(*) FROM audit_event e WHERE e.object_type = 'review' AND e.object_id = r.id "
            " AND e.action = 'review.submitted') AS events "
            "FROM review r JOIN assignment a ON a.id = r.assignment_id "
            "JOIN initiative i ON i.id = a.initiative_id WHERE r.assignment_id = ANY(:ids)"),
            {"ids": assignments})}
        per_assignment = Counter(dict(q(db.text(
            "SELECT assignment_id, count(*) FROM review WHERE assignment_id = ANY(:ids) GROUP BY assignment_id"),
            {"ids": assignments}).all()))
        problems += [f"assignment {a}: {n} reviews" for a, n in per_assignment.items() if n > 1]
        history: dict[int, list[dict]] = {}
        for entry in record["reviews"]:
            history.setdefault(entry["assignment"], []).append(entry)
        saved = [e for e in record["reviews"] if e["status"] == "ok"]
        submitted = [e for e in saved if e["kind"] == "submit"]
        for assignment, entries in history.items():
            row = reviews.get(assignment)
            confirmed = [e for e in entries if e["status"] == "ok"]
            if sum(e["kind"] == "submit" for e in confirmed) > 1:
                problems.append(f"assignment {assignment}: submitted twice")
            # The row holds the last confirmed save, or a later save whose answer was lost.
            allowed = entries[entries.index(confirmed[-1]):] if confirmed else entries
            holder = next((e for e in allowed if row is not None and e["marker"] in row.comments_to_proposer), None)
            if holder is None:
                if confirmed or (row is not None and plan["marker"] in row.comments_to_proposer):
                    problems.append(f"assignment {assignment}: the review row says "
                                    f"{row.comments_to_proposer[:60] if row else None!r}, expected "
                                    f"{[e['marker'] for e in allowed]}")
                continue
            if holder["kind"] == "submit" and (row.submitted_at is None or row.state != "submitted"
                                               or row.events != 1 or row.scores != len(plan["criteria"])
                                               or row.initiative_state != "reviewed"):
                problems.append(f"review {holder['marker']}: submitted {row.submitted_at}, assignment "
                                f"{row.state}, {row.events} events, {row.scores} scores, "
                                f"initiative {row.initiative_state}")
            elif holder["kind"] == "draft" and (row.submitted_at is not None or row.state != "accepted"):
                problems.append(f"draft review {holder['marker']}: submitted {row.submitted_at}, {row.state}")
        untouched = [a for a in assignments if a not in history]
        problems += [f"assignment {a}: changed, but the load never saved it" for a in untouched
                     if a in reviews and (reviews[a].submitted_at is not None
                                          or plan["marker"] in reviews[a].comments_to_proposer)]
        in_db_submitted = sum(1 for row in reviews.values() if row.submitted_at is not None)
        report.append(f"reviews: {len(saved) - len(submitted)} drafts saved and {len(submitted)} submitted as "
                      f"locust saw it; in the database {in_db_submitted} "
                      f"submitted reviews of the load's assignments ({len(history)} touched), at most one review per "
                      f"assignment: "
                      f"{'yes' if all(n == 1 for n in per_assignment.values()) else 'NO'}")
        db.session.remove()
        db.engine.dispose()
    for problem in problems[:30]:
        report.append("  problem: " + problem)
    return not problems, report


# Main -----------------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    database = f"portal_load_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    out = Path(args.out) if args.out else workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    env = portal_environment(args, database, workdir / "instance")
    server = None
    created = False
    try:
        psql(args, f'CREATE DATABASE "{database}"')
        created = True
        log(f"database {database}, instance {workdir / 'instance'}")
        setup_env = {**env, "PORTAL_EMBED_ON_SAVE": "false"}
        flask("db", "upgrade", env=setup_env)
        flask("demo", env=setup_env)
        os.environ.update({k: v for k, v in setup_env.items() if k.startswith("PORTAL_")})
        plan = enlarge(args, workdir / "plan.json")
        flask("match", "embed", env=setup_env)  # the demo's own texts, with the real model
        flask("search", "reindex", env=setup_env)

        server = start_gunicorn(args, "wsgi:app", env, out / "gunicorn-portal.log")
        warm_up(args, plan)
        portal = run_locust(args, server, ["Visitor", "Proposer", "Expert", "Admin"], out, "portal",
                            {**env, "LOAD_PLAN": str(workdir / "plan.json"),
                             "LOAD_RECORD": str(workdir / "record.json")})
        stop(server)
        server = None
        record = json.loads((workdir / "record.json").read_text(encoding="utf-8"))
        passed, check = check_writes(plan, record)

        if not args.skip_hello:
            server = start_gunicorn(args, "hello_app:app", env, out / "gunicorn-hello.log", chdir=BENCH)
            hello = run_locust(args, server, ["Hello"], out, "hello", env)
            stop(server)
            server = None

        load = os.getloadavg()
        print(f"\n## Load: {args.initiatives:,} initiatives, {args.experts:,} experts, {args.users} users, "
              f"{args.time} s, think time {args.wait} s; gunicorn -w {args.workers} --threads {args.threads}; "
              f"{platform.node()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
        print(stats_table(portal["endpoints"]))
        print(f"\n{cpu_line(portal)}")
        print(f"errors: {portal['endpoints'][-1]['failures']}")
        for error in portal["errors"][:10]:
            print(f"  {error['occurrences']} x {error['name']}: {error['error'][:160]}")
        print("\n" + "\n".join(check))
        print(f"\nexactly-once check: {'PASS' if passed else 'FAIL'}")
        if not args.skip_hello:
            print("\n### Bare Flask hello, same gunicorn settings and locust users\n")
            print(stats_table(hello["endpoints"][-1:]))
            print(f"\n{cpu_line(hello)}")
        return 0 if passed else 1
    finally:
        stop(server)
        if created:
            psql(args, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            log(f"database {database} dropped")
        if args.out:
            for name in ("plan.json", "record.json"):
                if (workdir / name).exists():
                    shutil.copy(workdir / name, out / name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
