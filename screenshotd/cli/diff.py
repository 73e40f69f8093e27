"""``screenshotd diff``: two images compared pixel by pixel, as ``POST /diff`` does."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from screenshotd import errors
from screenshotd.cli.common import examples, settings_from_env


class DiffTrouble(click.ClickException):
    """A diff that could not be made (a missing or undecodable file): exit code 2, so that 1
    keeps meaning "the images differ"."""

    exit_code = 2


def _colour_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from screenshotd.params.diff import COLOUR_HELP, colour

    rgb = colour(value)
    if rgb is None:
        raise click.BadParameter(COLOUR_HELP)
    return rgb


def pixelmatch_flags(command: Any) -> Any:
    """One flag for each of :class:`~screenshotd.params.diff.DiffOptions`' fields, named,
    explained and defaulted by the field, so the command line and ``/diff`` never differ."""
    from screenshotd.params.diff import DiffOptions

    for name, info in reversed(DiffOptions.model_fields.items()):
        flag, help_ = "--" + name.replace("_", "-"), info.description or ""
        if info.annotation is bool:
            option = click.option(flag, is_flag=True, default=None, help=help_)
        elif info.annotation is float:
            option = click.option(flag, type=click.FloatRange(0, 1), default=info.default,
                                  show_default=True, help=help_)
        else:  # a colour
            if info.default is not None:
                help_ += f" [default: {','.join(map(str, info.default))}]"
            option = click.option(flag, callback=_colour_option, default=None,
                                  metavar="R,G,B", help=help_)
        command = option(command)
    return command


@click.command(
    epilog="Exit status: 0 when the images match within --fail-over, 1 when they differ "
    "beyond it, 2 when they could not be compared.\n\n" + examples(
        "screenshotd diff before.png after.png -o diff.png",
        "screenshotd diff baseline.png current.png --threshold 0.2 --fail-over 0.5")
)
@click.argument("before", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the diff image (PNG) here.")
@click.option("--fail-over", type=click.FloatRange(0, 100), default=0.0, show_default=True,
              metavar="PERCENT", help="Exit 1 only when more than this percentage changed.")
@pixelmatch_flags
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
def diff(before: Path, after: Path, output: Path | None, fail_over: float, as_json: bool,
         **pixelmatch: Any) -> None:
    """Compare two images (PNG, JPEG or WebP) pixel by pixel, as pixelmatch does."""
    from screenshotd.core.diffs import run_diff
    from screenshotd.params.diff import DiffOptions

    options = DiffOptions.model_validate(
        {name: value for name, value in pixelmatch.items() if value is not None})
    settings = settings_from_env()
    try:
        result, png = run_diff(before.read_bytes(), after.read_bytes(), options,
                               settings.diff_max_pixels, (str(before), str(after)))
    except errors.ScreenshotError as exc:
        raise DiffTrouble(exc.message) from None
    except OSError as exc:
        raise DiffTrouble(str(exc)) from None
    if output is not None:
        try:
            output.write_bytes(png)
        except OSError as exc:
            raise DiffTrouble(f"cannot write {output}: {exc}") from None
    stats = result.to_json()
    if as_json:
        click.echo(json.dumps(stats))
    else:
        size = f"{stats['width']}x{stats['height']}"
        if result.sizes[0] != result.sizes[1]:
            (w1, h1), (w2, h2) = result.sizes
            size += f" (sizes differ: {w1}x{h1} and {w2}x{h2})"
        click.echo(f"{stats['changed_pixels']} of {stats['total_pixels']} pixels changed "
                   f"({stats['diff_percent']}%), {size}"
                   + (f"; diff written to {output}" if output else ""))
    if stats["diff_percent"] > fail_over:
        sys.exit(1)
