"""The ``relukit`` command: ``relukit plot``, ``relukit bench`` (more subcommands register themselves below)."""

from __future__ import annotations

import argparse
import sys

from relukit import catalog


def _plot(args: argparse.Namespace) -> int:
    from relukit.report.figures import plot_activations

    try:
        entries = [catalog.lookup(name) for name in args.names]
    except ValueError as error:
        print(f"relukit plot: {error}", file=sys.stderr)
        return 2
    low, high = args.range
    if not low < high:
        print(f"relukit plot: --range must be LOW < HIGH, got {low} {high}", file=sys.stderr)
        return 2
    path = plot_activations(entries, low=low, high=high, derivative=args.derivative, out=args.out)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relukit", description="The ReLU family: plots, studies, benchmarks.")
    commands = parser.add_subparsers(dest="command", required=True)
    plot = commands.add_parser("plot", help="draw members of the family (and their derivatives)")
    plot.add_argument("names", nargs="+", help=f"members: {', '.join(catalog.BY_NAME)}")
    plot.add_argument("--derivative", action="store_true", help="also draw the derivative")
    plot.add_argument("--range", nargs=2, type=float, default=(-4.0, 4.0), metavar=("LOW", "HIGH"))
    plot.add_argument("--out", default="activations.png", help="PNG path (default: activations.png)")
    plot.set_defaults(run=_plot)
    from relukit import bench  # torch loads only when a benchmark runs

    bench.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
