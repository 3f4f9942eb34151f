"""What `zoo train` builds for a dataset: the builder arguments that fit a registered model to its data
(input shape, classes, vocabulary, the forecaster's naive base, a table's numeric columns and target
scale), the task's training recipe (`zoo.config.TASK_DEFAULTS`) and its precision. Library policy:
the command line and the benchmarks read it from here.
"""

import dataclasses

from zoo import config, registry
from zoo.config import TASK_DEFAULTS, TrainConfig

TABLE_TASKS = ("tabular_classification", "regression")  # the tasks of `tabular:` data


def model_kwargs_for(name, data):
    """Builder arguments that fit a registered model to a dataset."""
    spec = registry.get_spec(name)
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
    from pipelines.series import naive_baselines

    split = "val" if data.val is not None else "train"
    naive = naive_baselines(data, split)
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


def recipe(task=None, train_size=None):
    """`TrainConfig`'s fields with the task's recipe defaults (`TASK_DEFAULTS`) over them. A recipe's batch
    size is halved (down to 16) until the training split holds at least 8 batches (`train_size`): small
    tables still take several steps an epoch."""
    fields = {**dataclasses.asdict(TrainConfig()), **TASK_DEFAULTS.get(task, {})}
    if train_size and task in TASK_DEFAULTS and "batch_size" in TASK_DEFAULTS[task]:
        while fields["batch_size"] > 16 and fields["batch_size"] * 8 > train_size:
            fields["batch_size"] //= 2
    return fields


def mixed_precision_default(task=None):
    """Whether bf16 can be a candidate here: hardware that computes it natively (`zoo.config.bf16_hardware`),
    and not a table (`TABLE_TASKS`: small MLPs, where bf16 saves nothing and costs digits). `zoo train`
    decides with `zoo.precision.choose`, which also measures that bf16 is faster for the model."""
    return task not in TABLE_TASKS and config.bf16_hardware() is not None
