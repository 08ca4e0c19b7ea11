"""The webhook message: which run, what happened, why, where to look; slow runs reported."""

import http.server
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from flows import notify


@pytest.fixture()
def received(monkeypatch):
    messages = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            messages.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(notify.URL_VARIABLE, f"http://127.0.0.1:{server.server_port}/")
    yield messages
    server.shutdown()


def _run(minutes_ago: float):
    return SimpleNamespace(name="quiet-otter", id=uuid.uuid4(),
                           start_time=datetime.now(timezone.utc) - timedelta(minutes=minutes_ago))


def _state(name: str, message: str = "", crashed: bool = False):
    return SimpleNamespace(name=name, message=message, is_crashed=lambda: crashed)


def test_a_failed_or_crashed_run_is_posted(received):
    flow = SimpleNamespace(name="dataset-rebuild")
    run = _run(3)
    notify.on_failure(flow, run, _state("Failed", "disk full"))
    notify.on_failure(flow, run, _state("Crashed", "SIGKILL", crashed=True))
    failed, crashed = received
    assert failed["flow_run"] == "quiet-otter" and failed["reason"] == "failed: disk full"
    assert crashed["reason"] == "crashed: SIGKILL" and 170 < failed["duration_s"] < 190
    assert "dataset-rebuild run quiet-otter failed" in failed["text"]


def test_only_a_slow_completed_run_is_posted(received, monkeypatch):
    monkeypatch.setenv(notify.SLOW_VARIABLE, "600")
    flow = SimpleNamespace(name="dataset-rebuild")
    notify.on_completion(flow, _run(5), _state("Completed"))
    assert received == []
    notify.on_completion(flow, _run(15), _state("Completed"))
    assert len(received) == 1 and "more than 600 s" in received[0]["reason"]


def test_a_webhook_that_is_down_is_not_an_error(monkeypatch):
    monkeypatch.setenv(notify.URL_VARIABLE, "http://127.0.0.1:9/nothing-listens")
    notify.on_failure(SimpleNamespace(name="f"), _run(1), _state("Failed", "x"))
