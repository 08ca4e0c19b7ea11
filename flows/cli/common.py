"""What every command shares: the options, the home folder, configs that fail in one line,
and output as JSON for scripts or as text for a person."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

console = Console()
T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Analysis config YAML (default: configs/analysis.yaml).",
                 dir_okay=False),
]
HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Data folder: phrases.db, phrases.faiss, artifacts/ "
                                "(default $ECHELON_HOME or ./echelon-data)."),
]
DbOption = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the phrase database "
                                                           "(default: sqlite in --home).")]
VQVAEConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="VQ-VAE config YAML (default: configs/vqvae.yaml, the full-size "
                                  "model; configs/tiny/vqvae.yaml trains in minutes on a CPU).",
                 dir_okay=False),
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="VQ-VAE checkpoint (default: checkpoints/vqvae/vqvae.pt "
                                      "in --home).", dir_okay=False),
]
DiffusionCheckpointOption = Annotated[
    Path | None,
    typer.Option("--diffusion-checkpoint", help="Diffusion checkpoint (default: "
                                                "checkpoints/diffusion/diffusion.pt in --home).",
                 dir_okay=False),
]
MaxStepsOption = Annotated[int | None, typer.Option(
    "--max-steps", min=1, help="Stop at this step (the schedule still follows the config's "
                               "steps, so a later run resumes on the same curve).")]
DeviceOption = Annotated[str | None, typer.Option(
    "--device", help="cuda, cuda:1 or cpu (default: CUDA when available).")]
RunnerOption = Annotated[str, typer.Option(
    "--runner", help="Where the work runs: threads, processes, or dask (a local cluster of "
                     "--workers processes, or the one at --dask-address).")]
DaskAddressOption = Annotated[str | None, typer.Option(
    "--dask-address", help="Dask scheduler to run on, e.g. tcp://10.0.0.5:8786.")]


def check_runner(runner: str, dask_address: str | None) -> None:
    """Usage errors (exit 2) before any work starts."""
    if runner not in ("threads", "processes", "dask"):
        fail(f"--runner {runner!r}: choose threads, processes or dask", code=2)
    if dask_address and runner != "dask":
        fail("--dask-address needs --runner dask", code=2)


def default_home() -> Path:
    return Path(os.environ.get("ECHELON_HOME", "./echelon-data"))


def home_dir(home: Path | None) -> Path:
    """--home, else $ECHELON_HOME, else ./echelon-data; absolute."""
    return (home or default_home()).resolve()


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, non-zero exit: what scripts calling us rely on."""
    print(f"echelon: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


@contextmanager
def failing(*errors: type[BaseException], first_line: bool = False) -> Iterator[None]:
    """Turn the expected errors of a step into the one-line failure (its first line only
    with `first_line`: Prefect adds a traceback to some)."""
    try:
        yield
    except errors as error:
        fail(str(error).splitlines()[0] if first_line else str(error))


def config_or_fail(loader: Callable[[Path | None], T], path: Path | None = None) -> T:
    """A config loaded by `loader` (the default file when `path` is None), or a one-line exit."""
    from tasks.config import ConfigError

    with failing(ConfigError):
        return loader(path)


def emit(record, as_json: bool, show: Callable[[], None]) -> None:
    """`record` as one line of JSON for scripts, else `show()` for a person."""
    if as_json:
        print(json.dumps(record, default=str))
    else:
        show()


def print_summary(summary: dict, as_json: bool) -> None:
    """A flow's result: JSON on stdout, or one aligned line per key for a person."""
    width = max(map(len, summary), default=0)
    emit(summary, as_json, lambda: [console.print(f"{key:>{width}}: {value}")
                                    for key, value in summary.items()])


def print_rows(rows: list[dict], title: str) -> None:
    """A list of records as one table for a person."""
    from rich.table import Table

    if rows:
        table = Table(*rows[0].keys(), title=title)
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)


def existing_checkpoint(path: Path, what: str, how: str) -> Path:
    if not path.is_file():
        fail(f"{path}: no {what} checkpoint; {how}")
    return path


def vqvae_checkpoint(checkpoint: Path | None, home: Path | None) -> Path:
    from storage.home import Home

    return existing_checkpoint(checkpoint or Home(home_dir(home)).vqvae_checkpoint, "VQ-VAE",
                               "run `echelon train-vqvae` first or pass --checkpoint")


def diffusion_checkpoint(checkpoint: Path | None, home: Path | None) -> Path:
    from storage.home import Home

    return existing_checkpoint(checkpoint or Home(home_dir(home)).diffusion_checkpoint,
                               "diffusion", "run `echelon train-diffusion` first or pass "
                                            "--diffusion-checkpoint")
