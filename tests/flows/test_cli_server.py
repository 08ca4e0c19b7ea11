"""`echelon server` binds to loopback by default and says so loudly when told otherwise."""

import os

from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def started_with(monkeypatch, tmp_path, *args):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((argv, env)))
    result = runner.invoke(app, ["server", "--home", str(tmp_path), *args])
    assert result.exit_code == 0, result.stderr
    return result, calls[0]


def test_loopback_by_default_without_a_warning(monkeypatch, tmp_path):
    result, (argv, env) = started_with(monkeypatch, tmp_path)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "warning" not in result.stderr and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_HOME"] == str(tmp_path.resolve() / "prefect")


def test_an_open_host_is_warned_about(monkeypatch, tmp_path):
    result, (argv, _) = started_with(monkeypatch, tmp_path, "--host", "0.0.0.0")
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert "warning: --host 0.0.0.0" in result.stderr and "no authentication" in result.stderr
