"""No request can make the app read or parse more than its honest work needs."""

import io
import re

import pytest
from blast_helpers import inbound, seed, signed_post
from twilio.request_validator import RequestValidator

from textbank.web import limits

CSV_HEAD = b"first_name,phone\n"
FORM = "application/x-www-form-urlencoded"


def _rows(n: int) -> bytes:
    return CSV_HEAD + b"".join(b"Ana,+1617555%04d\n" % (i % 10000) for i in range(n))


def test_a_webhook_body_of_a_million_fields_is_refused_unparsed(client, settings):
    flood = b"&".join(b"a=%d" % i for i in range(300_000))  # about 2.6 MB
    response = client.post("/twilio/sms", data=flood, content_type=FORM,
                           headers={"X-Twilio-Signature": "x"})  # fmt: skip
    assert response.status_code == 413


def test_a_webhook_body_under_the_size_limit_with_too_many_fields_is_refused(client):
    flood = b"&".join(b"a" for _ in range(20_000))  # 40 KB, 20,000 fields
    response = client.post("/twilio/sms", data=flood, content_type=FORM,
                           headers={"X-Twilio-Signature": "x"})  # fmt: skip
    assert response.status_code == 413


def test_a_chunked_webhook_flood_is_refused(client):
    flood = io.BytesIO(b"a=1&" * 500_000)
    response = client.post("/twilio/sms", input_stream=flood,
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": "x"},
                           environ_overrides={"wsgi.input_terminated": True})  # fmt: skip
    assert response.status_code == 413


def test_an_ordinary_signed_reply_with_pictures_still_goes_through(client, settings, sessions):
    seed(sessions, [("Ana", "617-555-0101", "1199", "en")])
    media = {f"MediaUrl{i}": f"https://api.twilio.com/media/ME{i:032x}" for i in range(10)}
    media |= {f"MediaContentType{i}": "image/jpeg" for i in range(10)}
    params = inbound("+16175550101", "x" * 1600, NumMedia="10", **media)
    assert signed_post(client, settings, "/twilio/sms", params).status_code == 200


def test_the_signature_is_computed_once(client, settings, monkeypatch):
    calls = []
    original = RequestValidator.compute_signature

    def counting(self, uri, params):
        calls.append(uri)
        return original(self, uri, params)

    monkeypatch.setattr(RequestValidator, "compute_signature", counting)
    forged = signed_post(client, settings, "/twilio/sms", inbound("+16175550101", "hi"), "bad")
    assert forged.status_code == 403
    assert len(calls) == 1


def test_a_reply_handed_on_to_the_route_is_signed_once(client, settings, monkeypatch):
    """HELP is answered by the Flask route, behind the plain path that already checked the
    signature: the route takes that verdict rather than computing it again."""
    params = inbound("+16175550101", "HELP")
    url = settings.public_base_url + "/twilio/sms"
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    calls = []
    original = RequestValidator.compute_signature

    def counting(self, uri, params):
        calls.append(uri)
        return original(self, uri, params)

    monkeypatch.setattr(RequestValidator, "compute_signature", counting)
    response = signed_post(client, settings, "/twilio/sms", params, signature)
    assert response.status_code == 200 and b"<Message>" in response.data
    assert len(calls) == 1


def test_sign_in_refuses_a_huge_form(client):
    response = client.post("/login", data={"email": "a@b.c", "password": "x" * 2_000_000})
    assert response.status_code == 413
    fields = "&".join(f"f{i}=1" for i in range(5_000))
    response = client.post("/login", data=fields, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_console_forms_refuse_a_large_multipart_body(client):
    files = {"file": (io.BytesIO(b"x" * (3 * 1024 * 1024)), "big.bin")}
    assert client.post("/logout", data=files).status_code == 413


@pytest.mark.parametrize("chunked", [False, True])
def test_an_upload_past_the_limit_is_refused_not_truncated(client, auth, monkeypatch, chunked):
    monkeypatch.setattr(limits, "UPLOAD_MAX_BYTES", 256 * 1024)
    body = _rows(30_000)  # about 750 KB
    assert len(body) > limits.UPLOAD_MAX_BYTES
    if chunked:
        extra = {"environ_overrides": {"wsgi.input_terminated": True}}
    else:
        extra = {"content_length": len(body)}
    response = client.post("/api/v1/members/import", input_stream=io.BytesIO(body),
                           content_type="text/csv", headers=auth, **extra)  # fmt: skip
    assert response.status_code == 413
    assert "limited" in response.get_json()["error"] or "large" in response.get_json()["error"]
    assert client.get("/api/v1/members", headers=auth).get_json()["members"] == []


def test_a_chunked_multipart_upload_past_the_limit_is_refused(client, auth, monkeypatch):
    monkeypatch.setattr(limits, "UPLOAD_MAX_BYTES", 256 * 1024)
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        method="POST", data={"file": (io.BytesIO(_rows(30_000)), "members.csv")}
    )
    body = builder.get_environ()["wsgi.input"].read()
    response = client.post("/api/v1/members/import", input_stream=io.BytesIO(body),
                           content_type=builder.content_type, headers=auth,
                           environ_overrides={"wsgi.input_terminated": True})  # fmt: skip
    assert response.status_code == 413


def test_an_upload_under_the_limit_imports_every_row_chunked(client, auth):
    body = _rows(3000)
    response = client.post("/api/v1/members/import", input_stream=io.BytesIO(body),
                           content_type="text/csv", headers=auth,
                           environ_overrides={"wsgi.input_terminated": True})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.get_json()["created"] == 3000


def test_a_console_upload_endpoint_takes_large_files_only_from_a_signed_in_manager(app, sessions):
    from flask import request

    from textbank.accounts import create_user
    from textbank.db import session_scope
    from textbank.web.auth import login_required

    @app.post("/upload-test")
    @login_required()
    def upload_test():
        return {"bytes": len(request.files["file"].read())}

    limits.UPLOAD_ENDPOINTS.add("upload_test")
    try:
        files = {"file": (io.BytesIO(b"x" * (3 * 1024 * 1024)), "members.csv")}
        stranger = app.test_client()  # the CSRF check would parse the form: refused first
        assert stranger.post("/upload-test", data=files).status_code == 413
        with session_scope(sessions) as session:
            create_user(session, "lead@example.org", "manager", "correct horse battery")
        manager = app.test_client()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          manager.get("/login").text).group(1)  # fmt: skip
        manager.post("/login", data={"email": "lead@example.org", "csrf_token": token,
                                     "password": "correct horse battery"})  # fmt: skip
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          manager.get("/dashboard").text).group(1)  # fmt: skip
        files = {"file": (io.BytesIO(b"x" * (3 * 1024 * 1024)), "members.csv"),
                 "csrf_token": token}  # fmt: skip
        answer = manager.post("/upload-test", data=files)
        assert answer.status_code == 200 and answer.get_json()["bytes"] == 3 * 1024 * 1024
    finally:
        limits.UPLOAD_ENDPOINTS.discard("upload_test")


def test_the_consoles_upload_forms_take_large_files_from_a_manager(app, sessions):
    assert {"members.uploads", "optouts.upload"} <= limits.UPLOAD_ENDPOINTS
    assert {"members.uploads", "optouts.upload"} <= set(app.view_functions)
