"""Creating campaigns: clear refusals, previews with encoding and segments."""

import pytest
from blast_helpers import seed

BASE = {
    "name": "Petition",
    "kind": "petition",
    "message": "Hi {first_name}, sign for safe staffing: reply SIGN",
    "audience": {"locals": ["1199"]},
    "keywords": {"sign": "signed_petition"},
}


@pytest.fixture
def members(sessions):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en"), ("Luis", "617-555-0102", "26", "es")])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"message": "Hi {nickname}!"}, "unknown merge field {nickname}"),
        ({"translations": {"es": "Hola {apodo}"}}, "translations.es: unknown merge field {apodo}"),
        ({"audience": {"locals": ["999"]}}, "the audience is empty: no member matches locals 999"),
        ({"audience": {"zip": ["02139"]}}, "unknown audience filter 'zip'"),
        ({"kind": "fundraising"}, "kind must be one of gotv, petition, volunteer, survey"),
        ({"name": ""}, "name is required"),
        ({"keywords": {"SIGN": "Signed Petition!"}}, "the outcome must be a name"),
        ({"replies": {"pledged": "Thanks"}}, "replies.pledged: no keyword records this outcome"),
    ],
)
def test_bad_campaigns_are_refused_with_the_reason(client, auth, members, changes, message):
    response = client.post("/api/v1/campaigns", json={**BASE, **changes}, headers=auth)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_not_json_is_refused(client, auth, members):
    response = client.post("/api/v1/campaigns", data="name=x", headers=auth)
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


def test_created_campaign_shows_encoding_and_segments(client, auth, members):
    long_spanish = "Hola {first_name}, " + "¿firmarás la petición? " * 4
    response = client.post(
        "/api/v1/campaigns",
        json={**BASE, "translations": {"Spanish": long_spanish}, "channel": "sms"},
        headers=auth,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "draft"
    assert body["keywords"] == {"SIGN": "signed_petition"}
    assert body["preview"]["default"]["encoding"] == "GSM-7"
    assert body["preview"]["default"]["segments"] == 1
    assert body["preview"]["es"]["encoding"] == "UCS-2"
    assert body["preview"]["es"]["segments"] == 2
    got = client.get(f"/api/v1/campaigns/{body['id']}", headers=auth).get_json()
    assert got == body


def test_campaign_routes_need_a_manager(client, volunteer_token, members):
    headers = {"Authorization": f"Bearer {volunteer_token}"}
    assert client.post("/api/v1/campaigns", json=BASE, headers=headers).status_code == 403
    assert client.post("/api/v1/campaigns/1/launch").status_code == 401


def test_unknown_campaign_is_404(client, auth):
    response = client.get("/api/v1/campaigns/999", headers=auth)
    assert response.status_code == 404
    assert response.get_json() == {"error": "no campaign 999"}
