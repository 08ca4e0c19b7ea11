"""Failures that reach someone: a failed, crashed or slow run POSTs a JSON message to a
webhook (Slack, Teams, a pager, anything that takes a POST).

Flow hooks, attached to the flows the night runs: Prefect runs `on_failure` in the run's
process and `on_crashed` in the runner that watched it die, so both reach the webhook. The
URL comes from $ECHELON_NOTIFY_URL (set by `echelon serve --notify-url`, inherited by the run
processes) or `notify.webhook_url` in configs/service.yaml.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timezone

from prefect.logging import get_logger

from tasks.config import ConfigError, NotifyConfig, load_service_config

URL_VARIABLE = "ECHELON_NOTIFY_URL"
SLOW_VARIABLE = "ECHELON_NOTIFY_SLOW_AFTER_S"
logger = get_logger("echelon.notify")


def settings() -> NotifyConfig:
    """The environment (what `echelon serve` was told) over configs/service.yaml."""
    try:
        configured = load_service_config().notify
    except ConfigError:
        configured = NotifyConfig()
    slow = os.environ.get(SLOW_VARIABLE)
    return NotifyConfig(webhook_url=os.environ.get(URL_VARIABLE) or configured.webhook_url,
                        slow_after_s=float(slow) if slow else configured.slow_after_s)


def message(flow, flow_run, state, reason: str) -> dict:
    """What a person needs to act: which run, what happened, why, and where to look."""
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return {"text": f"Echelon: {flow.name} run {flow_run.name} {reason}",
            "flow": flow.name, "flow_run": flow_run.name, "flow_run_id": str(flow_run.id),
            "state": state.name, "reason": reason, "duration_s": round(elapsed_s(flow_run), 1),
            "url": f"{ui}/runs/flow-run/{flow_run.id}" if ui else None}


def elapsed_s(flow_run) -> float:
    """Seconds since the run started (its total time is only known after the hooks)."""
    if flow_run.start_time is None:
        return 0.0
    return (datetime.now(timezone.utc) - flow_run.start_time).total_seconds()


def post(url: str, body: dict, timeout_s: float = 10.0) -> None:
    """One POST; a webhook that is down is logged, never an error of the run."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except OSError as error:
        logger.warning("could not notify %s: %s", url, error)


def on_failure(flow, flow_run, state) -> None:
    url = settings().webhook_url
    if url:
        what = "crashed" if state.is_crashed() else "failed"
        post(url, message(flow, flow_run, state, f"{what}: {state.message or state.name}"))


def on_completion(flow, flow_run, state) -> None:
    config = settings()
    seconds = elapsed_s(flow_run)
    if config.webhook_url and config.slow_after_s and seconds > config.slow_after_s:
        post(config.webhook_url, message(flow, flow_run, state,
                                         f"took {seconds:.0f} s (more than {config.slow_after_s:g} s)"))


HOOKS = dict(on_failure=[on_failure], on_crashed=[on_failure], on_completion=[on_completion])
