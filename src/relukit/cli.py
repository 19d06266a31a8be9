"""The ``relukit`` command: ``relukit plot``, ``relukit fewbit``, ``relukit bench``, ``relukit study`` (more
subcommands register themselves below)."""

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


def _fewbit(args: argparse.Namespace) -> int:
    from relukit.fewbit import fewbit_table

    try:
        params = {}
        for item in args.param or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--param must be NAME=VALUE, got {item!r}")
            try:
                params[key] = float(value)
            except ValueError:
                params[key] = value
        tables = [fewbit_table(args.name, bits, **params) for bits in args.bits]
    except (ValueError, TypeError) as error:
        print(f"relukit fewbit: {error}", file=sys.stderr)
        return 2
    print("\n\n".join(table.format() for table in tables))
    return 0


def _study_names(args: argparse.Namespace) -> list[str]:
    from relukit import studies

    chosen = [*args.names, *(args.only or [])] or list(studies.STUDIES)
    chosen = list(dict.fromkeys(studies.canonical(n) for n in chosen))
    skipped = {studies.canonical(n) for n in args.skip or []}
    names = [n for n in chosen if n not in skipped]
    if not names:
        raise ValueError("no study left to run after --skip")
    return names


def _study(args: argparse.Namespace) -> int:
    import time

    from relukit.report import console as terminal
    from relukit.report.writer import write_report
    from relukit.studies.runner import run_studies

    start = time.perf_counter()
    try:
        names = _study_names(args)
        with terminal.progress_bars(len(names)) as bars:

            def finished(key: str, result: dict) -> None:
                bars.study_done(key, result["timing"]["wall_seconds"])
                terminal.print_summary(bars.bars.console, key, result)

            results = run_studies(
                names, scale=args.scale, seed=args.seed, device=args.device, data=args.data,
                progress=bars, on_start=bars.study_started, on_result=finished, jobs=args.jobs,
            )  # fmt: skip
        index = write_report(results, args.out)
    except (ValueError, TypeError) as error:
        notes = "".join(f" ({note})" for note in getattr(error, "__notes__", []))
        print(f"relukit study: {error}{notes}", file=sys.stderr)
        return 2
    print(f"report: {index}  ({time.perf_counter() - start:.0f} s)")
    return 0


def _add_study(commands) -> None:
    from relukit.studies import STUDIES

    study = commands.add_parser(
        "study", help="run the studies and write an HTML report", description="Reproducible studies of ReLU and "
        "its family on embedded data; writes index.html, the figures and results.json to --out."
    )  # fmt: skip
    study.add_argument("names", nargs="*", metavar="NAME", help=f"studies to run (default: all): {', '.join(STUDIES)}")
    size = study.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="scale", action="store_const", const="quick", help="small grids (default)")
    size.add_argument("--full", dest="scale", action="store_const", const="full", help="larger grids, more seeds")
    size.add_argument(
        "--tiny", dest="scale", action="store_const", const="tiny", help="smoke test: seconds, not science"
    )
    study.set_defaults(scale="quick")
    study.add_argument("--seed", type=int, default=0, help="base seed of every study (default: 0)")
    study.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    study.add_argument("--only", nargs="+", metavar="NAME", help="run only these studies")
    study.add_argument("--skip", nargs="+", metavar="NAME", help="leave these studies out")
    study.add_argument("--out", default="relukit-report", help="report directory (default: relukit-report/)")
    study.add_argument("--data", metavar="PATH.npz", help="your data (arrays x, y) instead of digits")
    study.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="studies run at once, each in its own process "
        "(default: the cores, at most 2; 1 runs them one after the other, with a bar per loop)",
    )  # fmt: skip
    study.set_defaults(run=_study)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relukit", description="The ReLU family: plots, studies, benchmarks.")
    commands = parser.add_subparsers(dest="command", required=True)
    plot = commands.add_parser("plot", help="draw members of the family (and their derivatives)")
    plot.add_argument("names", nargs="+", help=f"members: {', '.join(catalog.BY_NAME)}")
    plot.add_argument("--derivative", action="store_true", help="also draw the derivative")
    plot.add_argument("--range", nargs=2, type=float, default=(-4.0, 4.0), metavar=("LOW", "HIGH"))
    plot.add_argument("--out", default="activations.png", help="PNG path (default: activations.png)")
    plot.set_defaults(run=_plot)
    fewbit = commands.add_parser(
        "fewbit", help="print the k-bit derivative table of a smooth member",
        description="Optimal piecewise-constant approximation of a member's derivative under N(0, 1) "
        "(Novikov et al. 2023): boundaries, levels and RMS error. See docs/fewbit.md.",
    )  # fmt: skip
    fewbit.add_argument("name", help="elu, celu, selu, gelu, silu, mish or softplus (or an alias)")
    fewbit.add_argument("--bits", type=int, nargs="+", default=[3], help="bits per element, 1..8 (default: 3)")
    fewbit.add_argument("--param", nargs="+", metavar="NAME=VALUE", help="member parameters, e.g. alpha=0.5")
    fewbit.set_defaults(run=_fewbit)
    from relukit import bench  # torch loads only when a benchmark runs

    bench.add_parser(commands)
    _add_study(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
