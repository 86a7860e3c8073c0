"""The textbank command: users, tokens, member import."""

import json

from textbank.accounts import authenticate_token, check_password, find_user
from textbank.db import session_scope


def test_users_create_generates_password_and_tokens_print_last_line(runner, sessions):
    result = runner.invoke(args=["users", "create", "Boss@Example.org", "--role", "manager"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].removeprefix("password: ")
    with session_scope(sessions) as session:
        assert check_password(find_user(session, "boss@example.org"), password)

    result = runner.invoke(args=["tokens", "create", "boss@example.org"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    with session_scope(sessions) as session:
        assert authenticate_token(session, token).email == "boss@example.org"


def test_password_from_stdin_and_duplicate_refused(runner, sessions):
    result = runner.invoke(
        args=["users", "create", "v@example.org", "--role", "volunteer", "--password-stdin"],
        input="long enough pw\n",
    )
    assert result.exit_code == 0, result.output
    assert "password:" not in result.output
    with session_scope(sessions) as session:
        assert check_password(find_user(session, "v@example.org"), "long enough pw")
    again = runner.invoke(args=["users", "create", "v@example.org", "--role", "volunteer"])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_tokens_for_unknown_user_fail_clearly(runner):
    result = runner.invoke(args=["tokens", "create", "nobody@example.org"])
    assert result.exit_code == 1
    assert "no user with email nobody@example.org" in result.output


def test_members_import_json_and_bad_file_exit_2(runner, tmp_path):
    good = tmp_path / "members.csv"
    good.write_text("Mobile,First\n617-555-0101,Ana\nnope,Bad\n")
    result = runner.invoke(args=["members", "import", str(good), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["created"] == 1
    assert body["rejected"] == [{"row": 3, "reason": "unreadable phone 'nope'"}]

    bad = tmp_path / "photo.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = runner.invoke(args=["members", "import", str(bad)])
    assert result.exit_code == 2
    assert "binary" in result.output
