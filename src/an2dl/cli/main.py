"""``an2dl`` command line: thin parsing and printing around library functions (DESIGN §9).

Exit codes: 0 success, 2 usage errors (unknown names, bad settings, missing
data), 1 failures.  ``--debug`` shows the traceback of an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    p = argparse.ArgumentParser(
        prog="an2dl",
        description="Run the models and techniques of 'Artificial Neural Networks and Deep Learning'.",
    )
    p.add_argument("--version", action="version", version=f"an2dl {__version__}")
    p.add_argument("--debug", action="store_true", help="show the full traceback of errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("list", help="list recipes, models or datasets")
    s.add_argument("what", nargs="?", choices=["recipes", "models", "datasets"], default="recipes")
    s.add_argument("pattern", nargs="?", help="glob pattern, e.g. 'resnet*'")

    s = sub.add_parser("run", help="run a recipe")
    s.add_argument("recipe")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set trainer.max_epochs=5 (repeatable)")
    s.add_argument("--config", help="settings file (.json, .toml, .yaml)")
    s.add_argument("--run-dir", help="run directory (default: runs/RECIPE/TIMESTAMP)")
    s.add_argument("--runs-root", default="runs", help="parent of new run directories (default: runs)")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.add_argument("--show-config", action="store_true", help="print the resolved settings and exit")

    s = sub.add_parser("resume", help="continue an interrupted run from its latest checkpoint")
    s.add_argument("run_dir")
    s.add_argument("--quiet", action="store_true")

    s = sub.add_parser("eval", help="evaluate a finished run's model")
    s.add_argument("run_dir")
    s.add_argument("--split", default="test", choices=["train", "val", "test"])

    s = sub.add_parser(
        "predict",
        help="use a run's model: classes, values, reconstructions, samples or text, as its task kind defines",
        description="Use a run's exported model on inputs. Classifiers read images (PNG/JPEG/.npy) or vectors and "
                    "print the top classes; regression and binary models read .npy arrays or numbers such as 0.5 or "
                    "0,1; sequence models read .npy sequences ([T] token ids or [T, D] features); autoencoders and "
                    "VAEs write NAME.recon.png; GANs and VAEs draw --samples N into a PNG grid; character language "
                    "models continue --prompt and text files.",
    )
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (with model/) or an exported model's folder")
    s.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image, .npy or text files, or numbers such as 0.5 or 0,1 (as the model's task kind reads)")
    s.add_argument("--top", type=int, metavar="K", help="classifiers: show the top K classes (default 1); "
                                                       "language models: sample among the K most likely characters")
    s.add_argument("--samples", type=int, metavar="N", help="GANs and VAEs: images drawn into the sample grid (default 16)")
    s.add_argument("--seed", type=int, metavar="S", help="seed of the samples and of generated text (default 0)")
    s.add_argument("--out", metavar="DIR", help="folder for written files (default: beside each input; samples: RUN_DIR/samples)")
    s.add_argument("--prompt", metavar="TEXT", help="language models: text to continue")
    s.add_argument("--length", type=int, metavar="N", help="language models: characters to generate (default 200)")
    s.add_argument("--temperature", type=float, metavar="T", help="language models: sampling temperature (default 0.8)")

    s = sub.add_parser("export", help="export a run's model")
    s.add_argument("run_dir")
    s.add_argument("--format", default="safetensors", choices=["safetensors", "onnx"])
    s.add_argument("--out", help="output directory (safetensors) or file (onnx)")

    s = sub.add_parser("report", help="rewrite a run's report.html")
    s.add_argument("run_dir")

    s = sub.add_parser("bench", help="run benchmarks (all when NAME is omitted)")
    s.add_argument("name", nargs="?")
    s.add_argument("--quick", action="store_true", help="smaller sizes, for a fast check")
    return p


# ------------------------------------------------------------------ commands
def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "recipes":
        from ..recipes import RECIPES

        rows = [(n, RECIPES.get(n).summary) for n in RECIPES.names(args.pattern)]
    elif args.what == "datasets":
        from ..data import DATASETS

        rows = [(n, (DATASETS.get(n).__doc__ or "").strip().splitlines()[0]) for n in DATASETS.names(args.pattern)]
    else:
        from ..models.summary import registry_table

        rows = registry_table(args.pattern)
    if not rows:
        print(f"no {args.what} match {args.pattern!r}", file=sys.stderr)
        return 2
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {'  '.join(str(c) for c in r[1:])}")
    return 0


def _print_metrics(metrics: dict) -> None:
    for k, v in sorted(metrics.items()):
        if isinstance(v, float):
            print(f"{k} = {v:.6g}")


def _cmd_run(args: argparse.Namespace) -> int:
    from ..recipes import base, config

    if args.show_config:
        recipe = base.get_recipe(args.recipe)
        cfg = config.resolve(recipe.Config, config_file=args.config, overrides=args.overrides)
        print(json.dumps(config.to_dict(cfg), indent=2))
        return 0
    result = base.run(args.recipe, args.overrides, config_file=args.config, run_dir=args.run_dir,
                      runs_root=args.runs_root, progress=False if args.quiet else None)
    _finish(result)
    return 0


def _finish(result) -> None:
    """End the run's process group, then print the metrics, the report and the run directory (one process only)."""
    from ..engine.trainer import close_process_group

    close_process_group()  # whatever recipe ran, with or without its own Trainer.close()
    if result.trainer is not None and not result.trainer.is_global_zero:
        return
    _print_metrics(result.metrics)
    report = result.run_dir / "report.html"
    if report.is_file():
        print(f"report: {report}")
    print(result.run_dir)


def _cmd_resume(args: argparse.Namespace) -> int:
    from ..recipes import base

    result = base.resume(args.run_dir, progress=False if args.quiet else None)
    _finish(result)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..recipes.evaluation import evaluate_run

    _print_metrics(evaluate_run(args.run_dir, split=args.split))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..recipes.evaluation import predict_run

    prediction = predict_run(args.run_dir, args.inputs, top=args.top, samples=args.samples, seed=args.seed,
                             out=args.out, prompt=args.prompt, length=args.length, temperature=args.temperature)
    for line in prediction.lines:
        print(line)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ..recipes.evaluation import export_run

    print(export_run(args.run_dir, fmt=args.format, out=args.out))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    print(write_report(args.run_dir))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import run_benchmarks

    run_benchmarks(args.name, quick=args.quick)
    return 0


_COMMANDS = {
    "list": _cmd_list,
    "run": _cmd_run,
    "resume": _cmd_resume,
    "eval": _cmd_eval,
    "predict": _cmd_predict,
    "export": _cmd_export,
    "report": _cmd_report,
    "bench": _cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from ..engine.allocator import tune_cpu_allocator
    from ..errors import An2dlError

    if args.command in ("run", "resume", "eval", "predict", "bench"):
        tune_cpu_allocator()
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except An2dlError as e:
        if args.debug:
            raise
        print(f"an2dl: error: {e}", file=sys.stderr)
        return e.exit_code
    except (ValueError, TypeError, FileNotFoundError) as e:
        if args.debug:
            raise
        print(f"an2dl: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a failure, not a usage error
        if args.debug:
            raise
        print(f"an2dl: error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
