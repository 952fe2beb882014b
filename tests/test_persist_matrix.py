"""The persistence fault and edit matrix: what a saved folder can go through.

A folder edited with its manifest rewritten (the manifest is a checksum, not
a signature), damaged files, a full disk during a save, and models that could
not be loaded back: each gets a clear ModelFolderError or TypeError, or the
exact model back, and never a silently different model.
"""

import errno
import hashlib
import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from elang_sk import (
    CascadeClassifier,
    JointClassifier,
    ModelFolderError,
    load_joint,
    save_joint,
)

pytest.importorskip("skops")

X, y = make_classification(
    n_samples=400, n_informative=5, n_classes=3, n_clusters_per_class=1, random_state=0
)


def _lr(C):
    return LogisticRegression(C=C).fit(X[:200], y[:200])


def joint():
    return JointClassifier(_lr(0.01), _lr(10), router="softmax").fit(X[200:], y[200:])


def cascade():
    stages = [("a", _lr(0.01)), ("b", _lr(0.3)), ("c", _lr(10))]
    return CascadeClassifier(stages, routers="softmax").fit(X[200:], y[200:])


def rehash(folder):
    """Rewrite the manifest after an edit, as a careless or hostile editor would."""
    files = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = files
    path.write_text(json.dumps(manifest))


def edit_state(folder, change):
    path = folder / "joint.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    rehash(folder)


@pytest.fixture(params=[joint, cascade], ids=["joint", "cascade"])
def saved(request, tmp_path):
    model = request.param()
    return model, save_joint(model, tmp_path / "m")


def test_round_trip(saved):
    model, folder = saved
    loaded = load_joint(folder)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)
    assert loaded.memory is None


def _set_classes(state):
    state["classes"]["values"] = [5, 6, 7]


def _add_key(state):
    state["attributes"] = {"classes_": [0, 1]}


def _nan_threshold(state):
    state["selection"]["thresholds"] = [float("nan")] * len(
        state["selection"]["thresholds"]
    )


def _short_thresholds(state):
    state["selection"]["thresholds"] = []


def _outside_folder(state):
    state["stages"][0]["folder"] = "../outside"


def _drop_costs(state):
    del state["costs"]


def _bad_source(state):
    state["logit_sources"][0]["method"] = "__import__"


def _unknown_class(state):
    state["class"] = "os.system"


EDITS = {
    "inconsistent classes": (_set_classes, "classes"),
    "unknown key": (_add_key, "never writes"),
    "NaN thresholds": (_nan_threshold, "thresholds"),
    "wrong number of thresholds": (_short_thresholds, "thresholds"),
    "sub-model outside the folder": (_outside_folder, "stage-<k>/ inside"),
    "missing key": (_drop_costs, "cannot be loaded"),
    "unknown logit source": (_bad_source, "logit source"),
    "unknown class": (_unknown_class, "Unknown joint model class"),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edited_state_is_refused(saved, edit):
    _, folder = saved
    change, message = EDITS[edit]
    edit_state(folder, change)
    with pytest.raises(ModelFolderError, match=message):
        load_joint(folder)


def test_saved_memory_is_refused(saved, tmp_path):
    import skops.io as sio

    _, folder = saved
    path = folder / "joint.skops"
    content = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    content["params"]["memory"] = str(tmp_path / "cache")
    sio.dump(content, path)
    rehash(folder)
    with pytest.raises(ModelFolderError, match=r"\['memory'\].*never saves"):
        load_joint(folder)


@pytest.mark.parametrize(
    "name", ["joint.safetensors", "joint.skops", "stage-0/estimator.skops"]
)
def test_damaged_files_give_a_folder_error(saved, name):
    """A damaged file with a rewritten manifest fails as a ModelFolderError,
    not as safetensors', zipfile's or skops' own error."""
    _, folder = saved
    (folder / name).write_bytes(b"\x00garbage" * 10)
    rehash(folder)
    with pytest.raises(ModelFolderError):
        load_joint(folder)


def test_older_format_is_named(saved):
    _, folder = saved
    edit_state(folder, lambda state: state.update(format_version=1))
    with pytest.raises(ModelFolderError, match="saved by an older format"):
        load_joint(folder)


def test_full_disk_leaves_nothing_behind(tmp_path, monkeypatch):
    import safetensors.numpy

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    model = joint()
    monkeypatch.setattr(safetensors.numpy, "save_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_joint(model, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []  # no half-written folder, no temp
    monkeypatch.undo()
    folder = save_joint(model, tmp_path / "m")  # the next save is not blocked
    np.testing.assert_array_equal(load_joint(folder).predict(X), model.predict(X))


def test_existing_empty_folder_is_filled(tmp_path):
    (tmp_path / "m").mkdir()
    folder = save_joint(joint(), tmp_path / "m")
    assert (folder / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_unloadable_model_is_refused_at_save_time(tmp_path):
    swift = make_pipeline(FunctionTransformer(lambda Z: Z), LogisticRegression())
    swift.fit(X[:200], y[:200])
    model = JointClassifier(swift, _lr(10), router="softmax").fit(X[200:], y[200:])
    with pytest.raises(TypeError, match="could not load it back|Cannot save"):
        save_joint(model, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_restore_refuses_unknown_state_keys():
    model = joint()
    state = model.fitted_state()
    state["extra"] = 1
    with pytest.raises(ValueError, match=r"unknown keys \['extra'\]"):
        JointClassifier(_lr(0.01), _lr(10)).restore_fitted_state(state)


def test_restore_refuses_models_of_other_classes():
    state = joint().fitted_state()
    other = LogisticRegression().fit(X[:200], np.where(y[:200] == 0, 0, 1))
    state["models"]["super"] = other
    with pytest.raises(ValueError, match="predict different classes"):
        JointClassifier(_lr(0.01), other).restore_fitted_state(state)


def test_transformer_state_sets_only_declared_arrays():
    """An array the classifier does not declare (e.g. a ``predict`` planted in
    classifier.safetensors) is refused, never set as an attribute."""
    from test_transformers import X_TRAIN, Y_TRAIN, make_bert, make_tokenizer

    from elang_sk import TransformerClassifier

    clf = TransformerClassifier(make_bert(), make_tokenizer()).fit(X_TRAIN, Y_TRAIN)
    state = clf.fitted_state()
    copy = TransformerClassifier(make_bert(), make_tokenizer())
    restored = copy.restore_fitted_state(dict(state))
    np.testing.assert_array_equal(restored.predict(X_TRAIN), clf.predict(X_TRAIN))
    planted = dict(state, arrays={**state["arrays"], "predict": np.zeros(3)})
    with pytest.raises(ValueError, match=r"arrays \['predict'\]"):
        TransformerClassifier(make_bert(), make_tokenizer()).restore_fitted_state(
            planted
        )
    with pytest.raises(ValueError, match="Unknown task"):
        TransformerClassifier(make_bert(), make_tokenizer()).restore_fitted_state(
            dict(state, task="exec")
        )
