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

    s = sub.add_parser("list", help="list recipes, models, datasets or benchmarks")
    s.add_argument("what", nargs="?", choices=["recipes", "models", "datasets", "benchmarks"], default="recipes")
    s.add_argument("pattern", nargs="?",
                   help="part of the name (e.g. 'resnet', any case) or a glob pattern (e.g. 'resnet*')")
    s.add_argument("--quiet", action="store_true", help="no progress output (models: while measuring)")

    s = sub.add_parser("run", help="run a recipe")
    s.add_argument("recipe")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set trainer.max_epochs=5 (repeatable)")
    s.add_argument("--config", help="settings file (.json, .toml, .yaml)")
    s.add_argument("--run-dir", help="run directory (default: runs/RECIPE/TIMESTAMP)")
    s.add_argument("--runs-root", default="runs", help="parent of new run directories (default: runs)")
    s.add_argument("--force", action="store_true",
                   help="start even if --run-dir is not empty: its contents are moved into RUN_DIR/.replaced-TIME/")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.add_argument("--show-config", action="store_true", help="print the resolved settings and exit")

    s = sub.add_parser("resume", help="continue an interrupted run from its latest checkpoint")
    s.add_argument("run_dir")
    s.add_argument("--quiet", action="store_true")

    model_help = "which model of a run that trained several (e.g. forecast-sine's lstm); the error lists them"
    s = sub.add_parser("eval", help="evaluate a finished run's model")
    s.add_argument("run_dir")
    s.add_argument("--split", choices=["train", "val", "test"],
                   help="data split (default: test, or val for data without a test split)")
    s.add_argument("--model", metavar="NAME", help=model_help)

    s = sub.add_parser(
        "predict",
        help="use a run's model: classes, values, reconstructions, samples or text, as its task kind defines",
        description="Use a run's exported model on inputs. Classifiers read images (PNG/JPEG/.npy) or vectors and "
                    "print the top classes; regression and binary models read .npy arrays or numbers such as 0.5 or "
                    "0,1; sequence models read .npy sequences ([T] token ids or [T, D] features); autoencoders and "
                    "VAEs write NAME.recon.png; GANs and VAEs draw --samples N into a PNG grid; character and word language "
                    "models continue --prompt and text files; word2vec runs answer --similar and --analogy. NaN/Inf "
                    "inputs are refused, and so are values outside "
                    "the model's range unless --clip; an image that looks inverted is predicted with a warning.",
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
    s.add_argument("--clip", action="store_true",
                   help="clip .npy values and numbers outside the model's value range into it (default: refuse them)")
    s.add_argument("--invert", action="store_true",
                   help="image models: predict on 1 - x, e.g. a dark digit on white for a model trained on white-on-black")
    s.add_argument("--max-pixels", type=int, metavar="N",
                   help="image files: the largest width x height decoded (default 50000000)")
    s.add_argument("--model", metavar="NAME", help=model_help)
    s.add_argument("--similar", metavar="WORD", help="word2vec runs: the --top (default 10) nearest words to WORD")
    s.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"),
                   help="word2vec runs: A : B :: C : ? (3CosAdd), e.g. --analogy man king woman")

    s = sub.add_parser(
        "chat",
        help="talk with a chatbot run: one reply per line of input (typed, or piped in)",
        description="Talk with a generative chatbot (chatbot-chatterbot): each line you type (or pipe in) gets a "
                    "reply; the bot reads the last --turns utterances, yours and its own. 'quit', 'exit' or "
                    "end of input ends the talk.",
    )
    s.add_argument("run_dir", metavar="RUN_DIR", help="a chatbot run directory (or an exported chatbot)")
    s.add_argument("--model", metavar="NAME", help="which bot of the run (single-turn, multi-turn)")
    s.add_argument("--turns", type=int, metavar="N",
                   help="utterances of context the bot reads (default: as it was trained)")

    s = sub.add_parser(
        "explain",
        help="heat maps of what a run's image classifier looks at: CAM, Grad-CAM or saliency overlays",
        description="Write one overlay PNG per image (NAME.METHOD.png, the heat map blended over the image as the model "
                    "reads it) and print the predicted and the explained class. cam needs global average pooling and "
                    "one fully connected layer; gradcam explains any convolutional layer (--layer); saliency is "
                    "|dS_c/dI| (notes 3.5.2.1-3.5.2.2).",
    )
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (with model/) or an exported model's folder")
    s.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files (PNG/JPEG) or .npy images")
    s.add_argument("--method", choices=["cam", "gradcam", "saliency"], default="gradcam",
                   help="the heat map (default gradcam)")
    s.add_argument("--class", dest="class_index", type=int, metavar="C",
                   help="the class id to explain (default: each image's predicted class)")
    s.add_argument("--layer", metavar="NAME",
                   help="gradcam: the module path of the explained layer (default: the last conv layer with a spatial map)")
    s.add_argument("--out", metavar="DIR", help="folder for the overlays (default: beside each image)")
    s.add_argument("--model", metavar="NAME", help=model_help)

    s = sub.add_parser("enroll", help="add template images of NAME to the gallery of a run's embedding model")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run of an embedding model (e.g. identify-unseen-digits)")
    s.add_argument("name", metavar="NAME", help="the identity the templates belong to")
    s.add_argument("images", nargs="+", metavar="IMAGE", help="template image files (PNG/JPEG) or .npy images")
    s.add_argument("--threshold", type=float, metavar="D",
                   help="store D as the gallery's rejection distance (identify answers 'unknown' beyond it)")
    s.add_argument("--model", metavar="NAME", help=model_help)

    s = sub.add_parser("identify", help="name the nearest enrolled template of each image (or 'unknown')")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run whose gallery holds enrolled templates")
    s.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG/JPEG) or .npy images")
    s.add_argument("--threshold", type=float, metavar="D", help="rejection distance for this call (default: the gallery's)")
    s.add_argument("--model", metavar="NAME", help=model_help)

    s = sub.add_parser("export", help="export a run's model")
    s.add_argument("run_dir")
    s.add_argument("--format", default="safetensors", choices=["safetensors", "onnx"])
    s.add_argument("--out", help="output directory (safetensors) or file (onnx)")
    s.add_argument("--model", metavar="NAME", help=model_help)

    s = sub.add_parser("report", help="rewrite a run's report.html, or write a static site of all runs (--site)")
    s.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                   help="the run directory; with --site, the folder of run directories (default: runs)")
    s.add_argument("--site", metavar="OUT", help="write the run browser's pages for every run under RUN_DIR into OUT/")

    s = sub.add_parser("serve", help="browse, compare and follow runs in a local web page (needs an2dl[serve])")
    s.add_argument("runs_dir", nargs="?", default="runs", metavar="RUNS_DIR",
                   help="the folder of run directories (default: runs)")
    s.add_argument("--port", type=int, default=8050, help="TCP port (default 8050; 0: any free port)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other warns)")

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
    elif args.what == "benchmarks":
        from ..bench import BENCHMARKS

        rows = [(n, (BENCHMARKS.get(n).__doc__ or "").strip().splitlines()[0]) for n in BENCHMARKS.names(args.pattern)]
    else:
        rows = _model_rows(args.pattern, progress=False if args.quiet else None)
    if not rows:
        print(f"no {args.what} match {args.pattern!r}", file=sys.stderr)
        return 2
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {'  '.join(str(c) for c in r[1:])}")
    return 0


def _model_rows(pattern: str | None, *, progress: bool | None) -> list:
    """The rows of ``an2dl list models``: the cached table (read without importing torch), else measured and cached."""
    from .._utils.cache import cached_rows

    rows = cached_rows("models", pattern)
    if rows is None:
        from ..models.summary import registry_table

        rows = registry_table(pattern, cache=True, progress=progress)
    return rows


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
                      runs_root=args.runs_root, progress=False if args.quiet else None, force=args.force,
                      on_start=_announce_run)
    _finish(result)
    return 0


# the run directory of the `run` or `resume` in progress, named again when it is interrupted or fails
_ACTIVE_RUN: dict = {}


def _announce_run(run_dir, replaced) -> None:
    """First line of a run (stderr): where it writes and how to resume it."""
    import shlex

    _ACTIVE_RUN.update(dir=run_dir, command="run")
    moved = f"; the previous contents are in {replaced}" if replaced is not None else ""
    print(f"an2dl: run directory: {run_dir}; resume with: an2dl resume {shlex.quote(str(run_dir))}{moved}",
          file=sys.stderr, flush=True)


def _resume_hint() -> str:
    """'; run directory: DIR; resume with: an2dl resume DIR' for the run in progress ('' when none)."""
    import shlex
    from pathlib import Path

    run_dir = _ACTIVE_RUN.get("dir")
    if run_dir is None:
        return ""
    if not (Path(run_dir) / "checkpoints").is_dir():
        return f"; run directory: {run_dir} (it holds no checkpoint yet: nothing to resume)"
    return f"; run directory: {run_dir}; resume with: an2dl resume {shlex.quote(str(run_dir))}"


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

    _ACTIVE_RUN.update(dir=args.run_dir, command="resume")
    result = base.resume(args.run_dir, progress=False if args.quiet else None)
    _finish(result)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..recipes.run_commands import evaluate_run

    _print_metrics(evaluate_run(args.run_dir, split=args.split, model=args.model))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..recipes.run_commands import predict_run

    prediction = predict_run(args.run_dir, args.inputs, top=args.top, samples=args.samples, seed=args.seed,
                             out=args.out, prompt=args.prompt, length=args.length, temperature=args.temperature,
                             clip=args.clip, invert=args.invert, max_pixels=args.max_pixels, model=args.model,
                             similar=args.similar, analogy=args.analogy)
    for warning in prediction.warnings:
        print(f"an2dl: warning: {warning}", file=sys.stderr)
    for line in prediction.lines:
        print(line)
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from ..recipes.run_commands import chat

    interactive = sys.stdin.isatty()

    def lines():
        while True:
            try:
                yield input("you> ") if interactive else next(sys.stdin)
            except (EOFError, StopIteration):
                return

    for _, reply, unknown in chat(args.run_dir, lines(), model=args.model, turns=args.turns):
        if unknown:
            print(f"an2dl: warning: the bot does not know {', '.join(map(repr, unknown))}", file=sys.stderr)
        print(f"bot> {reply}", flush=True)
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..explain.overlay import explain_files

    explanation = explain_files(args.run_dir, args.inputs, method=args.method, class_index=args.class_index,
                                layer=args.layer, out=args.out, model=args.model)
    for line in explanation.lines:
        print(line)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export import onnx_data_file
    from ..recipes.run_commands import export_run

    path = export_run(args.run_dir, fmt=args.format, out=args.out, model=args.model)
    print(path)
    if args.format == "onnx" and onnx_data_file(path).is_file():  # a model too large to embed (see export_onnx)
        print(f"weights: {onnx_data_file(path)} (keep it beside {path.name})")
    return 0


def _cmd_enroll(args: argparse.Namespace) -> int:
    from ..recipes.metric.gallery_commands import enroll_files

    path, gallery = enroll_files(args.run_dir, args.name, args.images, model=args.model, threshold=args.threshold)
    print(f"{path}: {args.name} enrolled with {len(args.images)} template(s); {len(gallery.identities)} identities, "
          f"{len(gallery)} templates")
    return 0


def _cmd_identify(args: argparse.Namespace) -> int:
    from ..recipes.metric.gallery_commands import identify_files

    for line in identify_files(args.run_dir, args.images, model=args.model, threshold=args.threshold):
        print(line)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.site:
        from ..serve import export_site

        print(export_site(args.run_dir or "runs", args.site))
        return 0
    if args.run_dir is None:
        raise ValueError("an2dl report needs RUN_DIR (or --site OUT to write the pages of every run)")
    from ..report import write_report

    print(write_report(args.run_dir))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..serve import serve_runs

    serve_runs(args.runs_dir, host=args.host, port=args.port)
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
    "chat": _cmd_chat,
    "explain": _cmd_explain,
    "enroll": _cmd_enroll,
    "identify": _cmd_identify,
    "export": _cmd_export,
    "report": _cmd_report,
    "serve": _cmd_serve,
    "bench": _cmd_bench,
}


def _stdout_closed() -> int:
    """The reader of our output went away (``an2dl list models | head -3``): stop quietly with exit code 141
    (128 + SIGPIPE), as a Unix tool does; stdout is pointed at /dev/null so that the final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (captured)
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict":  # inputs after an option: `predict RUN --model NAME INPUT...`
        args.inputs = [*args.inputs, *(e for e in extra if not e.startswith("-"))]
        extra = [e for e in extra if e.startswith("-")]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    from ..errors import An2dlError

    if args.command in ("run", "resume", "eval", "predict", "explain", "bench"):
        from ..engine.allocator import tune_cpu_allocator  # imports torch: not for `list` and `--help`

        tune_cpu_allocator()
    _ACTIVE_RUN.clear()
    try:
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, inside this try
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        print(f"an2dl: interrupted{_resume_hint()}", file=sys.stderr)
        return 130
    except An2dlError as e:
        if args.debug:
            raise
        print(f"an2dl: error: {e}", file=sys.stderr)
        if e.exit_code == 1 and _ACTIVE_RUN.get("command") == "run":
            print(f"an2dl: the run stopped{_resume_hint()}", file=sys.stderr)
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
        if _ACTIVE_RUN.get("command") == "run":
            print(f"an2dl: the run stopped{_resume_hint()}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
