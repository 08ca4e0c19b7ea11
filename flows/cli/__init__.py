"""The `echelon` command line. Every command takes --json; failures exit non-zero with one
line on stderr that names the file and the reason.

One module per group of commands; this file only lists them, in the order `--help` shows."""

from __future__ import annotations

import typer

import flows  # noqa: F401  (keeps Prefect offline before anything imports it)
from flows.cli import analysis, evaluate, models, motion, render, service
from flows.cli.errors import one_line_errors

app = typer.Typer(
    name="echelon",
    help="Echelon pipeline: analyse music, rebuild the phrase dataset, train and render.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMANDS = (
    ("analyze", analysis.analyze),
    ("demo", service.demo),
    ("rebuild", analysis.rebuild),
    ("search", analysis.search),
    ("stats", analysis.stats),
    ("sql", analysis.sql),
    ("train-vqvae", models.train_vqvae),
    ("tokenize", models.tokenize),
    ("detokenize", models.detokenize),
    ("train-diffusion", models.train_diffusion),
    ("train-mapper", models.train_mapper),
    ("render", render.render),
    ("evaluate", evaluate.evaluate),
    ("export", models.export),
    ("validate-performance", motion.validate_performance),
    ("pairs", motion.pairs),
    ("server", service.server),
    ("serve", service.serve),
)
for name, command in COMMANDS:
    app.command(name)(command)


def main() -> None:
    with one_line_errors():
        app()
