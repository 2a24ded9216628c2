"""Small edits of a converted ONNX graph: renaming values, one extra MatMul."""

from __future__ import annotations

from onnx import TensorProto, helper, numpy_helper


def names(graph):
    """Every value name the graph uses (not those only inside subgraphs)."""
    names = {v.name for v in (*graph.input, *graph.output, *graph.value_info, *graph.initializer)}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def unique_name(graph, seed):
    """``seed``, or ``seed_2``, ``seed_3``... whichever the graph does not use."""
    taken, name, k = names(graph), seed, 1
    while name in taken:
        k += 1
        name = f"{seed}_{k}"
    return name


def rename(graph, old, new):
    """Rename the value ``old`` to ``new`` everywhere in the graph, including where
    subgraphs (Loop, If, Scan bodies) read it from the outer scope."""
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                if old not in {v.name for v in sub.input}:  # not shadowed there
                    rename(sub, old, new)


def append_matmul(graph, output, matrix):
    """Replace graph output ``output`` (float, shape (N, k)) by ``output @ matrix``."""
    inner = unique_name(graph, f"{output}_before_matmul")
    weights = unique_name(graph, f"{output}_matrix")
    for node in graph.node:
        node.output[:] = [inner if n == output else n for n in node.output]
        node.input[:] = [inner if n == output else n for n in node.input]
    graph.initializer.append(numpy_helper.from_array(matrix, weights))
    graph.node.append(
        helper.make_node(
            "MatMul", [inner, weights], [output], name=unique_name(graph, f"{output}_MatMul")
        )
    )
    for value in graph.output:
        if value.name == output:
            value.CopyFrom(
                helper.make_tensor_value_info(
                    output, TensorProto.FLOAT, [_batch_dim(value), matrix.shape[1]]
                )
            )


def _batch_dim(value):
    dim = value.type.tensor_type.shape.dim
    if dim and dim[0].HasField("dim_param"):
        return dim[0].dim_param
    if dim and dim[0].HasField("dim_value"):
        return dim[0].dim_value
    return None
