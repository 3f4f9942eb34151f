"""The `zoo` command line.

`zoo --help`, `zoo list` and `zoo info` read the model catalog
(`zoo/catalog.json`) and import neither Keras nor TensorFlow; the other
commands load them on demand, with TensorFlow's C++ and absl logging
silenced before it loads.
"""

import argparse
import dataclasses
import difflib
import json
import os
import sys
import warnings

# Before TensorFlow is imported anywhere: its C++ INFO/WARNING lines and
# absl's pre-init notice are noise on a command line (errors still print).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from pipelines.constants import BUILTIN_DATASETS, DATASET_PREFIXES, STRATEGIES  # noqa: E402
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
    if args.json:
        print(json.dumps([{**catalog[n], "name": n} for n in names], indent=1))
        return 0
    rows = [(n, catalog[n]["family"], catalog[n]["task"], f"{catalog[n]['params']:,}", _format_input(catalog[n]))
            for n in names]
    header = ("name", "family", "task", "params", "input")
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
    print(json.dumps({"name": args.name, **catalog[args.name]}, indent=2))
    return 0


TABLE_TASKS = ("tabular_classification", "regression")  # the tasks of `tabular:` data


def model_kwargs_for(name, data):
    """Builder arguments that fit a registered model to a dataset."""
    import zoo

    spec = zoo.get_spec(name)
    if spec.task != data.task:
        raise ValueError(
            f"{name!r} is a {spec.task} model but dataset {data.name!r} is {data.task}. "
            f"Pick a model from `zoo list --task {data.task}`.")
    if data.task == "image_classification":
        return {"input_shape": tuple(data.input_shape), "classes": data.num_classes}
    if data.task == "text_classification":
        kwargs = {"vocab_size": data.preprocessing["vocab_size"], "classes": data.num_classes}
        if spec.family == "transformer":
            kwargs["sequence_length"] = data.preprocessing["sequence_length"]
        return kwargs
    if data.task == "forecasting":
        kwargs = {"input_shape": tuple(data.input_shape), "horizon": data.preprocessing["horizon"]}
        if spec.family == "rnn":  # the naive forecast to correct: the better one on the validation windows
            kwargs.update(forecast_base(data))
        return kwargs
    if data.task in TABLE_TASKS:
        return tabular_kwargs(spec, data)
    raise ValueError(f"`zoo train` has no datasets for {data.task} models yet.")


def forecast_base(data):
    """`{"base": "seasonal", "season": m}` or `{"base": "last"}`: the naive forecast with the lower RMSE on
    the validation windows (the training windows where there are none), which the forecaster corrects.
    (The drift method is not a candidate: chosen this way on `benchmarks/forecasting.py`'s series, it
    raised the test RMSE where it won on validation — GDP and sunspots, whose test periods break the
    validation period's trend.)"""
    import pipelines

    split = "val" if data.val is not None else "train"
    naive = pipelines.naive_baselines(data, split)
    if "seasonal_naive" in naive and naive["seasonal_naive"]["rmse"] <= naive["last_value"]["rmse"]:
        return {"base": "seasonal", "season": int(data.extras["season"])}
    return {"base": "last"}


def tabular_kwargs(spec, data):
    """A tabular model's builder arguments from its table: the encoded width, classes (or one output),
    and for the zoo's tabular models the numeric columns to embed and the regression target's scale."""
    kwargs = {"input_shape": tuple(data.input_shape),
              "classes": data.num_classes if data.task == "tabular_classification" else 1}
    pre = data.preprocessing or {}
    if spec.family == "mlp":  # every tabular MLP is a zoo.mlp.TabularMLP
        if "layout" in pre:
            kwargs["numeric_features"] = pre["layout"]["numeric"]
        if data.task == "regression" and pre.get("target_scale"):
            kwargs.update(target_mean=pre["target_scale"]["mean"], target_std=pre["target_scale"]["std"])
    return kwargs


def _parse_model_args(pairs):
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--model-arg takes KEY=VALUE (VALUE as JSON). Received: {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def _mixed_precision(args, task=None):
    """`--mixed-precision`/`--no-mixed-precision`, else on where bf16 is native (`zoo.config.bf16_hardware`),
    except for tables (`TABLE_TASKS`: small MLPs, where bf16 saves nothing and costs digits)."""
    if args.mixed_precision is not None:
        return args.mixed_precision
    if task in TABLE_TASKS:
        return False
    from zoo.config import bf16_hardware

    return bf16_hardware() is not None


def _train_config(args, task=None, train_size=None, **overrides):
    """The run's `TrainConfig`: the command line's values, else the task's recipe defaults
    (`zoo.config.TASK_DEFAULTS`), else `TrainConfig`'s. A recipe's batch size is halved (down to 16)
    until the training split holds at least 8 batches (`train_size`): small tables still take
    several steps an epoch."""
    from zoo.config import TASK_DEFAULTS

    recipe = {**dataclasses.asdict(_DEFAULTS), **TASK_DEFAULTS.get(task, {})}
    if train_size and task in TASK_DEFAULTS and "batch_size" in TASK_DEFAULTS[task]:
        while recipe["batch_size"] > 16 and recipe["batch_size"] * 8 > train_size:
            recipe["batch_size"] //= 2
    given = dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                 weight_decay=args.weight_decay, early_stopping_patience=args.early_stopping,
                 schedule=args.schedule)
    fields = {k: (recipe[k] if v is None else v) for k, v in given.items()}
    fields.update(
        optimizer=args.optimizer,
        warmup_epochs=args.warmup_epochs, clipnorm=args.clipnorm,
        label_smoothing=args.label_smoothing, mixed_precision=_mixed_precision(args, task),
        seed=args.seed, out_dir=args.out, precise_bn_examples=args.precise_bn,
        backup_every_steps=args.backup_every, verbose=0 if args.quiet else 1,
    )
    if args.step_epochs:
        fields["step_epochs"] = args.step_epochs
    fields.update(overrides)
    return TrainConfig(**fields)


def _cmd_train(args):
    import pipelines
    import zoo
    from zoo.train import fit

    zoo.get_spec(args.model)  # unknown names fail before any data is read
    if args.strategy == "parameter_server" and pipelines.parameter_server_task() in ("worker", "ps"):
        # Parameter-server workers and ps tasks only serve the chief's requests.
        print(f"Serving as the parameter-server cluster's {pipelines.parameter_server_task()!r} task "
              "(from TF_CONFIG) until stopped; the 'chief' task runs the training.", flush=True)
        pipelines.serve_cluster_task()
        return 0
    if args.strategy == "mirrored" and args.cpu_replicas:
        pipelines.use_logical_cpus(args.cpu_replicas)
    # Strategies first: multi-worker collectives must be set up before any TF op.
    strategy = pipelines.get_strategy(args.strategy)
    data_kwargs = {**_parse_model_args(args.data_arg), **_data_flags(args)}
    data = pipelines.load_dataset(args.dataset, args.data_dir, **data_kwargs)
    if args.out:
        print(_data_line(data), flush=True)
        if args.mixed_precision is None and data.task in TABLE_TASKS:
            print("Precision: float32 (tables; --mixed-precision for bf16)")
        elif args.mixed_precision is None:
            from zoo.config import bf16_hardware

            native = bf16_hardware()
            print(f"Precision: mixed bfloat16 ({native} computes bf16 natively; --no-mixed-precision for float32)"
                  if native else "Precision: float32 (no native bf16 here; --mixed-precision to force bf16)")
    kwargs = {**model_kwargs_for(args.model, data), **_parse_model_args(args.model_arg)}
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out!r} is a file; a run needs a folder.")
    config = _train_config(args, data.task, data.sizes.get("train"))
    result = fit(lambda: zoo.create_model(args.model, **kwargs), data, config=config, strategy=strategy,
                 restart=args.restart)
    if data.task == "forecasting" and data.test is not None and result.model is not None:
        _print_forecast(pipelines.forecast_report(result.model, data), args.out)
    if data.task in TABLE_TASKS and (data.test is not None or data.val is not None) and result.model is not None:
        _print_table_metrics(result.model, data, args.out)
    if args.out:
        print(f"Saved {os.path.join(args.out, 'model.keras')}")
    return 0 if result.history else 1


# --text-column etc. -> the source's options (checked against it: sst2 has no text_column)
DATA_FLAGS = ("text_column", "label_column", "task", "categorical_columns", "ignore_columns", "class_names", "column",
              "date_column", "transform", "season", "horizon", "input_width", "header", "val_fraction",
              "test_fraction", "na_values")


def _data_flags(args):
    return {k: getattr(args, k) for k in DATA_FLAGS if getattr(args, k, None) is not None}


def _data_line(data):
    sizes = ", ".join(f"{k} {v:,}" for k, v in data.sizes.items())
    line = f"Data {data.name}: {data.task}, {sizes}"
    if data.labels:
        line += f"; {len(data.labels)} classes {data.labels[:10]}{' ...' if len(data.labels) > 10 else ''}"
    dropped = data.extras.get("dropped_rows")
    if dropped:
        line += (f"; left out {sum(v for k, v in dropped.items() if k != 'reason'):,} row(s) whose "
                 f"{dropped['reason']}")
    counts = data.extras.get("class_counts", {}).get("train")
    if counts and min(counts.values()) * 5 < max(counts.values()):
        line += f"; imbalanced training labels {counts} (accuracy alone can mislead)"
    return line


def _print_forecast(report, out):
    steps = len(report["model"].get("rmse_per_step", []))
    per_step = "".join(f" {'RMSE t+' + str(k + 1):>12}" for k in range(steps))
    print(f"\n{'test windows, series units':<28} {'RMSE':>12} {'MAE':>12}{per_step}")
    for key, row in report.items():
        print(f"{key:<28} {row['rmse']:>12.4g} {row['mae']:>12.4g}"
              + "".join(f" {v:>12.4g}" for v in row.get("rmse_per_step", [])))
    if out:
        from zoo.files import write_json

        write_json(os.path.join(out, "forecast.json"), report)


def _print_table_metrics(model, data, out):
    """The tabular model's test metrics next to the baseline's (`metrics.json` in the run folder)."""
    from zoo import metrics

    report = metrics.evaluate(model, data)
    units = f"target {data.preprocessing.get('target')!r} units" if data.task == "regression" else ""
    print("\n" + metrics.format_report(report, units))
    if out:
        from zoo.files import write_json

        write_json(os.path.join(out, "metrics.json"), report)


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


def _load_source(source, weights=None):
    """(model, run_info) from a `.keras` file, a run folder or a registered name."""
    import zoo

    run_dir = None
    if os.path.isdir(source):
        run_dir, source = source, os.path.join(source, "model.keras")
    if source.endswith(".keras"):
        if not os.path.exists(source):
            raise ValueError(f"Model file {source!r} does not exist.")
        model = zoo.load_model(source)
        run_dir = run_dir or os.path.dirname(os.path.abspath(source))
    else:
        model = zoo.create_model(source, **({"weights": weights} if weights else {}))
    info = {}
    if run_dir and os.path.exists(os.path.join(run_dir, "data.json")):
        with open(os.path.join(run_dir, "data.json")) as f:
            info = json.load(f)
        vec = os.path.join(run_dir, "vectorizer.keras")
        if os.path.exists(vec):  # repaired with the model if saved before zoo's text standardization
            from pipelines.text import load_vectorizer

            info["vectorizer"], model = load_vectorizer(vec, model)
    return model, info


def _sample(data, split, limit, seed=0):
    """(x, y) arrays of `limit` examples drawn from `split` in a seeded random order (no augmentation):
    the first rows of a file are often one class (IMDB's test set starts with 12,500 negative
    reviews), which would calibrate int8 on one class and score every file on it."""
    import pipelines

    ds = data.split(split)
    size = data.sizes.get(split) or 10_000
    ds = ds.shuffle(min(size, 50_000), seed=seed, reshuffle_each_iteration=False)
    return _arrays(pipelines.make_batches(ds, 64, normalize=data.normalize, cache=False), limit)


def _arrays(ds, limit):
    """(x, y) NumPy arrays of the first `limit` examples of a batched dataset."""
    import numpy as np

    xs, ys, n = [], [], 0
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
        n += len(xs[-1])
        if n >= limit:
            break
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def _cmd_export(args):
    import numpy as np

    import pipelines
    from export import export_model

    model, info = _load_source(args.source, args.weights)
    calibration = eval_data = None
    labels, preprocessing = info.get("labels"), info.get("preprocessing")
    if args.dataset and info.get("name") and args.dataset != info["name"]:
        raise ValueError(f"{args.source!r} was trained on {info['name']!r}; --dataset {args.dataset} would calibrate "
                         "and score it on other data (its labels need not mean the same). Leave --dataset out, or "
                         f"pass --dataset {info['name']}.")
    if args.calibration_data and not os.path.isfile(args.calibration_data):
        raise ValueError(f"--calibration-data {args.calibration_data!r} does not exist (a .npy of inputs).")
    dataset = args.dataset or info.get("name")
    spec = None if args.dataset else info.get("spec")
    if spec or (dataset and (args.dataset or dataset == "digits")):
        kwargs = {}
        if info.get("vectorizer") is not None:  # a text run: its vocabulary, its sequence length
            pre = info.get("preprocessing", {})
            kwargs = {"vectorizer": info["vectorizer"], "sequence_length": pre.get("sequence_length", 200),
                      "truncate": pre.get("truncate", "post")}
        if spec:  # the run's own data, as recorded (`--data-dir` where it has moved)
            data = pipelines.load_spec(spec, data_dir=args.data_dir, **kwargs)
        else:
            data = pipelines.load_dataset(dataset, args.data_dir, **kwargs)
        labels, preprocessing = data.labels, data.preprocessing
        calibration = _sample(data, "train", args.calibration_size)[0]
        split = "test" if data.test is not None else "val"
        eval_data = _sample(data, split, args.eval_size)
    if args.calibration_data:
        try:
            calibration = np.load(args.calibration_data, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"--calibration-data {args.calibration_data!r} is not a .npy array ({err}).") from None
    # int8 (LiteRT and ONNX) by default wherever there is data to calibrate on; only when asked otherwise.
    quantizations = tuple(q for q in (args.quantize or "fp32,fp16,dynamic" + ",int8" * (calibration is not None))
                          .split(",") if q)
    if "int8" not in quantizations:
        calibration = None
    report = export_model(
        model, args.out, formats=tuple(args.formats.split(",")), name=args.name,
        quantizations=quantizations, calibration_data=calibration, eval_data=eval_data,
        class_names=labels, preprocessing=preprocessing, vectorizer=info.get("vectorizer"),
        opset=args.opset, overwrite=args.overwrite, allow_flex=args.allow_flex,
        task=None if getattr(model, "task", None) else info.get("task"), max_accuracy_drop=args.max_accuracy_drop)
    print(f"Wrote {args.out} (report.json, zoo_export.json)")
    return 0 if report["passed"] else 1


def _cmd_verify(args):
    from export import verify_export

    return 0 if verify_export(args.folder)["passed"] else 1


def _cmd_quickstart(args):
    import time

    import pipelines
    import zoo
    from export import export_model
    from zoo.train import TrainConfig, fit

    out = args.out or os.path.join("runs", time.strftime("quickstart-%Y%m%d-%H%M%S"))
    print(f"zoo quickstart: train mlp_tiny on scikit-learn digits, export, verify -> {out}")
    data = pipelines.load_dataset("digits")
    config = TrainConfig(epochs=args.epochs, batch_size=32, learning_rate=3e-3, warmup_epochs=1,
                         out_dir=os.path.join(out, "run"), verbose=0 if args.quiet else 1)
    result = fit(lambda: zoo.mlp_tiny(), data, config=config)
    calibration = _arrays(data.batches("train", 64, training=False), 300)[0]
    test = _arrays(data.batches("test", 64, training=False), data.sizes["test"])
    report = export_model(result.model, os.path.join(out, "export"), name="digits_mlp",
                          calibration_data=calibration, eval_data=test, class_names=data.labels,
                          preprocessing=data.preprocessing, verbose=False)
    from export.verify import format_table

    print()
    print(format_table(report))
    print()
    print(f"{'result':<34} {'test accuracy':>14}")
    print(f"{'keras (training run)':<34} {result.evaluation['accuracy']:>14.4f}")
    for row in report["results"]:
        print(f"{row['file']:<34} {row['accuracy']:>14.4f}")
    print(f"\nRun folder: {os.path.join(out, 'run')}   Exports: {os.path.join(out, 'export')}")
    print(f"Serve it:   docker run -p 8501:8501 -v {os.path.abspath(out)}/export/saved_model/digits_mlp:"
          "/models/digits_mlp -e MODEL_NAME=digits_mlp tensorflow/serving")
    return 0 if report["passed"] else 1


def _cmd_bench(args):
    from zoo.bench import benchmark_model

    result = benchmark_model(args.model, batch_size=args.batch_size, input_size=args.input_size,
                             runtimes=tuple(args.runtimes.split(",")), train_steps=args.steps,
                             repeats=args.repeats)
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        print(f"{key:<{width}}  {shown}")
    return 0


def _add_data_args(p):
    """Options of the generic sources, passed to the source only when given (and checked against it)."""
    g = p.add_argument_group("your own data (--dataset text:FILE | tabular:FILE | idx:FOLDER | series:FILE | "
                             "tfrecord:FOLDER)")
    g.add_argument("--text-column", help="text: column name or position; 'title,body' joins columns")
    g.add_argument("--label-column", help="text: label column; tabular: target column (default: the last), "
                                          "name or position")
    g.add_argument("--task", choices=("auto", "classification", "regression"),
                   help="tabular: default auto (strings or few integers: classification, else regression)")
    g.add_argument("--categorical-columns", help="tabular: 'a,b' one-hot encoded even if numeric (strings always are)")
    g.add_argument("--ignore-columns", help="tabular: 'id,notes' left out of the features")
    g.add_argument("--no-header", dest="header", action="store_const", const=False,
                   help="text: the first row is data (default: detected)")
    g.add_argument("--class-names", help="text/textfolder/tabular/idx/npz/tfrecord: 'a,b,c' or a file with one name per line "
                                         "(fixes the order)")
    g.add_argument("--column", help="series: the value column (default: the last numeric one)")
    g.add_argument("--date-column", help="series: sort by this date column (and guess the season)")
    g.add_argument("--transform", choices=("auto", "none", "log", "relative", "log_relative"),
                   help="series: default auto (never fails on zeros or negatives)")
    g.add_argument("--season", type=_positive_int, help="series: steps per season for the seasonal-naive baseline")
    g.add_argument("--horizon", type=_positive_int, help="series: steps ahead to forecast (default 1; RMSE reported "
                                                         "per step)")
    g.add_argument("--input-width", type=_positive_int, help="series: past steps the model reads (default 12)")
    g.add_argument("--na-values", help="tabular: more spellings of a missing value, e.g. '-,missing' (besides empty, "
                                       "NA, N/A, NaN, null, None, ?)")
    g.add_argument("--val-fraction", type=float, help="held-out share for validation (sources that split)")
    g.add_argument("--test-fraction", type=float, help="held-out share for testing (text:, tabular:, series:)")


def _add_export_args(p):
    p.add_argument("source", help="a .keras file, a `zoo train` run folder, or a registered model name")
    p.add_argument("--out", required=True)
    p.add_argument("--formats", default="saved_model,tflite,onnx")
    p.add_argument("--quantize", help="TFLite variants among fp32,fp16,dynamic,int8; int8 also writes a static "
                   "int8 ONNX file (default: all four where the run's data or --dataset gives calibration data, "
                   "else fp32,fp16,dynamic)")
    p.add_argument("--max-accuracy-drop", type=float, default=1.0, metavar="POINTS",
                   help="accuracy budget: a fp16/dynamic/int8 file that loses more on the labelled test examples "
                        "fails the export (default 1.0: accuracy points for classifiers, percent of the RMSE "
                        "for tabular regressors)")
    p.add_argument("--dataset", help="calibration and verification data (default: the run's dataset)")
    p.add_argument("--data-dir")
    p.add_argument("--calibration-data", help=".npy of representative inputs")
    p.add_argument("--calibration-size", type=_positive_int, default=300)
    p.add_argument("--eval-size", type=_positive_int, default=1000)
    p.add_argument("--weights", help="for a registered name: weights file or 'imagenet'")
    p.add_argument("--name")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--allow-flex", action="store_true", help="let TFLite use Flex (TF) ops")
    p.set_defaults(func=_cmd_export)


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    from zoo.tasks_names import TASK_NAMES

    p = sub.add_parser("list", help="list registered models (name, family, task, params, input)")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family")
    p.add_argument("--task", choices=TASK_NAMES)
    p.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("info", help="family, task, input spec and size of a model")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train a registered model on a dataset")
    p.add_argument("model")
    p.add_argument("--dataset", default="digits", help=" | ".join(BUILTIN_DATASETS + DATASET_PREFIXES))
    p.add_argument("--data-dir")
    p.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. limit=2000 or sequence_length=128")
    _add_data_args(p)
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="builder override, e.g. dropout=0.2 or units=[64,64]")
    p.add_argument("--strategy", default="default", choices=STRATEGIES,
                   help="multi_worker and parameter_server read TF_CONFIG (parameter_server: the same command "
                   "on every task; the chief trains, workers and ps serve)")
    p.add_argument("--cpu-replicas", type=int, default=0,
                   help="with --strategy mirrored and no GPU: split the CPU into N devices")
    p.add_argument("--out", help="run folder: model.keras, checkpoints, backup (resumes), logs")
    p.add_argument("--restart", action="store_true",
                   help="start the run in --out over (its backup and checkpoints are deleted) instead of resuming")
    _add_train_args(p)
    p.set_defaults(func=_cmd_train)

    _add_export_args(sub.add_parser("export", help="export to SavedModel / TFLite / ONNX and verify each file"))

    p = sub.add_parser("verify", help="re-check an export folder against its Keras model")
    p.add_argument("folder")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("bench", help="params, FLOPs, train throughput, latency per runtime")
    p.add_argument("model")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--input-size", type=int, help="image side for image models")
    p.add_argument("--runtimes", default="keras,onnx,tflite_fp32",
                   help="keras,keras_jit,saved_model,onnx,tflite_fp32,tflite_int8")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("quickstart", help="train on digits, export all formats, verify (offline)")
    p.add_argument("--out", help="default: runs/quickstart-<time>")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_quickstart)
    for command in sub.choices.values():  # `--debug` before or after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.func not in (_cmd_list, _cmd_info):
        from zoo._quiet import import_tensorflow

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
