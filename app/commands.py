"""What each `zoo` command does (the parser is `app.cli`): train, export, verify, quickstart, bench.
Heavy imports (Keras, TensorFlow, the exporters) happen inside the commands, so `zoo --help`, `zoo list`
and `zoo info` stay instant."""

import json
import os

from zoo import recipes
from zoo.config import TrainConfig
from zoo.run_folder import load_run

# Python's spellings of constants, as people type them after `=` (JSON's are true/false/null)
_CONSTANTS = {"True": True, "False": False, "None": None}


def parse_model_args(pairs, flag="--model-arg"):
    """`{key: value}` from `KEY=VALUE` pairs: VALUE as JSON (`3`, `[64,64]`, `true`), Python's `True`/`False`/
    `None` as those, anything else as a string."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"{flag} takes KEY=VALUE (VALUE as JSON). Received: {pair!r}")
        key, value = pair.split("=", 1)
        if value in _CONSTANTS:
            out[key] = _CONSTANTS[value]
            continue
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def train_config(args, task=None, train_size=None, **overrides):
    """The run's `TrainConfig`: the command line's values, else the task's recipe (`zoo.recipes.recipe`)."""
    fields = recipes.recipe(task, train_size)
    given = dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                 weight_decay=args.weight_decay, early_stopping_patience=args.early_stopping,
                 schedule=args.schedule)
    fields.update({k: v for k, v in given.items() if v is not None})
    fields.update(
        optimizer=args.optimizer,
        warmup_epochs=args.warmup_epochs, clipnorm=args.clipnorm,
        label_smoothing=args.label_smoothing, mixed_precision=mixed_precision(args, task),
        seed=args.seed, out_dir=args.out, precise_bn_examples=args.precise_bn,
        backup_every_steps=args.backup_every, verbose=0 if args.quiet else 1,
    )
    if args.step_epochs:
        fields["step_epochs"] = args.step_epochs
    fields.update(overrides)
    return TrainConfig(**fields)


def mixed_precision(args, task=None):
    """`--mixed-precision`/`--no-mixed-precision`, else the library's default (`zoo.recipes`)."""
    if args.mixed_precision is not None:
        return args.mixed_precision
    return recipes.mixed_precision_default(task)


def default_precision(args, data, kwargs):
    """`(bf16?, reason)` when the command line does not say: what a run being resumed started with, else
    bf16 only where `zoo.precision` measured it faster for this model here."""
    from zoo import precision

    recorded = os.path.join(args.out or "", "config.json")
    if args.out and os.path.exists(recorded) and not args.restart:
        with open(recorded) as f:
            started = bool(json.load(f).get("mixed_precision"))
        return started, f"{'mixed bfloat16' if started else 'float32'}, as the run in {args.out} started"
    batch = train_config(args, data.task, data.sizes.get("train"), mixed_precision=False).batch_size
    return precision.choose(args.model, kwargs, batch, data.task)


def check_out(path, flag="--out"):
    """Refuse an output folder that cannot be made or written, before any work: under a file, or read-only."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if probe != os.path.abspath(path) and not os.path.isdir(probe):
        raise ValueError(f"{flag} {path!r}: {probe!r} is a file, so no folder can be made under it. Choose another "
                         f"{flag}.")
    folder = probe if os.path.isdir(probe) else os.path.dirname(probe)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path!r}: {folder!r} is not writable (read-only, or another user's). Choose another "
                         f"{flag}.")


def new_run_folder(model_name):
    """`runs/NAME-YYYYmmdd-HHMMSS` (`$ZOO_RUNS_DIR` instead of `runs`), a new folder each call."""
    import time

    base = os.path.join(os.environ.get("ZOO_RUNS_DIR", "runs"), f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    return path


def train(args):
    import pipelines
    import zoo
    from zoo.train import fit

    zoo.get_spec(args.model)  # unknown names fail before any data is read
    if args.out is None and args.strategy not in ("multi_worker", "parameter_server"):  # (those share one --out)
        args.out = new_run_folder(args.model)
        print(f"No --out given: the run goes to {args.out}", flush=True)
    if args.out:
        check_out(args.out)
    if args.strategy == "parameter_server" and pipelines.parameter_server_task() in ("worker", "ps"):
        # Parameter-server workers and ps tasks only serve the chief's requests.
        print(f"Serving as the parameter-server cluster's {pipelines.parameter_server_task()!r} task "
              "(from TF_CONFIG) until stopped; the 'chief' task runs the training.", flush=True)
        pipelines.serve_cluster_task()
        return 0
    if args.strategy == "mirrored" and args.cpu_replicas:
        pipelines.use_logical_cpus(args.cpu_replicas)
    if args.strategy in ("multi_worker", "parameter_server") and os.environ.get("TF_CONFIG"):
        # TensorFlow would wait for a missing task forever, silently: said within ZOO_CLUSTER_WAIT seconds
        pipelines.wait_for_cluster(float(os.environ.get("ZOO_CLUSTER_WAIT", "60")))
    # Strategies first: multi-worker collectives must be set up before any TF op.
    strategy = pipelines.get_strategy(args.strategy)
    data_kwargs = {**parse_model_args(args.data_arg, "--data-arg"), **data_flags(args)}
    data = pipelines.load_dataset(args.dataset, args.data_dir, **data_kwargs)
    if args.out:
        print(_data_line(data), flush=True)
    kwargs = {**recipes.model_kwargs_for(args.model, data), **parse_model_args(args.model_arg)}
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out!r} is a file; a run needs a folder.")
    if args.mixed_precision is None:
        args.mixed_precision, reason = default_precision(args, data, kwargs)
        if args.out:
            print(f"Precision: {reason}; --mixed-precision / --no-mixed-precision to choose", flush=True)
    config = train_config(args, data.task, data.sizes.get("train"))
    result = fit(lambda: zoo.create_model(args.model, **kwargs), data, config=config, strategy=strategy,
                 restart=args.restart)
    if data.task == "forecasting" and data.test is not None and result.model is not None:
        _print_forecast(pipelines.forecast_report(result.model, data), args.out)
    if data.task in recipes.TABLE_TASKS and (data.test is not None or data.val is not None) and result.model is not None:
        _print_table_metrics(result.model, data, args.out)
    if args.out:
        print(f"Saved {os.path.join(args.out, 'model.keras')}")
    return 0 if result.history else 1


def data_flags(args):
    """The source options given as flags (`--label-column`, ...; declared by the sources, see
    `app.cli.add_data_args`), passed to the source only when given (and checked against it)."""
    from pipelines.registry import read_catalog

    names = {o for s in read_catalog()["sources"].values() for o in s["options"]}
    return {k: getattr(args, k) for k in sorted(names) if getattr(args, k, None) is not None}


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
        from pipelines.files import write_json

        write_json(os.path.join(out, "forecast.json"), report)


def _print_table_metrics(model, data, out):
    """The tabular model's test metrics next to the baseline's (`metrics.json` in the run folder)."""
    from zoo import metrics

    report = metrics.evaluate(model, data)
    units = f"target {data.preprocessing.get('target')!r} units" if data.task == "regression" else ""
    print("\n" + metrics.format_report(report, units))
    if out:
        from pipelines.files import write_json

        write_json(os.path.join(out, "metrics.json"), report)


def export(args):
    import numpy as np

    from export import export_model

    check_out(args.out)
    model, info = load_run(args.source, args.weights)
    labels, preprocessing, task = info.get("labels"), info.get("preprocessing"), info.get("task")
    if args.calibration_data and not os.path.isfile(args.calibration_data):
        raise ValueError(f"--calibration-data {args.calibration_data!r} does not exist (a .npy of inputs).")
    data = _export_data(args, info)
    calibration = eval_data = None
    if data is not None:
        labels, preprocessing, task = data.labels, data.preprocessing, data.task
        calibration, eval_data = _samples(data, args)
        if data.task == "forecasting" and not args.model_space:  # files in series units, the transform inside
            from zoo.layers import in_series_units

            model, preprocessing = in_series_units(model, preprocessing), {**preprocessing, "units": "series"}
    if args.calibration_data:
        try:
            calibration = np.load(args.calibration_data, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"--calibration-data {args.calibration_data!r} is not a .npy array ({err}).") from None
    # int8 (LiteRT and ONNX) by default wherever there is data to calibrate on (export_model adds it).
    quantizations = tuple(q for q in args.quantize.split(",") if q) if args.quantize else None
    if quantizations is not None and "int8" not in quantizations:
        calibration = None
    report = export_model(
        model, args.out, formats=tuple(args.formats.split(",")) if args.formats else None, name=args.name,
        quantizations=quantizations, calibration_data=calibration, eval_data=eval_data,
        class_names=labels, preprocessing=preprocessing, vectorizer=info.get("vectorizer"),
        opset=args.opset, overwrite=args.overwrite, allow_flex=args.allow_flex,
        task=None if getattr(model, "task", None) else task, max_accuracy_drop=args.max_accuracy_drop,
        training=_training_of(args.source), max_pixels=args.max_pixels, onnx_target=args.onnx_target)
    print(f"Wrote {args.out} (MODEL_CARD.md, report.json, zoo_export.json)")
    return 0 if report["passed"] else 1


def _export_data(args, info):
    """The data to calibrate and score on: the run's own (as recorded; `--data-dir` where it moved), or
    `--dataset`; None without either."""
    import pipelines

    if args.dataset and info.get("name") and args.dataset != info["name"]:
        raise ValueError(f"{args.source!r} was trained on {info['name']!r}; --dataset {args.dataset} would calibrate "
                         "and score it on other data (its labels need not mean the same). Leave --dataset out, or "
                         f"pass --dataset {info['name']}.")
    dataset = args.dataset or info.get("name")
    spec = None if args.dataset else info.get("spec")
    if not (spec or (dataset and (args.dataset or dataset == "digits"))):
        return None
    kwargs = {}
    if info.get("vectorizer") is not None:  # a text run: its vocabulary, its sequence length
        pre = info.get("preprocessing", {})
        kwargs = {"vectorizer": info["vectorizer"], "sequence_length": pre.get("sequence_length", 200),
                  "truncate": pre.get("truncate", "post")}
    if spec:
        return pipelines.load_spec(spec, data_dir=args.data_dir, **kwargs)
    return pipelines.load_dataset(dataset, args.data_dir, **kwargs)


def _samples(data, args):
    """(calibration inputs, (eval inputs, eval targets)): seeded random examples; a forecaster's windows in
    series units, in order (each window's base is known by its position), unless `--model-space`."""
    import pipelines

    split = "test" if data.test is not None else "val"
    if data.task != "forecasting" or args.model_space:
        return (pipelines.sample_arrays(data, "train", args.calibration_size)[0],
                pipelines.sample_arrays(data, split, args.eval_size))
    calibration = pipelines.take_arrays(data.batches("train", 64, training=False), args.calibration_size)[0]
    x, y = pipelines.take_arrays(data.batches(split, 64, training=False), args.eval_size)
    return (pipelines.invert_windows(data, "train", calibration),
            (pipelines.invert_windows(data, split, x), pipelines.invert_windows(data, split, y)))


def _training_of(source):
    from zoo.run_folder import read_training

    run_dir = source if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
    return read_training(run_dir) or None


def verify(args):
    from export import verify_export

    return 0 if verify_export(args.folder, emulate=args.emulate_cpu)["passed"] else 1


def quickstart(args):
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
    calibration = pipelines.take_arrays(data.batches("train", 64, training=False), 300)[0]
    test = pipelines.take_arrays(data.batches("test", 64, training=False), data.sizes["test"])
    report = export_model(result.model, os.path.join(out, "export"), name="digits_mlp",
                          calibration_data=calibration, eval_data=test, class_names=data.labels,
                          preprocessing=data.preprocessing, verbose=False, training=_training_of(config.out_dir))
    from export.verify import format_table

    print()
    print(format_table(report))
    print()
    print(f"{'result':<34} {'test accuracy':>14}")
    print(f"{'keras (training run)':<34} {result.evaluation['accuracy']:>14.4f}")
    for row in report["results"]:
        print(f"{row['file']:<34} {row['accuracy']:>14.4f}")
    print(f"\nRun folder: {os.path.join(out, 'run')}   Exports: {os.path.join(out, 'export')} "
          f"(read {os.path.join(out, 'export', 'MODEL_CARD.md')})")
    print(f"Predict:    zoo predict {os.path.join(out, 'export')} IMAGE.png")
    print(f"Serve it:   docker run -p 8501:8501 -v {os.path.abspath(out)}/export/saved_model/digits_mlp:"
          "/models/digits_mlp -e MODEL_NAME=digits_mlp tensorflow/serving")
    return 0 if report["passed"] else 1


def bench(args):
    from app.bench import benchmark_model

    result = benchmark_model(args.model, batch_size=args.batch_size, input_size=args.input_size,
                             runtimes=tuple(args.runtimes.split(",")), train_steps=args.steps,
                             repeats=args.repeats)
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        print(f"{key:<{width}}  {shown}")
    return 0


def predict(args):
    """`zoo predict SOURCE INPUT...`: class names and probabilities, values or forecasts, one line (or one
    JSON line) per input."""
    from export import Predictor

    predictor = Predictor(args.source, runtime=args.runtime)
    results = predictor.predict(args.inputs, top_k=args.top_k, column=args.column, progress=True)
    if not args.json:
        print(f"{predictor.task} model, runtime {predictor.runtime} ({len(results)} input(s))")
    for result in results:
        if args.json:
            print(json.dumps(result))
        elif "classes" in result:
            shown = ", ".join(f"{name} {p:.3f}" for name, p in result["classes"])
            print(f"{result['input']}: {shown}")
        elif "forecast" in result:
            print(f"{result['input']}: next {len(result['forecast'])}: "
                  + ", ".join(f"{v:.6g}" for v in result["forecast"]))
        else:
            print(f"{result['input']}: {result['value']:.6g}")
    return 0
