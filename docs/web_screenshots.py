"""The README's screenshots of the web bundle's page, from the zoo's own weights and real test examples.

usage: python docs/web_screenshots.py [--data-dir ../shared/data] [--out docs]

Exports `mlp:mnist` and `lstm_attention_classifier:sst2` with `--formats onnx,web` (scored on their test
data), opens each bundle's index.html in headless Chromium (`export.web.check_in_browser`), gives it the
first MNIST test digit as a PNG file / the first SST-2 test sentence, and saves what the page shows.
Needs `zoo setup-web` and Chromium.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    parser.add_argument("--out", default=os.path.join(REPO, "docs"))
    args = parser.parse_args()
    sys.path.insert(0, REPO)
    import pipelines
    from export import web
    from PIL import Image

    work = tempfile.mkdtemp(prefix="zoo-web-shots-")
    for model, weights, dataset in (("mlp", "mnist", "mnist"), ("lstm_attention_classifier", "sst2", "sst2")):
        folder = os.path.join(work, dataset)
        subprocess.run([sys.executable, "-m", "app.cli", "export", model, "--weights", weights, "--dataset", dataset,
                        "--data-dir", os.path.join(args.data_dir, dataset), "--out", folder, "--formats", "onnx,web"],
                       check=True, cwd=REPO)
        data = pipelines.load_dataset(dataset, os.path.join(args.data_dir, dataset))
        shot = os.path.join(args.out, f"web-page-{dataset}.png")
        if dataset == "mnist":
            x = pipelines.take_arrays(data.batches("test", 8, training=False), 1)[0][0]
            path = os.path.join(work, "digit.png")
            Image.fromarray(np.round(x[..., 0] / data.preprocessing["scale"]).astype("uint8")).save(path)
            result = web.check_in_browser(os.path.join(folder, "web"), "image", path, shot)
        else:
            with open(os.path.join(args.data_dir, "sst2", "test.tsv"), encoding="utf-8") as f:
                sentence = f.read().splitlines()[1].split("\t")[0]
            result = web.check_in_browser(os.path.join(folder, "web"), "text", sentence, shot)
        print(f"{shot}: top class {result['top']!r}; {result['rows'][:3]}")


if __name__ == "__main__":
    main()
