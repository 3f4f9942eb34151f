"""The `zoo` command line."""

import argparse
import json
import os
import sys


def _cmd_list(args):
    import zoo

    for name in zoo.list_models(args.pattern, family=args.family, task=args.task):
        print(name)
    return 0


def _cmd_info(args):
    import zoo

    print(json.dumps(zoo.model_info(args.name), indent=2, default=str))
    return 0


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
        return {"input_shape": tuple(data.input_shape), "horizon": data.preprocessing["horizon"]}
    raise ValueError(f"`zoo train` has no datasets for {data.task} models yet.")


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


def _train_config(args, **overrides):
    from zoo.train import TrainConfig

    fields = dict(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
        learning_rate=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, clipnorm=args.clipnorm,
        label_smoothing=args.label_smoothing, mixed_precision=args.mixed_precision,
        early_stopping_patience=args.early_stopping, seed=args.seed, out_dir=args.out,
        backup_every_steps=args.backup_every, verbose=0 if args.quiet else 1,
    )
    if args.step_epochs:
        fields["step_epochs"] = tuple(int(e) for e in args.step_epochs.split(","))
    fields.update(overrides)
    return TrainConfig(**fields)


def _cmd_train(args):
    import pipelines
    import zoo
    from zoo.train import fit

    zoo.get_spec(args.model)  # unknown names fail before any data is read
    if args.strategy == "mirrored" and args.cpu_replicas:
        pipelines.use_logical_cpus(args.cpu_replicas)
    # Strategies first: multi-worker collectives must be set up before any TF op.
    strategy = pipelines.get_strategy(args.strategy)
    data_kwargs = _parse_model_args(args.data_arg)
    data = pipelines.load_dataset(args.dataset, args.data_dir, **data_kwargs)
    kwargs = {**model_kwargs_for(args.model, data), **_parse_model_args(args.model_arg)}
    result = fit(lambda: zoo.create_model(args.model, **kwargs), data, config=_train_config(args),
                 strategy=strategy)
    if args.out:
        print(f"Saved {os.path.join(args.out, 'model.keras')}")
    return 0 if result.history else 1


def _add_train_args(p, *, epochs, batch_size, lr):
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--optimizer", default="adamw", help="adamw | adam | sgd")
    p.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="cosine", help="cosine | step | constant")
    p.add_argument("--step-epochs", help="for --schedule step: comma-separated epochs, e.g. 100,150")
    p.add_argument("--warmup-epochs", type=float, default=0.0)
    p.add_argument("--clipnorm", type=float)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--mixed-precision", action="store_true", help="bfloat16 compute")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backup-every", type=int, default=50, help="mid-epoch backup every N steps")
    p.add_argument("--quiet", action="store_true")


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family")
    p.add_argument("--task")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("info", help="family, task, input spec and size of a model")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train a registered model on a dataset")
    p.add_argument("model")
    p.add_argument("--dataset", default="digits", help="digits | mnist | cifar10 | imdb | sst2 | "
                   "airline | tfds:<name> | folder:<path>")
    p.add_argument("--data-dir")
    p.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. limit=2000 or sequence_length=128")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="builder override, e.g. dropout=0.2 or units=[64,64]")
    p.add_argument("--strategy", default="default",
                   help="default | mirrored | multi_worker (TF_CONFIG) | tpu | parameter_server")
    p.add_argument("--cpu-replicas", type=int, default=0,
                   help="with --strategy mirrored and no GPU: split the CPU into N devices")
    p.add_argument("--out", help="run folder: model.keras, checkpoints, backup (resumes), logs")
    _add_train_args(p, epochs=10, batch_size=64, lr=1e-3)
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"zoo: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
