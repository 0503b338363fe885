"""`ledgerbridge keys create|list|revoke` and `environments create|list` on the database
the server uses: a key made on the command line works at once with its scope in its
environment (the key alone on the last line of output), and a revoked one is refused at
the next request."""

from __future__ import annotations

import pytest
from click.testing import Result
from fastapi import FastAPI
from typer.testing import CliRunner

from asgi_client import TestClient
from ledgerbridge.cli import app as cli


@pytest.fixture
def run(cli_in_process: CliRunner) -> CliRunner:
    return cli_in_process


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def test_keys_are_created_listed_and_revoked_from_the_command_line(
    run: CliRunner, app: FastAPI
) -> None:
    made = _ok(run.invoke(cli, ["keys", "create", "--environment", "prod", "--scope", "read"]))
    key = made.strip().splitlines()[-1]
    assert key.startswith("lb_")
    assert " " not in key
    [line] = _ok(run.invoke(cli, ["keys", "list"])).strip().splitlines()
    key_id, prefix, environment, scope = line.split("\t")[:4]
    assert (environment, scope) == ("prod", "read")
    assert key.startswith(prefix.removesuffix("..."))
    assert key not in line
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as keyed:
        assert keyed.get("/connections").status_code == 200
        assert keyed.post("/keys", json={}).status_code == 403  # read scope
        _ok(run.invoke(cli, ["keys", "revoke", key_id]))
        assert keyed.get("/connections").status_code == 401
    assert run.invoke(cli, ["keys", "revoke", key_id]).exit_code == 1
    unknown = run.invoke(cli, ["keys", "create", "--environment", "nowhere"])
    assert unknown.exit_code == 1
    assert "nowhere" in unknown.output


def test_environments_are_created_and_listed(run: CliRunner) -> None:
    assert _ok(run.invoke(cli, ["environments", "create", "staging"])).strip() == "staging"
    assert run.invoke(cli, ["environments", "create", "staging"]).exit_code == 1
    assert run.invoke(cli, ["environments", "create", "Not Valid"]).exit_code == 1
    listed = _ok(run.invoke(cli, ["environments", "list"]))
    assert [line.split("\t")[0] for line in listed.splitlines()] == ["dev", "prod", "staging"]
    made = _ok(run.invoke(cli, ["keys", "create", "--environment", "staging", "--name", "ci"]))
    assert made.strip().splitlines()[-1].startswith("lb_")
