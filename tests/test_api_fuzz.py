"""Property-based: whatever a program sends the API, the answer is never a 5xx, and a 4xx
names the field it is about (issue 13 §5)."""

from __future__ import annotations

import pytest
from blast_helpers import seed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Function-scoped fixtures (app, client) are shared by a test's examples on purpose: one
# app per test, and what an example created is there for the next, as in real use.
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip

EDGE_TEXT = st.sampled_from([
    "", " ", "0", "-1", "1", "2147483647", "2147483648", "9223372036854775808",
    "99999999999999999999999", "1e9", "0x10", "²", "١٢", "true", "null", "\x00", "a\x00b",
    "0000-01-01", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-12:00", "10000-01-01",
    "2026-02-30", "2026-13-01", "2026-11-01", "2026-11-01T10:00:00Z", "2026-11-01T25:00",
    "America/New_York", "Mars/Olympus", "../../etc/passwd", "'; DROP TABLE members; --",
    "<script>", "x" * 300, "\ud7ff", "\U0001f600",
])  # fmt: skip
TEXT = st.one_of(EDGE_TEXT, st.text(max_size=40))
NUMBER = st.one_of(st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=True, allow_infinity=True))  # fmt: skip
SCALAR = st.one_of(st.none(), NUMBER, TEXT)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _names_a_field(response, fields) -> bool:
    error = response.get_json()["error"]
    return any(field in error for field in fields)


def _check(response, fields) -> None:
    assert response.status_code < 500, response.data
    if 400 <= response.status_code < 500 and response.status_code != 404:
        assert _names_a_field(response, fields), (fields, response.get_json())


QUERIES = {
    "/api/v1/members": ("after", "limit", "local", "phone"),
    "/api/v1/campaigns": ("after", "limit", "state", "kind", "mode"),
    "/api/v1/conversations": ("campaign", "local", "status", "assigned", "language", "q",
                              "limit", "after"),
    "/api/v1/reports/engagement": ("by", "campaign", "local", "from", "to", "format"),
    "/api/v1/opt-outs": ("since", "format"),
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(QUERIES))
@FUZZ
@given(data=st.data())
def test_query_strings_never_5xx_and_4xx_names_the_field(client, auth, path, data):
    names = QUERIES[path]
    query = data.draw(st.dictionaries(st.sampled_from(names), TEXT, max_size=len(names)))
    _check(client.get(path, query_string=query, headers=auth), list(query))


ID_PATHS = (
    "/api/v1/campaigns/{}", "/api/v1/campaigns/{}/stats", "/api/v1/conversations/{}",
    "/api/v1/members/{}/outcomes",
)  # fmt: skip


@FUZZ
@given(path=st.sampled_from(ID_PATHS), number=st.integers(min_value=0, max_value=2**80))
def test_path_ids_never_5xx(client, auth, path, number):
    response = client.get(path.format(number), headers=auth)
    assert response.status_code < 500, response.data
    if response.status_code == 400:
        assert "_id" in response.get_json()["error"]


CAMPAIGN_KEYS = ("name", "kind", "channel", "message", "translations", "audience", "keywords",
                 "replies", "goals", "mode", "volunteer_replies", "canned_responses", "survey",
                 "batch_size", "reclaim_minutes", "voice")  # fmt: skip
BASE_CAMPAIGN = {"name": "GOTV", "kind": "gotv", "message": "Vote, {first_name}!"}


@pytest.fixture
def members(sessions):
    seed(sessions, [("Ana", "+16175550101", "1199", "en")])


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(CAMPAIGN_KEYS), JSON, min_size=1, max_size=3))
def test_new_campaigns_never_5xx_and_4xx_names_the_field(client, auth, members, changes):
    response = client.post("/api/v1/campaigns", json={**BASE_CAMPAIGN, **changes},
                           headers=auth)  # fmt: skip
    _check(response, list(changes))


@FUZZ
@given(body=st.dictionaries(st.sampled_from(("name", "campaign_id", "source", "note")), JSON,
                            max_size=4))  # fmt: skip
def test_outcomes_never_5xx_and_4xx_names_the_field(client, auth, members, body):
    response = client.post("/api/v1/members/1/outcomes", json={"name": "rally", **body},
                           headers=auth)  # fmt: skip
    _check(response, [*body, "name"])


@FUZZ
@given(body=st.dictionaries(st.sampled_from(("frequency", "weekday", "hour", "timezone")), JSON,
                            max_size=4))  # fmt: skip
def test_digests_never_5xx_and_4xx_names_the_field(client, auth, body):
    response = client.post("/api/v1/digests", json={"frequency": "daily", **body}, headers=auth)
    _check(response, [*body, "frequency"])


@FUZZ
@given(phones=st.lists(JSON, max_size=4))
def test_opt_out_lists_never_5xx(client, auth, phones):
    response = client.post("/api/v1/opt-outs", json={"phones": phones}, headers=auth)
    _check(response, ["phone"])


@FUZZ
@given(body=JSON)
def test_any_json_body_never_5xx(client, auth, members, body):
    for path in ("/api/v1/campaigns", "/api/v1/members/1/outcomes", "/api/v1/digests"):
        response = client.post(path, json=body, headers=auth)
        assert response.status_code < 500, (path, body, response.data)
