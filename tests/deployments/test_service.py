"""The service loop on one machine: a real Prefect server on a free loopback port, `echelon
serve` registering the deployments, a rebuild triggered through the API, its artifacts read
back through the API; then everything started here is stopped by its process id."""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ECHELON = str(Path(sys.executable).with_name("echelon"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception:  # not up yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """End a process group we started, by its id: politely, then for sure."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    """A local webhook that keeps every JSON message POSTed to it."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()


@pytest.fixture(scope="module")
def service(tiny_library, trained_vqvae, webhook, tmp_path_factory):
    from storage.home import Home

    home = tmp_path_factory.mktemp("service_home")
    Home(home).vqvae_checkpoint.parent.mkdir(parents=True)  # a tokenizer is trained: the
    shutil.copy(trained_vqvae.checkpoint, Home(home).vqvae_checkpoint)  # night tokenizes too
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1"}  # a triggered run starts
                                                                    # in 1 s, not 10
    env.pop("PREFECT_HOME", None)
    logs = home / "logs"
    logs.mkdir()
    started = []
    try:
        server = subprocess.Popen([ECHELON, "server", "--home", str(home), "--port", str(port)],
                                  env=env, start_new_session=True,
                                  stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT)
        started.append(server)
        wait_for(lambda: urllib.request.urlopen(f"{api}/health", timeout=2).status == 200, 120,
                 "the Prefect server answering")
        serve = subprocess.Popen([ECHELON, "serve", "--home", str(home), "--library",
                                  str(tiny_library), "--notify-url", webhook[0]],
                                 env=env, start_new_session=True,
                                 stdout=open(logs / "serve.log", "w"), stderr=subprocess.STDOUT)
        started.append(serve)
        yield {"api": api, "home": home, "library": tiny_library, "logs": logs,
               "webhook": webhook[1]}
    finally:
        for process in reversed(started):
            stop(process)


def client_settings(api: str):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: api})


def test_trigger_a_rebuild_through_the_api_and_read_its_artifacts(service):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId,
                                                FlowRunFilter, FlowRunFilterParentFlowRunId)
    from prefect.deployments import run_deployment

    with client_settings(service["api"]):
        with get_client(sync_client=True) as client:
            expected = {"nightly-rebuild", "tokenize", "train-vqvae", "train-diffusion",
                        "train-mapper", "render"}
            wait_for(lambda: expected <= {d.name for d in client.read_deployments()}, 120,
                     "the deployments being registered")
            deployment = client.read_deployment_by_name("dataset-rebuild/nightly-rebuild")
            assert deployment.parameters["library"] == str(service["library"])
            assert deployment.global_concurrency_limit.limit == 1
            assert any(s.schedule.cron == "0 3 * * *" for s in deployment.schedules)

        run = run_deployment("dataset-rebuild/nightly-rebuild", timeout=300,
                             parameters={"library": str(service["library"]),
                                         "home": str(service["home"])})
        assert run.state.is_completed(), (run.state, (service["logs"] / "serve.log").read_text())
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    by_key = {a.key: a for a in artifacts}
    assert {"dataset-rebuild-summary", "dataset-rebuild-failures",
            "dataset-rebuild-progress", "dataset-rebuild-low-confidence"} <= set(by_key)
    summary = by_key["dataset-rebuild-summary"].data
    summary = json.loads(summary) if isinstance(summary, str) else summary
    assert summary[0]["analyzed"] == 2 and summary[0]["failed"] == 1
    # the nightly chain: a tokenize run followed, as this run's subflow
    with client_settings(service["api"]), get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])))
        names = {client.read_flow(child.flow_id).name: child for child in children}
    assert names["tokenize-library"].state.is_completed()
    assert (service["home"] / "artifacts" / "tokens.parquet").is_file()
    assert service["webhook"] == []  # nothing failed
    failures = by_key["dataset-rebuild-failures"].data
    assert "notes.wav" in str(failures) and "not_audio" in str(failures)
    assert (service["home"] / "phrases.db").is_file()
    assert (service["home"] / "prefect" / "prefect.db").is_file()  # the server's own database


def test_a_failed_run_says_why_in_its_state(service):
    from prefect.deployments import run_deployment

    with client_settings(service["api"]):
        run = run_deployment("dataset-rebuild/nightly-rebuild", timeout=300,
                             parameters={"library": "/nowhere/music",
                                         "home": str(service["home"])})
    assert run.state.is_failed()
    assert "/nowhere/music: library folder does not exist" in run.state.message
    [posted] = wait_for(lambda: [m for m in service["webhook"] if m["flow_run"] == run.name],
                        30, "the webhook being called")
    assert posted["flow"] == "dataset-rebuild" and posted["state"] == "Failed"
    assert "library folder does not exist" in posted["reason"] and str(run.id) in posted["url"]
