"""Regenerates the notebooks: python notebooks/make_notebooks.py [--out DIR] [--execute]

With --execute each notebook is run (nbclient, from the notebooks folder) and saved with its outputs,
plots and tables included: what the repository commits, so they read on GitHub without running."""
import os
import sys

import nbformat as nbf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else HERE

def nb(cells, path):
    path = os.path.join(OUT, os.path.basename(path))
    book = nbf.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [nbf.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbf.v4.new_code_cell(c.strip("\n")) for c in cells]
    if "--execute" in sys.argv:
        from nbclient import NotebookClient

        NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": HERE}}).execute()
    nbf.write(book, path)

SETUP = '''import os, tempfile, pathlib
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import warnings; warnings.filterwarnings("ignore")
import numpy as np
import matplotlib.pyplot as plt
import pipelines, zoo   # first: TensorFlow's start-up lines are filtered when it loads
import keras
# Data: ../shared/data next to the repository when present (see its README).
REPO = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
SHARED = REPO.parent / "shared" / "data"
WORK = pathlib.Path(tempfile.mkdtemp(prefix="zoo-notebook-"))   # outputs go here, not into the repo
keras.utils.set_random_seed(0)
print("shared data:", SHARED.exists(), "| outputs:", WORK)'''

nb([
"md:# 1. Quickstart: build, train, export, verify\n\nThe same steps as `zoo quickstart`, one at a time: pick a model from the registry, train it on scikit-learn's bundled digits, export it to SavedModel, TFLite and ONNX, and check every file against Keras.",
SETUP,
'''print(zoo.list_models("mlp*"), zoo.list_families())
zoo.model_info("mlp_tiny")''',
'''data = pipelines.load_dataset("digits")
print(data.sizes, data.input_shape, data.labels)
from zoo.train import TrainConfig, fit
result = fit(lambda: zoo.mlp_tiny(), data,
             config=TrainConfig(epochs=20, batch_size=32, learning_rate=3e-3, warmup_epochs=1,
                                out_dir=str(WORK / "run"), verbose=0))
result.evaluation''',
"md:The training curve: loss falls and validation accuracy rises without a gap opening up.",
'''h = result.history
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(h["loss"], label="train"); ax[0].plot(h["val_loss"], label="val"); ax[0].set_title("loss"); ax[0].legend()
ax[1].plot(h["accuracy"], label="train"); ax[1].plot(h["val_accuracy"], label="val"); ax[1].set_title("accuracy"); ax[1].legend()
ax[0].set_xlabel("epoch"); ax[1].set_xlabel("epoch"); plt.show()
assert h["val_accuracy"][-1] > 0.85''',
'''from export import export_model
def arrays(split):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.batches(split, 256, training=False)])
    return np.concatenate(xs), np.concatenate(ys)
x_train, _ = arrays("train"); x_test, y_test = arrays("test")
report = export_model(result.model, str(WORK / "export"), calibration_data=x_train[:300],
                      eval_data=(x_test, y_test), class_names=data.labels, preprocessing=data.preprocessing)
assert report["passed"]''',
"md:Where does the model go wrong? The confusion matrix of the int8 TFLite file on the test split.",
'''from export import tflite
interp = tflite.interpreter(model_path=str(WORK / "export" / "mlp_tiny.int8.tflite"))
pred = tflite.run(interp, {"images": x_test}).argmax(-1)
cm = np.zeros((10, 10), int)
for t, p in zip(y_test, pred): cm[t, p] += 1
plt.imshow(cm, cmap="Blues"); plt.xlabel("predicted"); plt.ylabel("true"); plt.colorbar(); plt.title("int8 TFLite, digits test"); plt.show()
print("int8 accuracy:", (pred == y_test).mean())''',
], os.path.join(HERE, "01_quickstart.ipynb"))

nb([
"md:# 2. Transfer learning\n\nA zoo backbone with weights, frozen, a new head, then fine-tuning. The source weights come from a short run on MNIST digits 0-4 (the IDX files in `../shared/data/mnist` when present, else scikit-learn's digits upscaled to 28x28); the target task is digits 5-9 with only 250 labels, compared with the same network trained from scratch on them (how much the source helps depends on how related the tasks are and how much the source saw: measure it, as here). With internet access the same code starts from ImageNet: `zoo.resnet50(weights=\"imagenet\", include_top=False, pooling=\"avg\")`.",
SETUP,
'''import tensorflow as tf
def load_images():
    """uint8 images (28x28x1) and labels: 12,000 MNIST training and 2,000 test images,
    or scikit-learn's digits upscaled when the shared data is absent."""
    if (SHARED / "mnist").exists():
        read = lambda name: pipelines.read_idx(str(SHARED / "mnist" / name))
        x, y = read("train-images-idx3-ubyte.gz")[:12000, ..., None], read("train-labels-idx1-ubyte.gz")[:12000]
        xt, yt = read("t10k-images-idx3-ubyte.gz")[:2000, ..., None], read("t10k-labels-idx1-ubyte.gz")[:2000]
        return "MNIST (IDX files)", (x, y.astype("int32")), (xt, yt.astype("int32"))
    from sklearn.datasets import load_digits
    d = load_digits()
    x = tf.image.resize(d.images[..., None] * 16, (28, 28)).numpy().clip(0, 255).astype("uint8")
    y = d.target.astype("int32")
    return "scikit-learn digits (fallback)", (x[:1400], y[:1400]), (x[1400:], y[1400:])
source, (x_tr, y_tr), (x_te, y_te) = load_images()
print(source, x_tr.shape, x_te.shape)

def splits(train_mask, test_mask, offset, limit=None):
    """DataSplits of the masked classes (relabelled from 0): uint8 cached, /255 per batch."""
    idx = np.flatnonzero(train_mask)[:limit]
    d = pipelines.from_arrays(x_tr[idx], y_tr[idx] - offset, task="image_classification")
    d.test = tf.data.Dataset.from_tensor_slices((x_te[test_mask], y_te[test_mask] - offset))
    d.sizes["test"] = int(test_mask.sum())
    d.normalize = lambda im: tf.cast(im, tf.float32) / 255.0
    return d''',
'''# Source task: digits 0-4. Save the weights as a pretrained checkpoint would be.
from zoo.train import TrainConfig, fit
def resnet8(**kwargs):
    # A short run: Keras' BatchNormalization momentum (0.99) needs thousands of steps before its moving
    # statistics match the data (evaluation then sees wrong statistics); 0.9, PyTorch's default, a few hundred.
    model = zoo.resnet8(input_shape=(28, 28, 1), classes=5, **kwargs)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return model
source_task = splits(y_tr < 5, y_te < 5, 0, limit=3000)
src = fit(resnet8, source_task,
          config=TrainConfig(epochs=2, batch_size=32, learning_rate=3e-3, warmup_epochs=0.5, verbose=0))
print("source task accuracy:", round(src.evaluation["accuracy"], 4))
weights_file = str(WORK / "resnet8_source.weights.h5")
src.model.save_weights(weights_file)
pretrained = resnet8(weights=weights_file)   # weights=<path>''',
'''# Target task: digits 5-9 with only 250 labeled images.
from zoo.transfer import replace_head, freeze_backbone, count_trainable
target = splits(y_tr >= 5, y_te >= 5, 5, limit=250)
model = replace_head(pretrained, classes=5, dropout=0.2)
freeze_backbone(model)
print("trainable parameters with a frozen backbone:", count_trainable(model), "of", model.count_params())
phase1 = fit(model, target, config=TrainConfig(epochs=10, batch_size=32, learning_rate=1e-2, weight_decay=0.0, verbose=0))
freeze_backbone(model, unfreeze_from="conv4_block1_1_conv")      # phase 2: last stage + head, lower rate
phase2 = fit(model, target, config=TrainConfig(epochs=6, batch_size=32, learning_rate=1e-3, verbose=0))
scratch = fit(resnet8, target,
              config=TrainConfig(epochs=16, batch_size=32, learning_rate=3e-3, verbose=0))
results = {"head only": phase1.evaluation["accuracy"], "head + last stage": phase2.evaluation["accuracy"],
           "from scratch (same epochs)": scratch.evaluation["accuracy"]}
results''',
'''plt.bar(list(results), list(results.values()), color=["#88a", "#449", "#aaa"])
plt.ylabel("test accuracy (target classes)"); plt.title(f"transfer on {source}"); plt.xticks(rotation=10); plt.show()''',
], os.path.join(HERE, "02_transfer_learning.ipynb"))

nb([
"md:# 3. Text: LSTM/GRU and Transformer\n\nSST-2 sentences (from `../shared/data/sst2` when present, else a small built-in set), vectorized by a `TextVectorization` fitted on the training split only, then a BiGRU with attention pooling and a Transformer encoder.",
SETUP,
'''if (SHARED / "sst2").exists():
    texts, labels = pipelines.read_table(str(SHARED / "sst2" / "train.tsv"))
    dev_texts, dev_labels = pipelines.read_table(str(SHARED / "sst2" / "dev.tsv"))
    texts, labels = texts[:3000], labels[:3000]
else:
    pos = ["a wonderful film", "great acting and a moving story", "i loved it", "funny and warm", "a joy to watch"]
    neg = ["a boring mess", "terrible acting", "i hated it", "dull and far too long", "a waste of time"]
    texts = np.array((pos + neg) * 40, dtype=object); labels = np.array(([1] * 5 + [0] * 5) * 40, "int32")
    dev_texts, dev_labels = texts[:50], labels[:50]
data = pipelines.text_splits((texts, labels), (dev_texts, dev_labels), name="sst2",
                             labels=["negative", "positive"], max_tokens=8000, sequence_length=40)
print(data.sizes, "vocabulary:", data.preprocessing["vocab_size"])''',
'''from zoo.train import TrainConfig, fit
vocab = data.preprocessing["vocab_size"]
runs = {}
runs["BiGRU + attention"] = fit(lambda: zoo.gru_classifier(vocab_size=vocab, embed_dim=32, units=(32,), attention=True, classes=2),
                               data, config=TrainConfig(epochs=2, batch_size=64, learning_rate=3e-3, verbose=0))
runs["Transformer encoder"] = fit(lambda: zoo.transformer_classifier(vocab_size=vocab, sequence_length=40, embed_dim=32, num_heads=2,
                                                                     intermediate_dim=64, num_layers=1, classes=2),
                                  data, config=TrainConfig(epochs=2, batch_size=64, learning_rate=1e-3, verbose=0))
{k: round(r.evaluation["accuracy"], 4) for k, r in runs.items()}''',
'''fig, ax = plt.subplots(figsize=(6, 3))
for name, r in runs.items():
    ax.plot(range(1, len(r.history["val_accuracy"]) + 1), r.history["val_accuracy"], marker="o", label=name)
ax.set_xlabel("epoch"); ax.set_ylabel("dev accuracy"); ax.legend(); plt.show()''',
'''# The vectorizer travels with the model: raw strings in.
model = runs["BiGRU + attention"].model
for sentence in ["a wonderful, moving film", "a dull and boring mess"]:
    p = model.predict(data.vectorizer([sentence]), verbose=0)[0]
    print(f"{sentence!r}: positive={p[1]:.2f}")''',
], os.path.join(HERE, "03_text.ipynb"))

nb([
"md:# 4. Deploy: TFLite int8 and ONNX on the edge, a TF Serving request\n\nExport a trained digits model, run the int8 LiteRT file and the ONNX file the way an edge app would, compare latency, and build the exact REST and gRPC requests TF Serving takes.",
SETUP,
'''from zoo.train import TrainConfig, fit
from export import export_model, tflite, onnx as onnx_export, saved_model
data = pipelines.load_dataset("digits")
result = fit(lambda: zoo.mlp_tiny(hidden_units=(128, 64)), data,
             config=TrainConfig(epochs=15, batch_size=32, learning_rate=3e-3, verbose=0))
def arrays(split):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.batches(split, 256, training=False)])
    return np.concatenate(xs), np.concatenate(ys)
x_train, _ = arrays("train"); x_test, y_test = arrays("test")
out = WORK / "export"
report = export_model(result.model, str(out), name="digits", calibration_data=x_train[:300],
                      eval_data=(x_test, y_test), class_names=data.labels, preprocessing=data.preprocessing)''',
'''# An edge app: LiteRT interpreter (int8) and ONNX Runtime, NumPy in, class out.
interp = tflite.interpreter(model_path=str(out / "digits.int8.tflite"))
sess = onnx_export.session(str(out / "digits.onnx"))
sample = x_test[:1]
print("LiteRT int8:", tflite.run(interp, {"images": sample}).argmax(-1), " ONNX:", sess.run(None, {"images": sample})[0].argmax(-1), " label:", y_test[:1])''',
'''rows = report["results"]
plt.figure(figsize=(7, 3))
plt.barh([r["file"] for r in rows], [r["latency_ms_batch1"] for r in rows])
plt.xlabel("batch-1 latency (ms, this machine)"); plt.title("measured by export verification"); plt.show()
plt.figure(figsize=(7, 3))
plt.barh([r["file"] for r in rows], [r["size_bytes"] / 1e3 for r in rows]); plt.xlabel("file size (KB)"); plt.show()''',
'''# TF Serving: docker run -p 8501:8501 -v <out>/saved_model/digits:/models/digits -e MODEL_NAME=digits tensorflow/serving
# then POST /v1/models/digits:predict with this body:
import json, tensorflow as tf
body = saved_model.rest_request(result.model, [x_test[:2]])
print(json.dumps(body)[:120], "...")
version_dir = out / "saved_model" / "digits" / "1"
fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
served = fn(images=tf.constant(np.array(body["instances"], "float32")))
print("REST-equivalent response:", {"predictions": served["class_ids"].numpy().tolist()})
request = saved_model.grpc_request(result.model, [x_test[:2]], model_name="digits")   # for PredictionService/Predict on :8500
print(request.model_spec, list(request.inputs))''',
], os.path.join(HERE, "04_deploy.ipynb"))
