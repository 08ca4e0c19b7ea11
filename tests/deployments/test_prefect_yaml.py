"""prefect.yaml (for work pools) and `echelon serve` register the same deployments: same names,
flows, tags, concurrency, parameter names and nightly schedule."""

from pathlib import Path

import yaml

from deployments.service import build_deployments
from tasks.config import ServiceConfig

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_matches_the_served_deployments(tmp_path):
    served = {d.name: d for d in build_deployments(ServiceConfig(), tmp_path, tmp_path)}
    listed = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    assert set(listed) == set(served)
    for name, deployment in served.items():
        entry = listed[name]
        assert entry["entrypoint"] == deployment.entrypoint, name
        assert entry["tags"] == deployment.tags, name
        assert entry["concurrency_limit"] == deployment.concurrency_limit, name
        assert set(entry["parameters"]) == set(deployment.parameters), name
        crons = [s.schedule.cron for s in deployment.schedules]
        assert [s["cron"] for s in entry.get("schedules", [])] == crons, name
