"""Metrics a person reads, next to the baseline they must beat (NumPy only, no Keras import).

Classification: accuracy, balanced accuracy (mean recall over the classes present), macro-F1 and,
for two classes, ROC AUC; the baseline predicts the training split's majority class. Regression:
RMSE, MAE and R² in target units; the baseline predicts the training mean. Accuracy alone hides a
model that learned nothing on an imbalanced table (76% on-time flights: 76% accuracy for free);
balanced accuracy and macro-F1 of the majority baseline show it (1 / classes and below).

Example:

```python
import numpy as np
from zoo import metrics
metrics.classification(np.array([0, 1, 1, 0]), np.array([[.9, .1], [.2, .8], [.6, .4], [.7, .3]]))
# {'accuracy': 0.75, 'balanced_accuracy': 0.75, 'macro_f1': 0.733..., 'roc_auc': 1.0}
metrics.regression(np.array([1.0, 2.0, 3.0]), np.array([1.1, 1.9, 3.2]))
```
"""

import numpy as np


def classification(labels, probabilities):
    """`{accuracy, balanced_accuracy, macro_f1[, roc_auc]}` of `(n, classes)` scores against `(n,)` labels
    (ROC AUC for two classes, from the second class's score)."""
    labels = np.asarray(labels).reshape(-1).astype("int64")
    scores = np.asarray(probabilities, "float64").reshape(len(labels), -1)
    out = _from_predictions(labels, scores.argmax(-1))
    if scores.shape[1] == 2:
        out["roc_auc"] = roc_auc(labels, scores[:, 1])
    return out


def _from_predictions(labels, predicted):
    present = np.unique(labels)
    recalls = [np.mean(predicted[labels == c] == c) for c in present]
    f1s = []
    for c in np.union1d(present, np.unique(predicted)):  # as scikit-learn: classes seen in either
        tp = np.sum((predicted == c) & (labels == c))
        denominator = np.sum(predicted == c) + np.sum(labels == c)
        f1s.append(2 * tp / denominator if denominator else 0.0)
    return {"accuracy": float(np.mean(predicted == labels)), "balanced_accuracy": float(np.mean(recalls)),
            "macro_f1": float(np.mean(f1s))}


def roc_auc(labels, scores):
    """Area under the ROC curve of binary `labels` (1 positive) by `scores`: the probability that a random
    positive scores above a random negative (ties count half); NaN with one class only."""
    labels, scores = np.asarray(labels).reshape(-1) == 1, np.asarray(scores, "float64").reshape(-1)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    sorted_scores = scores[order]
    # Tied scores share their average rank.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        if e - s > 1:
            ranks[order[s:e]] = (s + 1 + e) / 2
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def regression(targets, predictions):
    """`{rmse, mae, r2}` of predictions against targets (same units, any matching shape)."""
    targets = np.asarray(targets, "float64").reshape(-1)
    predictions = np.asarray(predictions, "float64").reshape(-1)
    err = predictions - targets
    spread = np.sum((targets - targets.mean()) ** 2)
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
            "r2": float(1 - np.sum(err ** 2) / spread) if spread > 0 else float("nan")}


def score(task_kind, labels, outputs):
    """`classification(labels, outputs)` or `regression(labels, outputs)` by the task's kind."""
    return classification(labels, outputs) if task_kind == "classification" else regression(labels, outputs)


def baseline(task_kind, labels, preprocessing, num_classes=None):
    """`(name, metrics)` of the baseline on `labels`: the training split's majority class (classification,
    `preprocessing["majority_class"]`) or its mean target (regression, `preprocessing["target_scale"]`);
    None where the preprocessing does not record it."""
    preprocessing = preprocessing or {}
    if task_kind == "classification" and preprocessing.get("majority_class") is not None:
        k = int(preprocessing["majority_class"])
        labels = np.asarray(labels).reshape(-1).astype("int64")
        out = _from_predictions(labels, np.full(len(labels), k))
        if (num_classes or 0) == 2:
            out["roc_auc"] = 0.5  # one constant score ranks no positive above a negative
        return "majority class (training split)", out
    if task_kind == "regression" and preprocessing.get("target_scale"):
        labels = np.asarray(labels, "float64")
        return "training mean", regression(labels, np.full(labels.shape, preprocessing["target_scale"]["mean"]))
    return None


def table(rows, title):
    """Plain-text table of `[(name, {metric: value})]` with the metrics of the first row as columns."""
    keys = list(rows[0][1])
    width = max(len(title), *(len(name) for name, _ in rows))
    names = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc", "macro_f1": "macro-F1",
             "roc_auc": "ROC AUC", "rmse": "RMSE", "mae": "MAE", "r2": "R²"}
    lines = [f"{title:<{width}} " + " ".join(f"{names.get(k, k):>12}" for k in keys)]
    for name, values in rows:
        lines.append(f"{name:<{width}} " + " ".join(f"{values.get(k, float('nan')):>12.4g}" for k in keys))
    return "\n".join(lines)


def evaluate(model, data, split="test", batch_size=1024):
    """`{"split", "examples", "model": metrics, "baseline": {"name", ...metrics}}` of a trained tabular model
    on a `pipelines.DataSplits` split (`test`, else `val`), in target units."""
    if getattr(data, split, None) is None:
        split = "val"
    predictions, labels = [], []
    for x, y in data.batches(split, batch_size, training=False):
        predictions.append(np.asarray(model.predict_on_batch(x)))
        labels.append(y.numpy())
    predictions, labels = np.concatenate(predictions), np.concatenate(labels)
    kind = "classification" if data.num_classes else "regression"
    report = {"split": split, "examples": int(len(labels)), "model": score(kind, labels, predictions)}
    found = baseline(kind, labels, data.preprocessing, data.num_classes)
    if found:
        report["baseline"] = {"name": found[0], **found[1]}
    return report


def format_report(report, units=""):
    rows = [("model", report["model"])]
    if "baseline" in report:
        rows.append((report["baseline"]["name"], {k: v for k, v in report["baseline"].items() if k != "name"}))
    return table(rows, f"{report['split']} rows ({report['examples']:,}){', ' + units if units else ''}")
