"""Where an ONNX model's tensors keep external data, read from its bytes (no onnx import).

ONNX lets a tensor keep its values in another file, named relative to the model's folder.
A crafted model can name any file (``../../home/me/.ssh/id_rsa``, ``/etc/passwd``), and
the runtime would read it into the graph's outputs; onnxruntime checks this only from
version 1.24. :func:`check_external_data` refuses locations that leave the model's folder
before onnxruntime sees the model. It walks the protobuf wire format over the messages
that can hold tensors (ModelProto -> GraphProto / FunctionProto -> NodeProto ->
AttributeProto -> TensorProto / SparseTensorProto), skipping everything else by length.
"""

from __future__ import annotations

import os

# (message, field number) -> message type of that length-delimited field
_CHILDREN = {
    ("model", 7): "graph",
    ("model", 25): "function",
    ("graph", 1): "node",
    ("graph", 5): "tensor",
    ("graph", 15): "sparse",
    ("function", 7): "node",
    ("node", 5): "attribute",
    ("attribute", 5): "tensor",
    ("attribute", 6): "graph",
    ("attribute", 10): "tensor",
    ("attribute", 11): "graph",
    ("attribute", 22): "sparse",
    ("attribute", 23): "sparse",
    ("sparse", 1): "tensor",
    ("sparse", 2): "tensor",
    ("tensor", 13): "entry",
}
_MAX_DEPTH = 64


class _Malformed(ValueError):
    pass


def _varint(data, pos):
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data, start, end):
    """Yield ``(field number, wire type, value start, value end)`` of one message."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, after = _varint(data, pos)
        elif wire == 1:
            after = pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            after = pos + length
        elif wire == 5:
            after = pos + 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        if after > end:
            raise _Malformed("field runs past its message")
        yield number, wire, pos, after
        pos = after


def _locations(data, kind, start, end, depth=0):
    if depth > _MAX_DEPTH:
        raise _Malformed("messages nested too deep")
    for number, wire, begin, after in _fields(data, start, end):
        child = _CHILDREN.get((kind, number))
        if child is None or wire != 2:
            continue
        if child == "entry":
            entry = {n: bytes(data[b:a]) for n, w, b, a in _fields(data, begin, after) if w == 2}
            if entry.get(1) == b"location":
                yield entry.get(2, b"").decode("utf-8", "replace")
        else:
            yield from _locations(data, child, begin, after, depth + 1)


def external_locations(data):
    """Every external-data location named in a serialized ModelProto."""
    try:
        return list(_locations(memoryview(data), "model", 0, len(data)))
    except _Malformed as exc:
        raise ValueError(f"not a valid ONNX model ({exc}).") from None


def check_external_data(data, folder):
    """Refuse external data outside ``folder`` (or any external data when it is None).

    Parameters
    ----------
    data : bytes
        The serialized model.
    folder : str or None
        The model file's folder; None for a model given as bytes, which has none.

    Returns
    -------
    locations : list of str
        The external data locations the model names (empty for a self-contained model).
    """
    locations = external_locations(data)
    if not locations:
        return locations
    if folder is None:
        raise ValueError(
            "This model keeps tensors in external data files, which are found next to the "
            "model file: load it from its path, load_onnx('path/to/model.onnx')."
        )
    base = os.path.realpath(folder)
    for location in locations:
        target = os.path.realpath(os.path.join(base, location))
        if os.path.isabs(location) or not location or os.path.commonpath([base, target]) != base:
            raise ValueError(
                f"This model's external data location {location!r} is outside the model's "
                f"folder ({folder}); refusing to read it. Keep external data files next to "
                "the model (onnx.save_model(..., location='name.data'))."
            )
    return locations
