"""Members API: bearer tokens, CSV import, filtered cursor paging."""

import pytest

from textbank.accounts import revoke_tokens
from textbank.db import session_scope

CSV = (
    "first_name,last_name,phone,local,tags\n"
    "Ana,Rivera,617-555-0101,1199,captain;gotv\n"
    "Luis,Chen,617-555-0102,26,\n"
    "Rosa,Silva,617-555-0103,1199,\n"
    "Bad,Row,12,1199,\n"
)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/members"), ("post", "/api/v1/members/import")],
)
def test_api_requires_a_valid_token(client, method, path):
    assert getattr(client, method)(path).status_code == 401
    response = getattr(client, method)(path, headers={"Authorization": "Bearer tb_forged"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "invalid or revoked token"}


def test_volunteer_token_is_forbidden(client, volunteer_token):
    response = client.get("/api/v1/members", headers={"Authorization": f"Bearer {volunteer_token}"})
    assert response.status_code == 403
    assert "volunteer" in response.get_json()["error"]


def test_revoked_token_stops_working(client, sessions, manager_token, auth):
    assert client.get("/api/v1/members", headers=auth).status_code == 200
    with session_scope(sessions) as session:
        assert revoke_tokens(session, "manager@example.org") == 1
    assert client.get("/api/v1/members", headers=auth).status_code == 401


def test_import_then_list_with_filters_and_paging(client, auth):
    response = client.post(
        "/api/v1/members/import", data=CSV, headers=auth, content_type="text/csv"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("created", "updated", "unchanged")} == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
    }
    assert body["rejected"] == [{"row": 5, "reason": "invalid phone '12'"}]

    page = client.get("/api/v1/members?limit=2", headers=auth).get_json()
    assert [m["first_name"] for m in page["members"]] == ["Ana", "Luis"]
    assert page["next"]
    rest = client.get(f"/api/v1/members?limit=2&after={page['next']}", headers=auth).get_json()
    assert [m["first_name"] for m in rest["members"]] == ["Rosa"]
    assert rest["next"] is None

    local = client.get("/api/v1/members?local=Local%201199", headers=auth).get_json()
    assert [m["first_name"] for m in local["members"]] == ["Ana", "Rosa"]
    ana = client.get("/api/v1/members?phone=(617)%20555-0101", headers=auth).get_json()["members"]
    assert ana == [
        {
            "id": ana[0]["id"],
            "first_name": "Ana",
            "last_name": "Rivera",
            "phone": "+16175550101",
            "email": None,
            "local": "1199",
            "worksite": None,
            "language": "en",
            "status": "active",
            "tags": ["captain", "gotv"],
            "opted_out": False,
            "leader": False,
        }
    ]


def test_import_as_multipart_upload(client, auth):
    response = client.post(
        "/api/v1/members/import",
        headers=auth,
        data={"file": (__import__("io").BytesIO(CSV.encode()), "members.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert response.get_json()["created"] == 3


def test_unreadable_upload_is_400_and_writes_nothing(client, auth):
    response = client.post(
        "/api/v1/members/import",
        data=b"name,email\nAna,a@b.org\n",
        headers=auth,
        content_type="text/csv",
    )
    assert response.status_code == 400
    assert "no phone column" in response.get_json()["error"]
    assert client.get("/api/v1/members", headers=auth).get_json()["members"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [("limit=0", "limit"), ("limit=abc", "limit"), ("after=xyz", "cursor"), ("phone=12", "phone")],
)
def test_bad_query_parameters_are_named(client, auth, query, message):
    response = client.get(f"/api/v1/members?{query}", headers=auth)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
