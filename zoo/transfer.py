"""Transfer learning on zoo models: freeze the backbone, new head, two-phase fine-tuning.

Example:

```python
import zoo, pipelines
from zoo.transfer import replace_head, freeze_backbone, two_phase_fine_tune
backbone = zoo.resnet8(classes=10)                  # or zoo.resnet50(weights="imagenet")
model = replace_head(backbone, classes=3)           # new `predictions` layer, 3 classes
freeze_backbone(model)                              # only the head trains
```
"""

import keras

from zoo import tasks
from zoo.train import TrainConfig, fit

HEAD_LAYERS = ("predictions", "head_dropout")


def replace_head(model, classes, *, dropout=0.0, classifier_activation="softmax", name=None):
    """The same backbone (shared layers and weights) with a new classifier.

    The features are the input of the old classifier head (the pooled
    features of zoo classifiers, before any head dropout), or the model
    output for feature extractors (`include_top=False`).
    """
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive integer. Received: classes={classes!r}")
    task = tasks.task_of(model, getattr(model, "task", None) or tasks.FEATURES)
    features = model.outputs[0]
    if task.kind == "classification":
        features = tasks.output_layer(model).input
        if isinstance(features._keras_history.operation, keras.layers.Dropout):
            features = features._keras_history.operation.input
    if len(features.shape) != 2:
        raise ValueError(f"{model.name!r} gives features of shape {features.shape}; a head needs "
                         "(batch, features). Build the backbone with pooling='avg'.")
    x = features
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation=classifier_activation, dtype="float32",
                                 name="predictions")(x)
    new_task = task.name if task.kind == "classification" else tasks.IMAGE_CLASSIFICATION
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return tasks.TaskModel(inputs, outputs, name=name or f"{model.name}_{classes}cls", task=new_task)


def freeze_backbone(model, *, trainable_layers=HEAD_LAYERS, unfreeze_from=None):
    """Freeze every layer except the head (and, with `unfreeze_from`, every
    layer from that name on). Frozen BatchNorm layers run in inference mode
    (Keras 3), which is what fine-tuning wants."""
    names = [layer.name for layer in model.layers]
    if unfreeze_from is not None and unfreeze_from not in names:
        raise ValueError(f"No layer named {unfreeze_from!r} in {model.name!r}; layers include {names[-8:]}.")
    start = names.index(unfreeze_from) if unfreeze_from else len(names)
    for i, layer in enumerate(model.layers):
        layer.trainable = layer.name in trainable_layers or i >= start
    return model


def count_trainable(model):
    return sum(int(keras.ops.size(w)) for w in model.trainable_weights)


def two_phase_fine_tune(model, data, *, head_epochs=3, finetune_epochs=3, unfreeze_from=None,
                        head_lr=1e-3, finetune_lr=1e-4, batch_size=32, seed=0, verbose=0):
    """Phase 1 trains the new head on a frozen backbone; phase 2 unfreezes
    from `unfreeze_from` (default: everything) at a 10x lower rate, the
    usual stand-in for discriminative learning rates. Returns both results."""
    freeze_backbone(model)
    first = fit(model, data, config=TrainConfig(epochs=head_epochs, learning_rate=head_lr, seed=seed,
                                                batch_size=batch_size, verbose=verbose))
    if unfreeze_from is None:
        for layer in model.layers:
            layer.trainable = True
    else:
        freeze_backbone(model, unfreeze_from=unfreeze_from)
    second = fit(model, data, config=TrainConfig(epochs=finetune_epochs, learning_rate=finetune_lr,
                                                 seed=seed, batch_size=batch_size, verbose=verbose))
    return first, second
