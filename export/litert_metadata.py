"""LiteRT model metadata: what Android Studio's model binding, the LiteRT support library and the Task
library read from a `.tflite` file without the zoo's manifest.

The `TFLITE_METADATA` entry of the model holds a `ModelMetadata` flatbuffer (`litert_metadata_schema`,
identifier `M001`): the model's name and description, one tensor entry per signature input and output
(named as in the signature), the normalization an 8-bit image needs to become the [0, 1] input every zoo
image model trains on (mean 0, std 255), the class names as an associated `labels.txt` (one per line,
index-aligned with the scores) and a text model's vocabulary as `vocab.txt`. Associated files are packed as a zip appended to the flatbuffer, which is
how tflite-support's `MetadataPopulator` writes them: the interpreter ignores the zip, `zipfile` reads it.
"""

import io
import json
import zipfile

from export import litert_metadata_schema as meta

METADATA_NAME = "TFLITE_METADATA"
ZOO_NAME = "zoo"  # a second entry: the zoo's own JSON (task, labels, preprocessing), as ONNX files carry it
LABELS_FILE = "labels.txt"
VOCABULARY_FILE = "vocab.txt"


def _model(flatbuffer):
    from tensorflow.lite.python import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)


def _tensor_names(model):
    """`(input names, output names)` of subgraph 0 in its tensor order, by the signature's names."""
    subgraph = model.subgraphs[0]
    by_index = {}
    for signature in model.signatureDefs or []:
        for tensor_map in list(signature.inputs or []) + list(signature.outputs or []):
            by_index[tensor_map.tensorIndex] = tensor_map.name.decode()
    name = lambda i: by_index.get(i) or subgraph.tensors[i].name.decode()  # noqa: E731
    return [name(i) for i in subgraph.inputs], [name(i) for i in subgraph.outputs]


def _input_entry(name, image_channels, vocabulary=False):
    entry = meta.TensorMetadataT()
    entry.name = name
    if vocabulary:
        vocab = meta.AssociatedFileT()
        vocab.name = VOCABULARY_FILE
        vocab.description = ("Token ids: line i is token i (0 padding, 1 out of vocabulary); texts are standardized "
                             "and split as the `zoo` metadata entry's preprocessing says.")
        vocab.type = meta.AssociatedFileType.VOCABULARY
        entry.associatedFiles = [vocab]
    if image_channels:
        content = meta.ContentT()
        content.contentPropertiesType = meta.ContentProperties.ImageProperties
        content.contentProperties = meta.ImagePropertiesT()
        content.contentProperties.colorSpace = (meta.ColorSpaceType.RGB if image_channels == 3
                                                else meta.ColorSpaceType.GRAYSCALE)
        entry.content = content
        unit = meta.ProcessUnitT()
        unit.optionsType = meta.ProcessUnitOptions.NormalizationOptions
        unit.options = meta.NormalizationOptionsT()
        unit.options.mean, unit.options.std = [0.0], [255.0]  # 8-bit pixels -> [0, 1], as in training
        entry.processUnits = [unit]
        stats = meta.StatsT()
        stats.min, stats.max = [0.0], [1.0]
        entry.stats = stats
    return entry


def _output_entry(name, scores_output, labels):
    entry = meta.TensorMetadataT()
    entry.name = name
    if name == "class_ids":
        entry.description = f"The index of the highest of `{scores_output}` (an index into {LABELS_FILE})."
    elif name == scores_output and labels:
        labels_file = meta.AssociatedFileT()
        labels_file.name = LABELS_FILE
        labels_file.description = "Class names, one per line, in the order of the scores."
        labels_file.type = meta.AssociatedFileType.TENSOR_AXIS_LABELS
        entry.associatedFiles = [labels_file]
    return entry


def add(flatbuffer, *, name, description, scores_output, labels=None, image_channels=None, vocabulary=None,
        zoo=None):
    """`flatbuffer` with LiteRT metadata (and `labels.txt` packed when there are `labels`).

    Args:
        flatbuffer: the `.tflite` bytes (one subgraph, a `serving_default` signature).
        name, description: the model's, shown by Android Studio.
        scores_output: the output the labels index (`probabilities`, `logits`).
        labels: class names, index-aligned with `scores_output`; None for models without classes.
        image_channels: 1 or 3 for an image input in [0, 1] (its normalization from 8-bit pixels is recorded).
        vocabulary: a text model's token list (line i = id i), packed as `vocab.txt` on its first input.
        zoo: the zoo's own description (`{"name", "task", "labels", "preprocessing", "inputs"}`), stored as
            JSON under the model metadata name `zoo`: `zoo predict FILE.tflite` reads it.
    """
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = _model(flatbuffer)
    inputs, outputs = _tensor_names(model)
    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_input_entry(n, image_channels, vocabulary is not None and i == 0)
                                    for i, n in enumerate(inputs)]
    subgraph.outputTensorMetadata = [_output_entry(n, scores_output, labels) for n in outputs]
    info = meta.ModelMetadataT()
    info.name, info.description, info.author = name, description, "zoo"
    info.subgraphMetadata = [subgraph]
    info.minParserVersion = "1.0.1" if vocabulary is not None else "1.0.0"  # VOCABULARY files came in 1.0.1
    builder = flatbuffers.Builder(1024)
    builder.Finish(info.Pack(builder), b"M001")
    entries = {METADATA_NAME: bytes(builder.Output())}
    if zoo is not None:
        entries[ZOO_NAME] = json.dumps(zoo).encode()
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() not in entries]
    for key, data in entries.items():
        buffer = schema.BufferT()
        buffer.data = data
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = key, len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(flatbuffer) + 4096)
    builder.Finish(model.Pack(builder), b"TFL3")
    out = io.BytesIO(bytes(builder.Output()))
    out.seek(0, io.SEEK_END)
    packed_files = {**({LABELS_FILE: "\n".join(labels) + "\n"} if labels else {}),
                    **({VOCABULARY_FILE: "\n".join(vocabulary)} if vocabulary is not None else {})}
    if packed_files:
        with zipfile.ZipFile(out, "a") as packed:
            for file_name, text in packed_files.items():
                packed.writestr(file_name, text.encode("utf-8"))
    return out.getvalue()


def _entries(flatbuffer):
    """`{model metadata name: bytes}` of a `.tflite` file, read in place (no copy of the weights)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    entries = (model.Metadata(i) for i in range(model.MetadataLength()))
    buffers = ((e.Name().decode(), model.Buffers(e.Buffer())) for e in entries)
    return {name: b"" if buffer.DataIsNone() else buffer.DataAsNumpy().tobytes() for name, buffer in buffers}


def zoo_info(flatbuffer):
    """The zoo's JSON a file carries (`{"name", "task", "labels", "preprocessing", "inputs"}`), or None."""
    data = _entries(flatbuffer).get(ZOO_NAME)
    return json.loads(data) if data else None


def packed(flatbuffer):
    """`{file name: bytes}` of the associated files packed after the flatbuffer (`labels.txt`, `vocab.txt`)."""
    if not zipfile.is_zipfile(io.BytesIO(flatbuffer)):
        return {}
    with zipfile.ZipFile(io.BytesIO(flatbuffer)) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def read(flatbuffer):
    """`(ModelMetadataT or None, {packed file name: bytes})` of a `.tflite` file."""
    data = _entries(flatbuffer).get(METADATA_NAME)
    return (meta.ModelMetadataT.InitFromPackedBuf(bytearray(data), 0) if data else None), packed(flatbuffer)
