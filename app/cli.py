"""The `zoo` command line: the top of the layers (pipelines -> zoo -> export -> app).

`zoo --help`, `zoo list` and `zoo info` read the model catalog (`zoo/catalog.json`) and the source
catalog (`pipelines/sources.json`) and import neither Keras nor TensorFlow; the other commands
(`app.commands`) load them on demand, with TensorFlow's start-up lines filtered out.
"""

import argparse
import difflib
import json
import os
import sys
import warnings

# Before TensorFlow is imported anywhere: its C++ INFO/WARNING lines and absl's pre-init notice are
# noise on a command line (errors still print).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from app import commands  # noqa: E402
from pipelines.constants import STRATEGIES  # noqa: E402
from pipelines.registry import read_catalog  # noqa: E402
from zoo import registry  # noqa: E402  (no Keras import)
from zoo.config import OPTIMIZERS, SCHEDULES, TrainConfig  # noqa: E402


def _format_input(info):
    shape = info["input"]["shape"]
    if isinstance(shape, dict):
        return ", ".join(f"{k} {tuple(v)}" for k, v in shape.items()) + f" {info['input']['dtype']}"
    return f"{tuple(shape)} {info['input']['dtype']}"


def _cmd_list(args):
    catalog = registry.read_catalog()
    names = registry.catalog_select(catalog, args.pattern, family=args.family, task=args.task)
    if args.weights:
        names = [n for n in names if catalog[n]["pretrained"]]
    if args.json:
        print(json.dumps([{**catalog[n], "name": n} for n in names], indent=1))
        return 0
    rows = [(n, catalog[n]["family"], catalog[n]["task"], f"{catalog[n]['params']:,}", _format_input(catalog[n]),
             ",".join(catalog[n]["pretrained"]) or "-") for n in names]
    header = ("name", "family", "task", "params", "input", "weights")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
              .rstrip())
    return 0


def _cmd_info(args):
    catalog = registry.read_catalog()
    if args.name not in catalog:
        close = difflib.get_close_matches(args.name, list(catalog), n=5)
        hint = f" Did you mean one of: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model name. Received: name={args.name!r}.{hint} Run `zoo list` for every name.")
    from zoo import pretrained

    shipped = {}
    for weights in pretrained.names(args.name):  # the zoo's own weights: what each card measured
        card = pretrained.card(args.name, weights)
        shipped[weights] = {"data": card["data"]["name"], "split": card["metrics"]["split"],
                            "metric": card["metrics"]["metric"],
                            "measured": {row["file"]: row["value"] for row in card["metrics"]["rows"]},
                            "card": os.path.join(pretrained.WEIGHTS_DIR, f"{args.name}-{weights}", pretrained.CARD_MD)}
    print(json.dumps({"name": args.name, **catalog[args.name], **({"weights": shipped} if shipped else {})}, indent=2))
    return 0


_DEFAULTS = TrainConfig()


def _add_train_args(p):
    # epochs, batch size, lr, weight decay and early stopping default to the task's recipe
    # (zoo.config.TASK_DEFAULTS), else TrainConfig's: None here means "not given".
    p.add_argument("--epochs", type=int, help=f"default {_DEFAULTS.epochs} (forecasting: 200, early stopping 20; "
                                              "tables: 100, early stopping 10)")
    p.add_argument("--batch-size", type=int, help=f"default {_DEFAULTS.batch_size} (forecasting: 16; tables: 256, "
                                                  "halved down to 16 until the training rows fill 8 batches)")
    p.add_argument("--optimizer", default=_DEFAULTS.optimizer, choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, help=f"peak learning rate; default {_DEFAULTS.learning_rate} (forecasting: 3e-3)")
    p.add_argument("--weight-decay", type=float, help=f"default {_DEFAULTS.weight_decay} (forecasting: 0)")
    p.add_argument("--schedule", choices=SCHEDULES, help=f"default {_DEFAULTS.schedule} (tables: constant)")
    p.add_argument("--step-epochs", type=_int_list, help="for --schedule step: comma-separated epochs, e.g. 100,150")
    p.add_argument("--warmup-epochs", type=float, default=_DEFAULTS.warmup_epochs)
    p.add_argument("--clipnorm", type=float, default=_DEFAULTS.clipnorm)
    p.add_argument("--label-smoothing", type=float, default=_DEFAULTS.label_smoothing)
    p.add_argument("--mixed-precision", action="store_true", default=None,
                   help="bfloat16 compute (default: on where a GPU or a CPU with AVX512_BF16/AMX computes it "
                        "natively, off elsewhere)")
    p.add_argument("--no-mixed-precision", dest="mixed_precision", action="store_false", help="float32 compute")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help=f"default {_DEFAULTS.early_stopping_patience} (forecasting: 20)")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    p.add_argument("--precise-bn", type=int, default=_DEFAULTS.precise_bn_examples, metavar="EXAMPLES",
                   help="after training, batch norm statistics = the average over this many training examples' "
                        f"batches (default {_DEFAULTS.precise_bn_examples}; 0: keep the moving averages)")
    p.add_argument("--backup-every", type=int, default=_DEFAULTS.backup_every_steps,
                   help="mid-epoch backup every N steps")
    p.add_argument("--quiet", action="store_true")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return value


def _int_list(text):
    try:
        return tuple(int(e) for e in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 100,150; got {text!r}")


def _dataset_help():
    sources = read_catalog()
    return " | ".join([*sources["datasets"], *(f"{k}:{s['path']}" for k, s in sources["sources"].items())])


_TYPES = {"str": str, "int": int, "float": float, "positive_int": _positive_int}  # pipelines.registry.OPTION_TYPES


def add_data_args(p):
    """One flag per source option, as the sources declare them (`pipelines/sources.json`, written from
    `pipelines.registry`): `--label-column` for `text:` and `tabular:`, ... Passed to the source only
    when given, and checked against it."""
    sources = read_catalog()["sources"]
    kinds = " | ".join(f"{kind}:{source['path']}" for kind, source in sources.items())
    g = p.add_argument_group(f"your own data (--dataset {kinds})")
    options = {}
    for kind, source in sources.items():
        for name, declared in source["options"].items():
            options.setdefault(name, []).append((kind, declared))
    for name, uses in sorted(options.items()):
        first = uses[0][1]
        helps = {}
        for kind, declared in uses:
            helps.setdefault(declared["help"], []).append(kind)
        text = "; ".join(f"{'/'.join(kinds)}: {h}" for h, kinds in helps.items())
        if first["negate"]:
            g.add_argument(first["negate"], dest=name, action="store_const", const=False, help=text)
        else:
            g.add_argument("--" + name.replace("_", "-"), type=_TYPES[first["type"]], choices=first["choices"],
                           help=text)


def _add_export_args(p):
    p.add_argument("source", help="a .keras file, a `zoo train` run folder, or a registered model name")
    p.add_argument("--out", required=True)
    p.add_argument("--formats", help="comma-separated export formats: saved_model,tflite,onnx (the default), "
                                     "web (a page and zoo-model.js on onnxruntime-web; `zoo setup-web` first), "
                                     "openvino (IR fp32/int8; pip install \"keras-zoo[openvino]\")")
    p.add_argument("--quantize", help="quantizations, each written by the formats that declare it: LiteRT "
                   "fp32,fp16,dynamic,int8; int8 also writes static int8 ONNX (and web, OpenVINO) files (default: all of them where "
                   "the run's data or --dataset gives calibration data, else all but int8)")
    p.add_argument("--max-accuracy-drop", type=float, default=1.0, metavar="POINTS",
                   help="accuracy budget: a fp16/dynamic/int8 file that loses more on the labelled test examples "
                        "fails the export (default 1.0: accuracy points for classifiers, percent of the RMSE "
                        "for tabular regressors)")
    p.add_argument("--dataset", help="calibration and verification data (default: the run's dataset)")
    p.add_argument("--data-dir")
    p.add_argument("--calibration-data", help=".npy of representative inputs")
    p.add_argument("--calibration-size", type=_positive_int, default=300)
    p.add_argument("--eval-size", type=_positive_int, default=1000)
    p.add_argument("--weights", help="for a registered name: a weights file, 'imagenet', or the zoo's own "
                   "weights (zoo list --weights)")
    p.add_argument("--onnx-target", choices=("x86", "arm"), default="x86", help="the CPU family the int8 ONNX "
                   "file is made for: x86 (unsigned 8-bit activations, 7-bit weights: ONNX Runtime's fast x86 "
                   "kernels) or arm (signed 8-bit activations and weights)")
    p.add_argument("--max-pixels", type=_positive_int, metavar="N", help="the SavedModel's serving_bytes refuses an "
                   "encoded image declaring more pixels, before decoding it (default 25,000,000)")
    p.add_argument("--name")
    p.add_argument("--opset", type=int, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--allow-flex", action="store_true", help="let TFLite use Flex (TF) ops")
    p.add_argument("--model-space", action="store_true",
                   help="forecasters: files that take and return the transformed (log, relative, scaled) values "
                        "the network was trained on (default: series units, the transform inside each file)")
    p.set_defaults(func=commands.export)


def _cmd_setup_web(args):
    from export import web

    web.setup()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    from zoo.tasks_names import TASK_NAMES

    p = sub.add_parser("list", help="list registered models (name, family, task, params, input)")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family")
    p.add_argument("--task", choices=TASK_NAMES)
    p.add_argument("--weights", action="store_true", help="only models with trained weights (the zoo's own, "
                   "keras.applications')")
    p.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("info", help="family, task, input spec, size and trained weights of a model")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train a registered model on a dataset")
    p.add_argument("model")
    p.add_argument("--dataset", default="digits", help=_dataset_help())
    p.add_argument("--data-dir")
    p.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. limit=2000 or sequence_length=128")
    add_data_args(p)
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="builder override, e.g. dropout=0.2 or units=[64,64]")
    p.add_argument("--strategy", default="default", choices=STRATEGIES,
                   help="multi_worker and parameter_server read TF_CONFIG (parameter_server: the same command "
                   "on every task; the chief trains, workers and ps serve)")
    p.add_argument("--cpu-replicas", type=int, default=0,
                   help="with --strategy mirrored and no GPU: split the CPU into N devices")
    p.add_argument("--out", help="run folder: model.keras, checkpoints, backup (resumes), logs (default: a new "
                                 "runs/MODEL-DATE folder; $ZOO_RUNS_DIR instead of runs/)")
    p.add_argument("--restart", action="store_true",
                   help="start the run in --out over (its backup and checkpoints are deleted) instead of resuming")
    _add_train_args(p)
    p.set_defaults(func=commands.train)

    _add_export_args(sub.add_parser("export", help="export to SavedModel / TFLite / ONNX and verify each file"))

    p = sub.add_parser("verify", help="re-check an export folder against its Keras model")
    p.add_argument("folder")
    p.add_argument("--emulate-cpu", choices=["avx2"], default=None,
                   help="run the ONNX, LiteRT and OpenVINO files as an AVX2-only x86 host would (no VNNI: its "
                        "int8 kernels differ) and check them by the same criteria; needs qemu-user "
                        "(apt-get install qemu-user). Leaves report.json and the card as they are")
    p.set_defaults(func=commands.verify)

    p = sub.add_parser("predict", help="predict with a run folder, an export folder or an exported file")
    p.add_argument("source", help="a `zoo train` run folder, a `zoo export` folder, or one exported file (.keras, "
                                  ".tflite, .onnx, a SavedModel version folder)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders or globs; texts, or .txt/.csv/.tsv files of texts; table rows in "
                        "CSV/TSV/JSONL files; a CSV series")
    p.add_argument("--runtime", help="keras, or an exported file by its key (tflite_fp32, onnx, onnx_int8, ...; "
                                     "default: the export's fastest verified file)")
    p.add_argument("--top-k", type=_positive_int, default=3, help="classes shown per input (default 3)")
    p.add_argument("--column", help="the text column of a table of texts, or the value column of a series")
    p.add_argument("--json", action="store_true", help="one JSON line per input")
    p.set_defaults(func=commands.predict)

    p = sub.add_parser("bench", help="params, FLOPs, train throughput, latency per runtime")
    p.add_argument("model")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--input-size", type=int, help="image side for image models")
    p.add_argument("--runtimes", default="keras,onnx,tflite_fp32",
                   help="keras, keras_jit, or any exported file by its manifest key: saved_model, tflite_fp32, "
                        "tflite_fp16, tflite_dynamic, tflite_int8, onnx, onnx_int8, web, web_int8 (Node.js), openvino, "
                        "openvino_int8")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.set_defaults(func=commands.bench)

    p = sub.add_parser("setup-web", help="install the pinned onnxruntime-web the `web` export format vendors and "
                                         "`zoo verify` runs in Node.js (npm ci; needs Node.js 18+)")
    p.set_defaults(func=_cmd_setup_web)

    p = sub.add_parser("quickstart", help="train on digits, export all formats, verify (offline)")
    p.add_argument("--out", help="default: runs/quickstart-<time>")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.quickstart)
    for command in sub.choices.values():  # `--debug` before or after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    return parser


STOP_GRACE = float(os.environ.get("ZOO_STOP_GRACE", "10"))  # seconds a stopped cluster run has before it is killed


def _stop_on_sigterm():
    """SIGTERM stops a command as Ctrl-C does: a KeyboardInterrupt at the main thread's next Python step (a run
    keeps its last backup, so the same command resumes it)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _die_with_parent():
    """In the supervised child (Linux): SIGKILL when the supervisor dies, even by SIGKILL, so that no orphan
    keeps the run's port and folder lock."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _supervise(argv):
    """Run a cluster training (`--strategy multi_worker|parameter_server`) in a child process and stop it on
    SIGTERM/Ctrl-C: TensorFlow's collectives take SIGTERM over for their own preemption notices and wait for a
    lost task inside C++ holding the GIL, where no Python handler runs. The child gets SIGINT (a
    KeyboardInterrupt at its next Python step, the run resumable from its backup), and SIGKILL `STOP_GRACE`
    seconds later if it is still waiting inside TensorFlow."""
    import signal
    import subprocess
    import time

    child = subprocess.Popen([sys.executable, "-m", "app.cli", *argv], env={**os.environ, "ZOO_SUPERVISED": "1"},
                             preexec_fn=_die_with_parent)
    stop_at = []

    def stop(signum, frame):
        if not stop_at:
            stop_at.append(time.monotonic() + STOP_GRACE)
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while child.poll() is None:
        if stop_at and time.monotonic() > stop_at[0]:
            child.kill()
            child.wait()
            print("zoo: stopped (the run was waiting inside TensorFlow for its cluster; its last backup resumes it)",
                  file=sys.stderr, flush=True)
            return 130
        time.sleep(0.1)
    return 130 if stop_at else (child.returncode if child.returncode >= 0 else 128 - child.returncode)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if argv is None:  # the `zoo` command itself (tests call main([...]) in their own process)
        if getattr(args, "strategy", None) in ("multi_worker", "parameter_server") and \
                not os.environ.get("ZOO_SUPERVISED"):
            return _supervise(sys.argv[1:])
        _stop_on_sigterm()
    if args.func not in (_cmd_list, _cmd_info):
        from pipelines.quiet import import_tensorflow

        import_tensorflow()
    warnings.filterwarnings("ignore", module="tensorflow.lite")
    warnings.filterwarnings("ignore", message=".*np.object.*")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line, never a bare traceback; --debug shows it
        if args.debug:
            raise
        print(f"zoo: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err):
    """The message of an expected error as is; anything else with its type (and the --debug hint)."""
    message = getattr(err, "message", None) or str(err)  # tf.errors carry .message
    message = " ".join(message.split()) or type(err).__name__
    if isinstance(err, (ValueError, OSError)) and not type(err).__module__.startswith("tensorflow"):
        return message
    return f"{type(err).__name__}: {message[:800]} (run with --debug for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
