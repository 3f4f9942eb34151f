"""Train/val/test by a fingerprint of each example's content, shared by the file sources (`text:`,
`textfolder:`, `tabular:`): an example's split depends on nothing but its own content, so adding rows to a
file keeps every old row in its split, and a re-read finds the same splits without storing them.

Example:

```python
import tensorflow as tf
from pipelines.splits import split_code
split_code(tf.constant(["a row", "another row"]), val_fraction=0.1, test_fraction=0.2)  # int64 codes 0/1/2
```
"""

import tensorflow as tf

SPLITS = ("train", "val", "test")  # split codes 0, 1, 2
BUCKETS = 2**62  # hash buckets: the fraction of a fingerprint has 62 bits


def split_code(fingerprints, val_fraction, test_fraction):
    """0 (train), 1 (val) or 2 (test) of each `(batch,)` string fingerprint: its hash as a fraction `u` in
    [0, 1); `u < test_fraction` is test, then `val_fraction` more is val, the rest train."""
    bucket = tf.strings.to_hash_bucket_fast(fingerprints, BUCKETS)
    u = tf.cast(bucket, tf.float64) / float(BUCKETS)
    return tf.where(u < test_fraction, 2, tf.where(u < test_fraction + val_fraction, 1, 0))
