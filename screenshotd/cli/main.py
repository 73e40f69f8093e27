"""The command line: ``screenshotd serve``, ``shot``, ``batch``, ``diff``, ``sign``, ``keys``
and ``mcp``.

``serve``, ``shot`` and ``batch`` go through :class:`~screenshotd.core.service.ScreenshotService`, the
same road as HTTP; ``diff`` runs the same decode-compare-encode step as ``POST /diff``; ``sign``
makes signed capture URLs; ``keys`` makes API keys; ``mcp`` serves the Model Context Protocol on
stdio.

Each command lives in a module of its own, imported only when that command runs (or when help
lists them all): ``shot`` does not load uvicorn, ``serve`` does not load the diff. A one-page
``shot`` is measured against a one-page Playwright script, start-up included
(``benchmarks/bench_saturation.py``), and imports are most of what it adds.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from screenshotd.version import __version__

#: Every command, by name: the module and the attribute that define it.
COMMANDS = {
    "serve": "screenshotd.cli.serve:serve",
    "shot": "screenshotd.cli.shot:shot",
    "batch": "screenshotd.cli.batch:batch",
    "diff": "screenshotd.cli.diff:diff",
    "sign": "screenshotd.cli.sign:sign",
    "keys": "screenshotd.cli.keys:keys",
    "mcp": "screenshotd.cli.mcp:mcp",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are first needed (click's own pattern
    for lazily loaded subcommands)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attr = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="screenshotd")
def main() -> None:
    """screenshotd: a self-hosted screenshot service on a warm Chromium pool."""


#: The commands after which the process ends at once, without the interpreter's teardown of
#: every module and object (about 0.1 s with Playwright and pydantic loaded, as much as the
#: capture itself; mypy ends the same way). Their work is done and flushed by then: Chromium
#: and the driver are closed, the files written. The others end as usual.
QUICK_EXIT = frozenset({"shot", "batch"})


def run() -> None:
    """The ``screenshotd`` command: :func:`main`, ended at once after ``shot`` or ``batch``."""
    try:
        main(standalone_mode=True)
    except SystemExit as exc:
        if len(sys.argv) < 2 or sys.argv[1] not in QUICK_EXIT:
            raise
        code = exc.code
        if not isinstance(code, int):
            if code is not None:
                print(code, file=sys.stderr)
            code = 0 if code is None else 1
        logging.shutdown()  # the log handlers' last lines
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

