"""Commands that run Echelon as a service or show it whole: demo, server, serve."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (HomeOption, JsonOption, config_or_fail, console, emit, fail, failing,
                              home_dir)

DEMO_KEYS = ("phrase_db", "tokens", "vqvae_checkpoint", "diffusion_checkpoint", "manifest",
             "renders")


def demo(
    home: Annotated[Path | None, typer.Option("--home", help="Data folder (default $ECHELON_HOME or ./echelon-data).")] = None,
    tracks: Annotated[int, typer.Option("--tracks", min=1, max=50, help="How many tracks (and performances) to generate.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated library.")] = 7,
    vqvae_steps: Annotated[int, typer.Option("--vqvae-steps", min=1, help="Training steps of the tiny VQ-VAE.")] = 300,
    diffusion_steps: Annotated[int, typer.Option("--diffusion-steps", min=1, help="Training steps of the tiny diffusion model.")] = 300,
    seconds: Annotated[float, typer.Option("--seconds", min=30.0, max=600.0, help="Longest generated track (they last 4/7 of it up to it).")] = 70.0,
    as_json: JsonOption = False,
) -> None:
    """The whole mission on generated data, in a few minutes on a CPU: generate tracks with
    known beats and performances that dance to them → rebuild the phrase dataset → pair them
    → train the tiny VQ-VAE → tokenize → train the tiny diffusion model → train the motion →
    phrase mapper → render the performances. Each step is a Prefect flow run. --json prints
    phrase_db, tokens, vqvae_checkpoint, diffusion_checkpoint, manifest and renders."""
    from flows.demo import demo_flow

    home = home_dir(home)
    summary = demo_flow(home=home, n_tracks=tracks, seed=seed, vqvae_steps=vqvae_steps,
                        diffusion_steps=diffusion_steps, max_seconds=seconds)
    emit({k: summary[k] for k in DEMO_KEYS}, as_json, lambda: _print_demo(summary, home))


def _print_demo(summary: dict, home: Path) -> None:
    table = Table("track", "true BPM", "BPM", "beats", "sections", "phrases", "beat F",
                  "downbeat F", "section F", title="echelon demo: generated tracks")
    for row in summary["tracks"]:
        table.add_row(Path(row["path"]).name, f"{row['true_bpm']:.2f}", f"{row['tempo_bpm']:.2f}",
                      str(row["beats"]), str(row["sections"]), str(row["phrases"]),
                      f"{row['beat_f']:.3f}", f"{row['downbeat_f']:.3f}", f"{row['section_f']:.3f}")
    console.print(table)
    table = Table("performance", "usable", "frames", "seconds", "devices", "warnings",
                  title="generated performances (with phone faults)")
    for row in summary["performances"]:
        table.add_row(Path(row["performance"]).name, "yes" if row["ok"] else "no",
                      str(row["frames"]), f"{row['duration_s']:.1f}",
                      ",".join(map(str, row["devices"])), str(row["warnings"]))
    console.print(table)
    table = Table("recording", "offset found (s)", "true (s)", "confidence", "status",
                  title="pairs from a sheet without offsets (clock sync)")
    for row in summary["pair_rows"]:
        table.add_row(Path(row["recording"]).name,
                      "—" if row["offset_s"] is None else f"{row['offset_s']:+.3f}",
                      f"{summary['true_offset_s']:+.3f}",
                      "—" if row["confidence"] is None else f"{row['confidence']:.2f}",
                      row["status"])
    console.print(table)
    table = Table("performance", "rendered audio", "seconds", title="renders")
    for row in summary["renders"]:
        table.add_row(Path(row["performance"]).name, row["wav"] or "failed",
                      f"{row['duration_s']:.1f}" if row["duration_s"] else "—")
    console.print(table)
    for label, key in (("phrase database", "phrase_db"), ("tokens", "tokens"),
                       ("VQ-VAE", "vqvae_checkpoint"), ("diffusion model", "diffusion_checkpoint"),
                       ("mapper", "mapper_checkpoint"), ("render manifest", "manifest"),
                       ("evaluation", "evaluation"),
                       ("motion-audio pairs", "pairs")):
        console.print(f"{label:>19}: {summary[key]}")
    api = os.environ.get("PREFECT_API_URL")
    if api:
        console.print(f"Prefect UI: {api.removesuffix('/api')}/runs (flow runs echelon-demo, "
                      f"dataset-rebuild, motion-audio-pairs, vqvae-training, tokenize-library, "
                      f"diffusion-training, mapper-training, "
                      f"render, evaluate-renders)")
    else:
        console.print(f"To see these runs in the Prefect UI: `echelon server --home {home}` in "
                      f"another shell, `export PREFECT_API_URL=http://127.0.0.1:4200/api`, then "
                      f"run the demo again and open http://127.0.0.1:4200/runs")
    console.print(f"try: echelon sql \"SELECT * FROM tracks\" --home {home}  ·  "
                  f"echelon render --performances {home / 'performances'} --out renders2 "
                  f"--home {home} --sampler dpm_solver --steps 20")


def server(
    home: HomeOption = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535,
                                             help="API and UI port (default: configs/service.yaml, 4200).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1: "
                                                            "this machine only).")] = None,
) -> None:
    """Start Prefect's own server (API and UI) for Echelon: loopback, analytics off, its
    database under --home/prefect. Runs until stopped (Ctrl-C)."""
    from storage.home import Home
    from tasks.config import load_service_config

    service = config_or_fail(load_service_config).server
    host, port = host or service.host, port or service.port
    if not _loopback(host):
        print(f"echelon: warning: --host {host} opens the Prefect API and UI, which have no "
              f"authentication, to every machine that can reach this one", file=sys.stderr)
    layout = Home(home_dir(home))
    prefect_home = layout.prefect
    prefect_home.mkdir(parents=True, exist_ok=True)
    api = f"http://{host}:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_API_URL": api, "PREFECT_API_URL": api}
    print(f"Prefect server for {layout.root}: UI http://{host}:{port}  ·  API {api}\n"
          f"In other shells: export PREFECT_API_URL={api}", file=sys.stderr, flush=True)
    prefect = Path(sys.executable).with_name("prefect")
    os.execve(prefect, [str(prefect), "server", "start", "--host", host, "--port", str(port)], env)


def serve(
    home: HomeOption = None,
    library: Annotated[Path | None, typer.Option("--library", help="Music folder of the nightly "
                                                                   "rebuild (default: configs/service.yaml).")] = None,
    service_config: Annotated[Path | None, typer.Option(
        "--config", help="Service config YAML (default: configs/service.yaml).",
        dir_okay=False)] = None,
    notify_url: Annotated[str | None, typer.Option(
        "--notify-url", help="POST a JSON message here when a nightly run fails, crashes or "
                             "is slow (default: notify.webhook_url in the config).")] = None,
) -> None:
    """Register Echelon's deployments with the Prefect server at $PREFECT_API_URL and run
    their flows when scheduled or triggered: nightly-rebuild (cron from the config; each run
    then tokenizes new and changed tracks), tokenize, train-vqvae, train-diffusion, render,
    evaluate. Runs until stopped (Ctrl-C)."""
    from flows.notify import SLOW_VARIABLE, URL_VARIABLE
    from tasks.config import NotifyConfig, load_service_config

    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: start `echelon server` and export the URL it prints")
    service = config_or_fail(load_service_config, service_config)
    with failing(ValueError):
        notify = NotifyConfig(webhook_url=notify_url or service.notify.webhook_url,
                              slow_after_s=service.notify.slow_after_s)
    # the runs are processes of their own: they read the webhook from the environment
    if notify.webhook_url:
        os.environ[URL_VARIABLE] = notify.webhook_url
    if notify.slow_after_s:
        os.environ[SLOW_VARIABLE] = str(notify.slow_after_s)
    from prefect import serve as prefect_serve

    from deployments.service import build_deployments

    with failing(ValueError):
        deployments = build_deployments(service, home_dir(home), library)
    prefect_serve(*deployments, pause_on_shutdown=False)


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
