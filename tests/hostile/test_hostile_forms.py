"""Every form of the HTML portal fuzzed with generated input (hypothesis): whatever is posted, the
answer is never a server error. The routes come from the route list, so a new form is fuzzed (or
this test fails until it is). The API is fuzzed against its OpenAPI document in
tests/test_api_schema.py.

Each route is posted to by the person who may use it (from the access table), so the handlers run
past their access checks into form validation and the services. Field names are those of every
form class in the portal plus random ones; values are any text (NUL, long, right-to-left, markup),
numbers out of range, repeated keys and, for attachments, random bytes under any file name."""

import io
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hostile.conftest import ANONYMOUS, WHO
from tests.hostile.test_hostile_access import TABLE, _example_ids, _rule_of

EXAMPLES = 15

# POST routes without an object, and who posts to them.
PLAIN_FORMS = {
    "/register": ANONYMOUS,
    "/login": ANONYMOUS,
    "/account/forgot": ANONYMOUS,
    "/account": "proposer",
    "/account/password": "proposer",
    "/account/tokens": "proposer",
    "/notifications": "proposer",
    "/initiatives/new": "proposer",
    "/demands/new": "owner",
    "/expert/profile": "reviewer",
    "/expert/publications": "reviewer",
    "/expert/conflicts": "reviewer",
    "/expert/person-conflicts": "reviewer",
    "/connections/request": "owner",
    "/connections/suggest": "admin",
    "/review/calls/new": "admin",
    "/logout": "other",
}
# Refusals: a role that answers with one of these has not reached the form. (A 404 may come
# from the form itself: the expert id posted to "invite" does not exist.)
REFUSED = {401, 403}


def _form_field_names() -> list[str]:
    """The field names of every form class the portal defines."""
    import initiatives.forms as base
    from initiatives import create_app  # noqa: F401  (imports every area's forms)

    names, pending = set(), list(base.PortalForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        names.update(name for name in dir(form) if not name.startswith("_")
                     and getattr(getattr(form, name), "field_class", None) is not None)
    return sorted(names)


# Fuzzed last: they may take the proposer's roles away, deactivate the account or sign out.
LAST = ("/admin/users/{user}", "/admin/users/{user}/activation", "/logout")


def _table_forms():
    """(template, who) for each POST row of the access table that someone may use: posted to by
    the first person the table lets through. (A row refused to everyone, such as the accepted
    initiative's edit form, is proven by the table; the same rule is fuzzed on the draft.)"""
    rows = []
    for row, statuses in TABLE.items():
        method, template = row.split(" ", 1)
        if method != "POST" or template.startswith("/api/"):
            continue
        allowed = [who for who, status in zip(WHO, statuses, strict=True) if status not in REFUSED
                   and not (who == ANONYMOUS and status == 302)]
        if allowed:
            rows.append((template, allowed[0]))
    return rows


def _fuzz_targets(world):
    """(path, who, multipart) for every POST route of the HTML portal."""
    targets, last = [], []
    for template, who in _table_forms():
        target = (template.format(**world), who, template.endswith("/attachments"))
        (last if template in LAST else targets).append(target)
    targets += [(path, who, False) for path, who in PLAIN_FORMS.items() if path not in LAST]
    return targets + last + [("/logout", PLAIN_FORMS["/logout"], False)]


def test_every_html_post_route_is_fuzzed(app):
    fuzzed = {_rule_of(app, "POST", template.format(**_example_ids())) for template, _who in _table_forms()}
    fuzzed |= set(PLAIN_FORMS)
    posts = {rule.rule for rule in app.url_map.iter_rules()
             if "POST" in rule.methods and not rule.rule.startswith("/api/")}
    assert sorted(posts - fuzzed) == [], "add the new form to TABLE (with an object) or PLAIN_FORMS"


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
NASTY = st.sampled_from([
    "", " ", "\x00", "a\x00b", "0", "-1", "99999999999999999999999", "1e309", "NaN", "null", "[]", "{}",
    "1; DROP TABLE initiative; --", "' OR '1'='1", "<script>alert(1)</script>", "../../etc/passwd",
    "\u202eevil", "Đà Nẵng", "2026-02-30", "true", "on", "%00", "\r\n\r\n",
])
LONG = st.integers(min_value=1, max_value=60000).map(lambda n: "x" * n)  # past every Length()
VALUE = st.one_of(TEXT, NASTY, LONG, st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str))


@pytest.fixture
def form_values(app):
    names = _form_field_names()
    assert {"title", "email", "password", "note", "reason"} <= set(names)
    keys = st.one_of(st.sampled_from(names), TEXT.filter(lambda key: key != "csrf_token"))
    return st.dictionaries(keys, st.one_of(VALUE, st.lists(VALUE, max_size=3)), max_size=8)


def _fuzz(client, path, multipart, form_values, codes):
    """Post ``EXAMPLES`` generated forms to ``path``; raises on the first server error."""
    token = client._csrf_token()  # once per route: the session keeps its token

    @given(data=form_values, upload=st.tuples(st.binary(max_size=600), TEXT))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def post(data, upload):
        data = {**data, "csrf_token": token}
        if multipart:
            content, name = upload
            data["file"] = (io.BytesIO(content), name or "x")
        response = client.post(path, data=data, content_type="multipart/form-data" if multipart else None)
        codes.add(response.status_code)
        assert response.status_code < 500, f"{response.status_code} for {data!r}"

    post()


def test_no_form_input_gives_a_server_error(app, world, cast, login, form_values):
    clients = {who: app.test_client() if who == ANONYMOUS else login(cast[who]) for who in WHO}
    failures, seen = [], {}
    for path, who, multipart in _fuzz_targets(world):
        try:
            _fuzz(clients[who], path, multipart, form_values, seen.setdefault(path, set()))
        except Exception as error:  # noqa: BLE001  (gather every route's failure, then report)
            failures.append(f"POST {path} as {who}: {error}")
    if os.environ.get("HOSTILE_PRINT_CODES"):
        print("\n".join(f"{path}: {sorted(codes)}" for path, codes in seen.items()))
    assert failures == [], "\n".join(failures)
