"""Locust users for bench/load.py: visitors, proposers, experts and an admin on the portal, and a
bare client for the Flask "hello" ceiling.

Run by bench/load.py, which writes the plan (accounts, assignments, ids, queries) to the file
named by ``LOAD_PLAN`` and reads back what the users did from ``LOAD_RECORD``: every submission
and review save with its marker and whether locust saw it succeed, for the exactly-once check.
The portal is not imported here: locust runs under gevent's monkey patching.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from urllib.parse import urlencode

from locust import FastHttpUser, between, constant, events, task

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
CREATED = re.compile(r"/initiatives/(\d+)$")

PLAN: dict = {}
if os.environ.get("LOAD_PLAN"):
    with open(os.environ["LOAD_PLAN"], encoding="utf-8") as plan_file:
        PLAN = json.load(plan_file)

# What the users did, written out when the run ends. Every write the load attempts is listed
# before its request goes out, so a request cut off mid-way still counts as attempted.
RECORD: dict = {"submissions": [], "reviews": []}
_accounts = {"proposer": itertools.count(), "expert": itertools.count()}
_markers = itertools.count(1)


def _wait():
    low, high = (float(x) for x in os.environ.get("LOAD_WAIT", "0,0").split(","))
    return constant(low) if low == high else between(low, high)


def marker(kind: str) -> str:
    """A marker no other write of any run carries: the run's marker, the kind, a counter."""
    return f"{PLAN['marker']}-{kind}-{next(_markers):06d}"


@events.quitting.add_listener
def write_results(environment, **_kwargs):
    """What the users wrote (``LOAD_RECORD``) and the statistics per endpoint (``LOAD_STATS``),
    once every user has finished its last task (locust's CSV is written before that)."""
    if os.environ.get("LOAD_RECORD"):
        with open(os.environ["LOAD_RECORD"], "w", encoding="utf-8") as record_file:
            json.dump(RECORD, record_file)
    if os.environ.get("LOAD_STATS"):
        stats = environment.stats
        entries = sorted(stats.entries.values(), key=lambda e: (e.name, e.method or ""))
        rows = [{"method": entry.method or "", "name": entry.name, "requests": entry.num_requests,
                 "failures": entry.num_failures, "rps": entry.total_rps,
                 "median": entry.get_response_time_percentile(0.5),
                 "p95": entry.get_response_time_percentile(0.95)} for entry in [*entries, stats.total]]
        errors = [{"method": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
                  for e in stats.errors.values()]
        with open(os.environ["LOAD_STATS"], "w", encoding="utf-8") as stats_file:
            json.dump({"endpoints": rows, "errors": errors}, stats_file)


def csrf_of(response) -> str | None:
    found = CSRF.search(response.text or "")
    return (found.group(1) or found.group(2)) if found else None


class PortalUser(FastHttpUser):
    """What every portal user does: browse the catalogue, search, open initiative pages."""

    abstract = True
    wait_time = _wait()

    def browse(self, admin: bool = False):
        params = {"sort": random.choice(["date", "relevance"]), "page": random.randint(1, 5)}
        if random.random() < 0.6:
            params["field"] = random.choice(PLAN["fields"])
        if random.random() < 0.4:
            params["province"] = random.choice(PLAN["provinces"])
        if admin and random.random() < 0.5:
            params["state"] = random.choice(PLAN["states"])
        self.client.get("/catalogue?" + urlencode(params), name="GET /catalogue (browse)")

    def search(self, mode: str):
        query = random.choice(PLAN["queries"])
        params = {"q": query, "mode": mode}
        if random.random() < 0.3:
            params["page"] = 2
        self.client.get("/catalogue?" + urlencode(params), name=f"GET /catalogue?q= ({mode})")

    def initiative_page(self, ids=None):
        initiative_id = random.choice(ids or PLAN["public_initiatives"])
        self.client.get(f"/initiatives/{initiative_id}", name="GET /initiatives/<id>")

    def login(self, email: str):
        page = self.client.get("/login", name="GET /login")
        with self.client.post("/login", data={"csrf_token": csrf_of(page), "email": email,
                                              "password": PLAN["password"]},
                              name="POST /login", allow_redirects=False, catch_response=True) as answer:
            if answer.status_code != 302:
                answer.failure(f"login {email}: {answer.status_code}")


class Visitor(PortalUser):
    """Someone without an account reading the public catalogue."""

    weight = 6

    @task(4)
    def browse_catalogue(self):
        self.browse()

    @task(3)
    def text_search(self):
        self.search("text")

    @task(2)
    def hybrid_search(self):
        self.search("hybrid")

    @task(4)
    def read_initiative(self):
        self.initiative_page()


class Proposer(PortalUser):
    """A proposer who reads the catalogue and writes and submits new initiatives."""

    weight = 5

    def on_start(self):
        self.account = PLAN["proposers"][next(_accounts["proposer"]) % len(PLAN["proposers"])]
        self.login(self.account["email"])
        self.own: list[int] = []

    @task(2)
    def browse_catalogue(self):
        self.browse()

    @task(1)
    def text_search(self):
        self.search(random.choice(["text", "hybrid"]))

    @task(1)
    def my_initiatives(self):
        self.client.get("/initiatives/mine", name="GET /initiatives/mine")
        if self.own:
            self.initiative_page(self.own)

    @task(3)
    def submit_initiative(self):
        """A new draft, then its submission: each step must answer with the redirect."""
        entry = {"marker": marker("initiative"), "account": self.account["email"],
                 "create": "attempted", "submit": None, "initiative_id": None}
        RECORD["submissions"].append(entry)
        form = self.client.get("/initiatives/new", name="GET /initiatives/new")
        draft = random.choice(PLAN["drafts"])
        values = {**draft, "csrf_token": csrf_of(form), "call_id": PLAN["standing_call"],
                  "title": f"{draft['title']} [{entry['marker']}]", "submit": "Save draft"}
        with self.client.post("/initiatives/new", data=values, name="POST /initiatives/new",
                              allow_redirects=False, catch_response=True) as answer:
            created = CREATED.search(answer.headers.get("Location") or "")
            if answer.status_code != 302 or not created:
                entry["create"] = f"failed {answer.status_code}"
                answer.failure(f"draft not saved: {answer.status_code}")
                return
            entry["create"] = "ok"
            entry["initiative_id"] = initiative_id = int(created.group(1))
        self.own.append(initiative_id)
        page = self.client.get(f"/initiatives/{initiative_id}/submit", name="GET /initiatives/<id>/submit")
        entry["submit"] = "attempted"
        with self.client.post(f"/initiatives/{initiative_id}/submit", data={"csrf_token": csrf_of(page)},
                              name="POST /initiatives/<id>/submit", allow_redirects=False,
                              catch_response=True) as answer:
            location = answer.headers.get("Location") or ""
            if answer.status_code == 302 and location.endswith(f"/initiatives/{initiative_id}"):
                entry["submit"] = "ok"
            else:
                entry["submit"] = f"failed {answer.status_code}"
                answer.failure(f"not submitted: {answer.status_code} {location}")


class Expert(PortalUser):
    """An expert working through their accepted assignments: drafts saved, reviews submitted."""

    weight = 5

    def on_start(self):
        self.account = PLAN["experts"][next(_accounts["expert"]) % len(PLAN["experts"])]
        self.login(self.account["email"])
        self.queue = list(self.account["assignments"])
        self.saved: set[int] = set()

    @task(2)
    def browse_catalogue(self):
        self.browse()

    @task(1)
    def search_catalogue(self):
        self.search(random.choice(["text", "hybrid"]))

    @task(1)
    def my_reviews(self):
        self.client.get("/review/mine", name="GET /review/mine")

    @task(4)
    def review(self):
        """Open the next assignment, save a draft; submit it, or (one time in three, on the
        first visit) leave the draft for later."""
        if not self.queue:
            self.my_reviews()
            return
        assignment = self.queue.pop(0)
        page = self.client.get(f"/review/assignments/{assignment}", name="GET /review/assignments/<id>")
        token = csrf_of(page)
        submit = assignment in self.saved or random.random() >= 1 / 3
        if not self.save(assignment, token, submit=False):
            return
        self.saved.add(assignment)
        if submit:
            self.save(assignment, token, submit=True)
        else:
            self.queue.append(assignment)

    def save(self, assignment: int, token: str | None, submit: bool) -> bool:
        kind = "submit" if submit else "draft"
        entry = {"assignment": assignment, "marker": marker(f"review-{kind}"), "kind": kind,
                 "status": "attempted"}
        RECORD["reviews"].append(entry)
        values = {"csrf_token": token, "confidence": str(random.randint(1, 5)),
                  "recommendation": random.choice(["accept", "revise", "reject"]),
                  "comments_to_proposer": f"Load review {entry['marker']}: clear aims, modest budget.",
                  "confidential_comments": ""}
        for criterion, (low, high) in PLAN["criteria"].items():
            values[f"score_{criterion}"] = str(random.randint(low, high))
        values["submit" if submit else "save"] = "Submit the review" if submit else "Save draft"
        with self.client.post(f"/review/assignments/{assignment}/review", data=values,
                              name=f"POST /review/assignments/<id>/review ({kind})",
                              allow_redirects=False, catch_response=True) as answer:
            location = answer.headers.get("Location") or ""
            if answer.status_code == 302 and location.endswith(f"/review/assignments/{assignment}"):
                entry["status"] = "ok"
                return True
            entry["status"] = f"failed {answer.status_code}"
            answer.failure(f"review {kind} of {assignment}: {answer.status_code}")
            return False


class Admin(PortalUser):
    """The administrator: the whole catalogue, the initiative list, pages with expert suggestions."""

    fixed_count = 1

    def on_start(self):
        self.login(PLAN["admin"])

    @task(2)
    def browse_catalogue(self):
        self.browse(admin=True)

    @task(2)
    def search_catalogue(self):
        self.search(random.choice(["text", "hybrid"]))

    @task(1)
    def all_initiatives(self):
        params = {"state": random.choice(PLAN["states"]), "page": random.randint(1, 5)}
        self.client.get("/initiatives/all?" + urlencode(params), name="GET /initiatives/all")

    @task(2)
    def read_initiative(self):
        self.initiative_page(PLAN["any_initiatives"])


class Hello(FastHttpUser):
    """The ceiling: the same client, the same users, one route that only says hello."""

    wait_time = _wait()

    @task
    def hello(self):
        self.client.get("/", name="GET / (hello)")
