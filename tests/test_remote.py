"""RemoteClassifier: a served model as a stage, over real HTTP on 127.0.0.1.

Two kinds of servers: real ones from ``create_app`` (equality with the
served model, joint models with a remote Super, batching, the front/back
fallback, saving) and a tiny scripted app of this file that speaks the same
protocol and fails, stalls or refuses on demand (retries, Retry-After,
timeouts, 413 splitting, concurrency, fingerprints).
"""

import asyncio
import copy
import math
import pickle
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin, clone  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

import elang_sk.serving._remote as remote_module  # noqa: E402
from elang_sk import (  # noqa: E402
    CascadeClassifier,
    JointClassifier,
    load_joint,
    save_joint,
)
from elang_sk._fingerprint import fingerprint  # noqa: E402
from elang_sk._utils import is_fitted  # noqa: E402
from elang_sk.serving import ServerThread, create_app, free_port  # noqa: E402
from elang_sk.serving._remote import RemoteClassifier, RemoteStageError  # noqa: E402

X, y = make_classification(
    n_samples=600,
    n_informative=6,
    n_classes=3,
    n_clusters_per_class=1,
    random_state=0,
)
X_train, y_train, X_cal, y_cal, X_test = (
    X[:250],
    y[:250],
    X[250:450],
    y[250:450],
    X[450:],
)
COSTS = {"swift": 1.0, "super": 10.0}
FAST = {"max_retries": 2, "backoff_s": 0.01}  # quick retries for the tests


def lr(C):
    return LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)


class FlakyClassifier(ClassifierMixin, BaseEstimator):
    """A pre-trained classifier that fails while ``failing[0]`` is True."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.estimator.classes_

    @property
    def failing(self):
        return self.__dict__.setdefault("_failing", [False])

    def predict(self, X):
        if self.failing[0]:
            raise RuntimeError("the back Super is down")
        return self.estimator.predict(X)

    def predict_proba(self, X):
        if self.failing[0]:
            raise RuntimeError("the back Super is down")
        return self.estimator.predict_proba(X)

    def fit(self, X, y):
        raise AssertionError("pre-trained")


@pytest.fixture(scope="module")
def served():
    """The joint model of the back server (plain sklearn models)."""
    return JointClassifier(lr(0.003), lr(1.0), router="softmax").fit(X_cal, y_cal)


@pytest.fixture(scope="module")
def back(served):
    with ServerThread(create_app(served)) as running:
        yield running


def predict_requests(server):
    """``elang_requests_total`` of successful predict requests on a real server."""
    name = 'elang_requests_total{endpoint="predict",status="200"}'
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


# -- a scripted server speaking the protocol --------------------------------------


def scripted_app(state):
    """``/v1/model`` and ``/v1/predict`` answered from ``state``, with faults."""
    app = FastAPI()

    @app.get("/v1/model")
    async def card():
        state.card_calls += 1
        return state.card

    @app.post("/v1/predict")
    async def predict(request: Request):
        body = await request.json()
        inputs = body["inputs"]
        state.calls.append(len(inputs))
        if state.fail:
            status, headers = state.fail.pop(0)
            return JSONResponse(
                {"error": f"scripted failure {status}"},
                status_code=status,
                headers=headers,
            )
        if len(inputs) > state.max_inputs:
            return JSONResponse(
                {
                    "error": f"{len(inputs)} inputs in one request; this server "
                    f"takes at most {state.max_inputs} (max_inputs): split it."
                },
                status_code=413,
            )
        # What this request reads after its sleep is taken now: a request
        # still sleeping when a test ends never touches the next test's state.
        flight, answered, model = state.flight, state.answered, state.model
        flight.now += 1
        flight.peak = max(flight.peak, flight.now)
        try:
            delay = state.delays.pop(0) if state.delays else state.delay
            await asyncio.sleep(delay)
        finally:
            flight.now -= 1
        rows = np.asarray(inputs, dtype=float)
        out = {"predictions": model.predict(rows).tolist()}
        if "proba" in (body.get("return") or []):
            out["proba"] = model.predict_proba(rows).tolist()
        answered.append(len(inputs))
        return out

    return app


def reset(state, model):
    state.__dict__.update(
        model=model,
        card={
            "estimator": "JointClassifier",
            "task": "classification",
            "stages": [
                {"name": "swift", "model": "A"},
                {"name": "super", "model": "B"},
            ],
            "classes": np.asarray(model.classes_).tolist(),
            "calibration": {"n_samples": 200, "stage_quality": [0.8, 0.9]},
            "operating_point": {"thresholds": [0.5], "history": []},
        },
        calls=[],
        answered=[],
        fail=[],
        delay=0.0,
        delays=[],
        max_inputs=1024,
        flight=SimpleNamespace(now=0, peak=0),
        card_calls=0,
    )
    return state


@pytest.fixture(scope="module")
def scripted_server():
    state = SimpleNamespace()
    reset(state, lr(1.0))
    with ServerThread(scripted_app(state), wait_ready=False, drain_s=1.0) as running:
        running.state = state
        yield running


@pytest.fixture
def scripted(scripted_server):
    reset(scripted_server.state, lr(1.0))
    return scripted_server


# -- equality with the served model -------------------------------------------------


def test_remote_equals_the_served_model(served, back):
    remote = RemoteClassifier(back.url, batch_size=16).fit(X_test, y[450:])
    np.testing.assert_array_equal(remote.classes_, served.classes_)
    assert remote.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(remote.predict(X_test), served.predict(X_test))
    np.testing.assert_allclose(
        remote.predict_proba(X_test), served.predict_proba(X_test), rtol=0, atol=0
    )
    assert remote.predict(X_test).dtype == served.predict(X_test).dtype
    assert remote.score(X_test, y[450:]) == served.score(X_test, y[450:])


def test_texts_are_sent_as_texts(text_models, texts):
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_te, _) = texts
    joint = JointClassifier(swift, super_).fit(X_dev, y_dev)
    X_te = list(X_te[:40])
    with ServerThread(create_app(joint)) as running:
        remote = RemoteClassifier(running.url, batch_size=16).fit(X_te)
        assert not hasattr(remote, "n_features_in_")
        np.testing.assert_array_equal(remote.predict(X_te), joint.predict(X_te))
        as_array = np.array(X_te, dtype=object)
        np.testing.assert_allclose(
            remote.predict_proba(as_array), joint.predict_proba(X_te)
        )
        assert remote.classes_.tolist() == joint.classes_.tolist()
        with pytest.raises(ValueError, match="X\\[1\\] is a int"):
            remote.predict(np.array(["fine", 3], dtype=object))


def test_a_joint_with_a_remote_super_equals_the_local_one(served, back):
    swift = lr(0.001)
    local = JointClassifier(swift, served, router="softmax", costs=COSTS)
    local.fit(X_cal, y_cal)
    remote = JointClassifier(
        swift, RemoteClassifier(back.url), router="softmax", costs=COSTS
    ).fit(X_cal, y_cal)
    assert remote.thresholds_.tolist() == local.thresholds_.tolist()
    np.testing.assert_array_equal(remote.predict(X_test), local.predict(X_test))
    np.testing.assert_allclose(
        remote.predict_proba(X_test), local.predict_proba(X_test)
    )
    np.testing.assert_array_equal(remote.served_by(X_test), local.served_by(X_test))
    assert 0 < np.mean(remote.served_by(X_test) == "super") < 1
    # Calibrated on all of X_cal: a remote model is used as given, never refit.
    assert remote.calibration_.stage_quality.shape[1] == len(y_cal)
    assert remote.super_estimator_ is remote.super_estimator


def test_a_remote_stage_in_a_cascade(served, back):
    stages = [("small", lr(0.001)), ("medium", lr(0.01))]
    local = CascadeClassifier(
        [*stages, ("large", served)],
        routers="softmax",
        costs={"small": 1, "medium": 3, "large": 10},
    ).fit(X_cal, y_cal)
    remote = CascadeClassifier(
        [*stages, ("large", RemoteClassifier(back.url))],
        routers="softmax",
        costs={"small": 1, "medium": 3, "large": 10},
    ).fit(X_cal, y_cal)
    np.testing.assert_array_equal(remote.predict(X_test), local.predict(X_test))
    np.testing.assert_array_equal(remote.served_by(X_test), local.served_by(X_test))


# -- batching and concurrency ---------------------------------------------------------


def test_requests_are_batched(served, back):
    remote = RemoteClassifier(back.url, batch_size=32)
    before = predict_requests(back)
    remote.predict(X_test)
    assert predict_requests(back) - before == math.ceil(len(X_test) / 32)
    before = predict_requests(back)
    RemoteClassifier(back.url, batch_size=1000).predict_proba(X_test)
    assert predict_requests(back) - before == 1


def test_requests_run_concurrently_in_input_order(scripted):
    state = scripted.state
    state.delay = 0.1
    state.delays = [0.4]  # the first batch answers last
    remote = RemoteClassifier(scripted.url, batch_size=5, max_concurrency=4)
    started = time.monotonic()
    proba = remote.predict_proba(X_test[:40])
    elapsed = time.monotonic() - started  # the proba requests only
    np.testing.assert_allclose(proba, state.model.predict_proba(X_test[:40]))
    np.testing.assert_array_equal(
        remote.predict(X_test[:40]), state.model.predict(X_test[:40])
    )
    assert state.calls == [5] * 16
    assert 2 <= state.flight.peak <= 4
    assert elapsed < 15 * 0.1 + 0.4  # not one request after the other
    state.flight.peak, state.delays = 0, []
    RemoteClassifier(scripted.url, batch_size=5, max_concurrency=1).predict(X_test[:20])
    assert state.flight.peak == 1


def test_a_413_splits_the_request_and_the_limit_is_kept(scripted):
    state = scripted.state
    state.max_inputs = 7
    remote = RemoteClassifier(scripted.url, batch_size=20)
    np.testing.assert_array_equal(
        remote.predict(X_test[:30]), state.model.predict(X_test[:30])
    )
    assert max(state.answered) <= 7 and sum(state.answered) == 30
    state.calls.clear()
    remote.predict(X_test[:30])
    assert max(state.calls) <= 7  # no request over the limit any more
    state.max_inputs = 0  # even one input is too many
    with pytest.raises(ValueError, match="too large \\(HTTP 413\\)"):
        RemoteClassifier(scripted.url).predict(X_test[:1])


def test_a_real_servers_max_inputs_is_respected(served):
    with ServerThread(create_app(served, max_inputs=8)) as running:
        remote = RemoteClassifier(running.url, batch_size=64)
        np.testing.assert_array_equal(
            remote.predict(X_test[:50]), served.predict(X_test[:50])
        )


# -- retries and errors -------------------------------------------------------------


def test_a_transient_503_is_retried_and_succeeds(scripted):
    state = scripted.state
    state.fail = [(503, {"Retry-After": "0"}), (429, {}), (502, {})]
    remote = RemoteClassifier(scripted.url, max_retries=3, backoff_s=0.01)
    np.testing.assert_array_equal(
        remote.predict(X_test[:10]), state.model.predict(X_test[:10])
    )
    assert state.calls == [10, 10, 10, 10]
    # In a joint model: one 503 no longer aborts the whole predict.
    joint = JointClassifier(lr(0.001), remote, router="softmax", costs=COSTS)
    joint.fit(X_cal, y_cal)
    expected = joint.predict(X_test)
    assert (joint.served_by(X_test) == "super").any()
    state.fail = [(503, {"Retry-After": "0"})]
    np.testing.assert_array_equal(joint.predict(X_test), expected)
    assert not state.fail  # the 503 was met, and retried


def test_retry_after_is_honoured_and_capped(scripted, monkeypatch):
    state = scripted.state
    remote = RemoteClassifier(scripted.url, max_retries=1, backoff_s=0.0)
    state.fail = [(503, {"Retry-After": "0.3"})]
    started = time.monotonic()
    remote.predict(X_test[:3])
    assert time.monotonic() - started >= 0.3
    monkeypatch.setattr(remote_module, "MAX_WAIT_S", 0.05)
    state.fail = [(503, {"Retry-After": "3600"})]
    started = time.monotonic()
    remote.predict(X_test[:3])
    assert time.monotonic() - started < 5


def test_exhausted_retries_raise_a_remote_stage_error(scripted):
    state = scripted.state
    state.fail = [(503, {"Retry-After": "0"})] * 10
    remote = RemoteClassifier(scripted.url, **FAST)
    with pytest.raises(RemoteStageError) as caught:
        remote.predict(X_test[:4])
    err = caught.value
    assert isinstance(err, RuntimeError)
    assert (err.status, err.attempts) == (503, 3)
    assert err.url == scripted.url + "/v1/predict"
    message = str(err)
    for part in (scripted.url, "3 attempts", "HTTP 503", "scripted failure 503"):
        assert part in message
    assert "/readyz" in message and "max_retries" in message
    assert state.calls == [4, 4, 4]


def test_a_4xx_is_a_value_error_without_retry(scripted, back):
    state = scripted.state
    state.fail = [(422, {})]
    with pytest.raises(ValueError, match="HTTP 422\\): scripted failure 422"):
        RemoteClassifier(scripted.url, **FAST).predict(X_test[:4])
    assert state.calls == [4]
    with pytest.raises(ValueError, match="this model takes 20 per row"):
        RemoteClassifier(back.url, **FAST).predict(X_test[:4, :5])


def test_a_server_error_is_not_retried(scripted):
    scripted.state.fail = [(500, {})]
    with pytest.raises(RemoteStageError, match="after 1 attempt \\(HTTP 500"):
        RemoteClassifier(scripted.url, **FAST).predict(X_test[:4])
    assert scripted.state.calls == [4]


def test_labels_the_card_does_not_list_are_an_error(scripted):
    remote = RemoteClassifier(scripted.url).fit()
    scripted.state.model = LogisticRegression().fit(X_train, y_train + 5)
    with pytest.raises(RemoteStageError, match="call fit to read its card again"):
        remote.predict(X_test[:4])


def test_timeouts_are_retried_then_reported(scripted):
    state = scripted.state
    state.delays = [1.0]  # the first request stalls, the retry answers
    remote = RemoteClassifier(scripted.url, timeout_s=0.3, **FAST)
    np.testing.assert_array_equal(
        remote.predict(X_test[:5]), state.model.predict(X_test[:5])
    )
    assert len(state.calls) == 2
    state.delay = 1.0
    started = time.monotonic()
    with pytest.raises(RemoteStageError, match="no answer within timeout_s=0.2 s"):
        RemoteClassifier(scripted.url, timeout_s=0.2, max_retries=1).predict(X_test[:5])
    assert time.monotonic() - started < 2.0


def test_the_front_server_falls_back_to_its_swift_when_the_back_fails():
    flaky = FlakyClassifier(lr(1.0))
    back_joint = JointClassifier(lr(0.003), flaky, router="softmax").fit(X_cal, y_cal)
    # The back fails its own request (502) when its Super does.
    back_server = ServerThread(create_app(back_joint, on_stage_error="error"))
    back_server.start()
    try:
        swift = lr(0.001)
        remote = RemoteClassifier(
            back_server.url, timeout_s=5, headers={"X-Token": "secret-value"}, **FAST
        )
        front_joint = JointClassifier(swift, remote, router="softmax", costs=COSTS)
        front_joint.fit(X_cal, y_cal)
        with ServerThread(create_app(front_joint)) as front:
            body = {
                "inputs": X_test[:20].tolist(),
                "return": ["served_by"],
                "operating_point": {"threshold": "inf"},  # all rows to the Super
            }

            def ask():
                reply = httpx.post(front.url + "/v1/predict", json=body, timeout=30)
                assert reply.status_code == 200, reply.text
                return reply.json()

            out = ask()
            assert set(out["served_by"]) == {"super"}
            assert out["predictions"] == back_joint.predict(X_test[:20]).tolist()
            flaky.failing[0] = True  # broken: HTTP 502, retried, then fallback
            out = ask()
            assert set(out["served_by"]) == {"swift_fallback"}
            assert out["predictions"] == swift.predict(X_test[:20]).tolist()
            flaky.failing[0] = False  # back again
            assert set(ask()["served_by"]) == {"super"}
            back_server.stop()  # gone: connection refused, then fallback
            out = ask()
            assert set(out["served_by"]) == {"swift_fallback"}
            assert out["predictions"] == swift.predict(X_test[:20]).tolist()
            assert httpx.get(front.url + "/readyz").status_code == 200
            card = httpx.get(front.url + "/v1/model", timeout=30).text
            assert "RemoteClassifier(url=" in card and "secret-value" not in card
    finally:
        back_server.stop()


def test_an_unreachable_or_wrong_server_is_a_clear_error(scripted):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RemoteStageError, match="ConnectError") as caught:
        RemoteClassifier(url, **FAST).fit()
    assert url in str(caught.value) and caught.value.status is None
    for bad in ("localhost:8000", "ftp://host/x", "http://", f"{url}/v1/predict"):
        with pytest.raises(ValueError, match="url="):
            RemoteClassifier(bad).fit()
    with pytest.raises(TypeError, match="url must be a str"):
        RemoteClassifier(None).fit()
    with ServerThread(FastAPI(), wait_ready=False) as other:  # not elang-sk serve
        with pytest.raises(ValueError, match="Is it the address of an `elang-sk"):
            RemoteClassifier(other.url).fit()
    scripted.state.card = {"estimator": "JointSeq2Seq", "task": "generation"}
    with pytest.raises(ValueError, match="needs a served classifier"):
        RemoteClassifier(scripted.url).fit()
    reset(scripted.state, lr(1.0))
    with pytest.raises(ValueError, match="labels \\[7\\]"):
        RemoteClassifier(scripted.url).fit(X_test[:2], [0, 7])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"timeout_s": 0}, "timeout_s must be a number > 0"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"max_retries": 1.5}, "max_retries must be an integer"),
        ({"backoff_s": float("nan")}, "backoff_s must be a number >= 0"),
        ({"batch_size": 0}, "batch_size must be an integer > 0"),
        ({"max_concurrency": True}, "max_concurrency must be an integer"),
        ({"headers": {"A": 1}}, "headers must be None or a dict"),
    ],
)
def test_parameters_are_checked_at_first_use(params, match):
    remote = RemoteClassifier("http://127.0.0.1:9", **params)  # no check yet
    with pytest.raises(ValueError, match=match):
        remote.predict(X_test[:2])


def test_bad_inputs_are_refused_before_any_request(scripted):
    remote = RemoteClassifier(scripted.url)
    remote.fit()
    bad = X_test[:3].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or an infinity"):
        remote.predict(bad)
    with pytest.raises(TypeError, match="densify"):
        remote.predict(sparse.csr_matrix(X_test[:3]))
    with pytest.raises(TypeError, match="single str"):
        remote.predict("one text")
    with pytest.raises(ValueError, match="2-D array of numbers"):
        remote.predict(X_test[0])
    with pytest.raises(ValueError, match="cannot be read as inputs"):
        remote.predict([[1.0, 2.0], [1.0]])
    assert scripted.state.calls == []
    assert remote.predict(np.empty((0, 20))).shape == (0,)
    assert remote.predict_proba([]).shape == (0, 3)
    assert scripted.state.calls == []


# -- fingerprint and output cache -----------------------------------------------------


def test_the_fingerprint_follows_the_remote_model(scripted, back):
    state = scripted.state
    remote = RemoteClassifier(scripted.url)
    first = remote.elang_fingerprint()
    assert remote.elang_fingerprint() == first
    assert fingerprint(remote) == f"RemoteClassifier-{first}"
    assert RemoteClassifier(scripted.url, batch_size=8).elang_fingerprint() == first
    for change in (
        lambda card: card["calibration"].update(stage_quality=[0.8, 0.95]),
        lambda card: card["operating_point"].update(thresholds=[0.7]),
        lambda card: card.update(classes=[0, 1, 2, 3]),
        lambda card: card["stages"][1].update(model="C"),
        lambda card: card.update(fingerprint="abc"),
    ):
        before = remote.elang_fingerprint()
        change(state.card)
        assert remote.elang_fingerprint() != before
    assert RemoteClassifier(back.url).elang_fingerprint() != first


def test_cached_outputs_are_not_reused_once_the_remote_model_changes(
    scripted, tmp_path
):
    state = scripted.state
    swift = lr(0.001)
    joint = JointClassifier(
        swift,
        RemoteClassifier(scripted.url),
        router="softmax",
        costs=COSTS,
        memory=str(tmp_path),
    ).fit(X_cal, y_cal)
    first = joint.answer_stage(X_test, 1)
    n_rows = sum(state.calls)
    np.testing.assert_array_equal(joint.answer_stage(X_test, 1), first)
    assert sum(state.calls) == n_rows  # from the cache
    state.model = lr(0.002)  # the server's model is replaced...
    state.card["calibration"]["stage_quality"] = [0.8, 0.7]  # ...and its card
    np.testing.assert_array_equal(
        joint.answer_stage(X_test, 1), state.model.predict(X_test)
    )
    assert sum(state.calls) > n_rows


# -- saving, the scikit-learn protocol ------------------------------------------------


def test_save_and_load_a_joint_with_a_remote_super(scripted, tmp_path):
    pytest.importorskip("skops")
    remote = RemoteClassifier(scripted.url, batch_size=16, headers={"X-Team": "a"})
    joint = JointClassifier(lr(0.001), remote, router="softmax", costs=COSTS)
    joint.fit(X_cal, y_cal)
    folder = save_joint(joint, tmp_path / "model")
    calls = scripted.state.card_calls
    loaded = load_joint(folder)  # its classes_ are saved: no request
    assert scripted.state.card_calls == calls
    loaded_remote = loaded.super_estimator_
    assert isinstance(loaded_remote, RemoteClassifier)
    assert loaded_remote.get_params() == remote.get_params()
    np.testing.assert_array_equal(loaded.predict(X_test), joint.predict(X_test))
    np.testing.assert_allclose(
        loaded.predict_proba(X_test), joint.predict_proba(X_test)
    )


def test_the_scikit_learn_protocol_needs_no_server():
    secret = "Bearer do-not-print"
    remote = RemoteClassifier(
        "http://127.0.0.1:9", batch_size=8, headers={"Authorization": secret}
    )
    assert is_fitted(remote)
    check_is_fitted(remote)
    assert get_tags(remote).input_tags.string
    assert get_tags(remote).requires_fit is False
    params = remote.get_params()
    assert params["batch_size"] == 8 and params["url"] == "http://127.0.0.1:9"
    copy = clone(remote)
    assert copy.get_params() == params and copy is not remote
    copy.set_params(batch_size=16, max_concurrency=2)
    assert (copy.batch_size, copy.max_concurrency, remote.batch_size) == (16, 2, 8)
    text = repr(remote)
    assert secret not in text and "'Authorization': '***'" in text
    assert text.startswith("RemoteClassifier(url='http://127.0.0.1:9', batch_size=8")
    assert repr(RemoteClassifier("http://h:1")) == "RemoteClassifier(url='http://h:1')"
    assert pickle.loads(pickle.dumps(remote)).get_params() == params
    remote.close()


def test_the_client_and_card_follow_set_params(served, back, scripted):
    remote = RemoteClassifier(back.url)
    np.testing.assert_array_equal(remote.classes_, served.classes_)
    remote.predict(X_test[:3])
    state = pickle.loads(pickle.dumps(remote)).__dict__
    assert "_client" not in state and "_card_state" in state  # the card travels
    remote.set_params(url=scripted.url)
    calls = scripted.state.card_calls
    remote.classes_  # noqa: B018 - the card of the new URL is read
    assert scripted.state.card_calls == calls + 1
    np.testing.assert_array_equal(
        remote.predict(X_test[:3]), scripted.state.model.predict(X_test[:3])
    )
    remote.close()
    remote.predict(X_test[:3])  # a closed client is opened again


# -- the served model's content fingerprint -----------------------------------------


def flipped(joint):
    """A copy of ``joint`` with other weights and the same card otherwise."""
    other = copy.deepcopy(joint)
    for model in (other.swift_estimator_, other.super_estimator_):
        model.coef_ *= -1.0
    return other


def card_of(server):
    reply = httpx.get(server.url + "/v1/model", timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_the_card_fingerprint_names_the_weights(served, back, tmp_path):
    pytest.importorskip("skops")
    # Built (and the model's threshold selections memoised) by the back's card:
    # the copies below are fingerprinted in that same state.
    card = card_of(back)
    assert card["fingerprint"].startswith("JointClassifier-")
    assert card_of(back)["fingerprint"] == card["fingerprint"]
    other = flipped(served)
    assert (other.predict(X_test) != served.predict(X_test)).any()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cards, named = [], []
    for model in (served, other, served):
        with ServerThread(create_app(model), port=port) as running:
            assert running.url == url
            cards.append(card_of(running))
            named.append(RemoteClassifier(url).elang_fingerprint())
    (card_a, card_b, _), (fp_a, fp_b, fp_c) = cards, named
    # Same parameters, calibration summary and thresholds: only the weights
    # tell the two models apart, and now the fingerprint does too.
    for key in ("estimator", "stages", "classes", "calibration", "operating_point"):
        assert card_a[key] == card_b[key], key
    assert card_a["fingerprint"] != card_b["fingerprint"]
    assert fp_a != fp_b
    assert fp_c == fp_a  # the same model served again
    # A saved folder served twice is named the same both times.
    folder = save_joint(served, tmp_path / "model")
    named = set()
    for _ in range(2):
        with ServerThread(create_app(folder), port=port):
            named.add(RemoteClassifier(url).elang_fingerprint())
    assert len(named) == 1


def test_cached_outputs_are_not_reused_for_a_server_with_other_weights(
    served, tmp_path
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    other = flipped(served)
    joint = JointClassifier(
        lr(0.001),
        RemoteClassifier(url),
        router="softmax",
        costs=COSTS,
        memory=str(tmp_path),
    )
    with ServerThread(create_app(served), port=port):
        joint.fit(X_cal, y_cal)
        first = joint.answer_stage(X_test, 1)
        np.testing.assert_array_equal(first, served.predict(X_test))
    with ServerThread(create_app(other), port=port) as running:  # same address
        before = predict_requests(running)
        answers = joint.answer_stage(X_test, 1)
        assert predict_requests(running) > before  # not from the cache
    np.testing.assert_array_equal(answers, other.predict(X_test))
    assert (answers != first).any()


def test_a_front_servers_fingerprint_follows_its_remote_stage(scripted):
    state = scripted.state
    front_joint = JointClassifier(
        lr(0.001), RemoteClassifier(scripted.url, **FAST), router="softmax"
    ).fit(X_cal, y_cal)
    with ServerThread(create_app(front_joint)) as front:
        client = RemoteClassifier(front.url)
        first = card_of(front)["fingerprint"]
        assert first.startswith("JointClassifier-")
        assert card_of(front)["fingerprint"] == first
        before = client.elang_fingerprint()
        state.card["fingerprint"] = "the back's new weights"
        assert card_of(front)["fingerprint"] != first
        assert client.elang_fingerprint() != before
        # The back cannot be named: the front says so, its clients do not cache.
        state.card = {"estimator": "JointSeq2Seq", "task": "generation"}
        card = card_of(front)
        assert card["fingerprint"] is None
        assert "needs a served classifier" in card["fingerprint_error"]
        with pytest.raises(RemoteStageError, match="null fingerprint"):
            client.elang_fingerprint()
        assert client.classes_.tolist() == front_joint.classes_.tolist()


# -- credentials ----------------------------------------------------------------------

SECRET = "Bearer s3cret-never-on-disk"


def guarded_app(state):
    """The scripted protocol behind ``Authorization: <state.expected>``."""
    app = FastAPI()

    def refused(request):
        given = request.headers.get("authorization")
        state.seen.append(given)
        if given != state.expected:
            return JSONResponse({"error": "wrong or missing token"}, status_code=401)
        return None

    @app.get("/v1/model")
    async def card(request: Request):
        return refused(request) or state.card

    @app.post("/v1/predict")
    async def predict(request: Request):
        body = await request.json()
        rows = np.asarray(body["inputs"], dtype=float)
        out = {"predictions": state.model.predict(rows).tolist()}
        if "proba" in (body.get("return") or []):
            out["proba"] = state.model.predict_proba(rows).tolist()
        return refused(request) or out

    return app


def saved_bytes(folder):
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_saving_refuses_literal_credential_headers(scripted, tmp_path):
    pytest.importorskip("skops")
    remote = RemoteClassifier(scripted.url, headers={"X-Team": "a"})
    joint = JointClassifier(lr(0.001), remote, router="softmax", costs=COSTS)
    joint.fit(X_cal, y_cal)
    for name in (
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "X-Api-Key",
        "X-Auth-Token",
        "client_secret",
    ):
        remote.set_params(headers={"X-Team": "a", name: SECRET})
        with pytest.raises(TypeError) as caught:
            save_joint(joint, tmp_path / "model")
        message = str(caught.value)
        assert repr(name) in message and "header_env" in message, message
        assert "s3cret" not in message
        assert not (tmp_path / "model").exists()
        assert b"s3cret" not in saved_bytes(tmp_path)
    # In memory, pickling and copying keep every parameter as given.
    assert pickle.loads(pickle.dumps(remote)).headers == remote.headers
    assert copy.deepcopy(remote).headers == remote.headers
    remote.set_params(headers={"X-Team": "a"})  # nothing secret: saved
    assert b"X-Team" in saved_bytes(save_joint(joint, tmp_path / "model"))


def test_a_credential_from_the_environment_is_sent_and_never_saved(
    tmp_path, monkeypatch
):
    pytest.importorskip("skops")
    state = reset(SimpleNamespace(), lr(1.0))
    state.expected, state.seen = SECRET, []
    monkeypatch.setenv("ELANG_SK_TEST_AUTH", SECRET)
    with ServerThread(guarded_app(state), wait_ready=False) as guarded:
        with pytest.raises(ValueError, match="HTTP 401"):
            RemoteClassifier(guarded.url, **FAST).fit()
        remote = RemoteClassifier(
            guarded.url, header_env={"Authorization": "ELANG_SK_TEST_AUTH"}, **FAST
        )
        joint = JointClassifier(lr(0.001), remote, router="softmax", costs=COSTS)
        expected = joint.fit(X_cal, y_cal).predict(X_test)
        assert state.seen[-1] == SECRET
        assert "s3cret" not in repr(remote) and "ELANG_SK_TEST_AUTH" in repr(remote)
        folder = save_joint(joint, tmp_path / "model")
        saved = saved_bytes(folder)
        assert b"s3cret" not in saved and b"ELANG_SK_TEST_AUTH" in saved
        loaded = load_joint(folder)
        np.testing.assert_array_equal(loaded.predict(X_test), expected)
        loaded_remote = loaded.super_estimator_
        assert loaded_remote.header_env == {"Authorization": "ELANG_SK_TEST_AUTH"}
        # Read at every request: a rotated token is sent by the same client.
        monkeypatch.setenv("ELANG_SK_TEST_AUTH", "Bearer rotated")
        with pytest.raises(ValueError, match="HTTP 401"):
            loaded_remote.predict(X_test[:3])
        state.expected = "Bearer rotated"
        loaded_remote.predict(X_test[:3])
        assert state.seen[-1] == "Bearer rotated"
        # Unset or empty: a clear error naming the variable, nothing sent.
        sent = len(state.seen)
        monkeypatch.delenv("ELANG_SK_TEST_AUTH")
        with pytest.raises(RuntimeError, match="'ELANG_SK_TEST_AUTH' is not set"):
            loaded_remote.predict(X_test[:3])
        monkeypatch.setenv("ELANG_SK_TEST_AUTH", "")
        with pytest.raises(RuntimeError, match="'ELANG_SK_TEST_AUTH' is empty"):
            loaded_remote.predict_proba(X_test[:3])
        assert len(state.seen) == sent


@pytest.mark.parametrize(
    "params, match",
    [
        ({"header_env": ["ELANG_SK_TEST_AUTH"]}, "header_env must be None or a dict"),
        ({"header_env": {"Authorization": 3}}, "header_env must be None or a dict"),
        ({"header_env": {"Authorization": "Bearer abc"}}, "not an environment"),
        (
            {"headers": {"authorization": "x"}, "header_env": {"Authorization": "A"}},
            "in both headers and header_env",
        ),
    ],
)
def test_header_env_is_checked_at_first_use(params, match):
    remote = RemoteClassifier("http://127.0.0.1:9", **params)
    with pytest.raises(ValueError, match=match) as caught:
        remote.predict(X_test[:2])
    assert "abc" not in str(caught.value)  # a mistaken value is not echoed


def test_a_remote_saved_before_header_env_loads_without_it():
    remote = RemoteClassifier("http://127.0.0.1:9", headers={"X-Team": "a"})
    state = remote._state()
    del state["header_env"]  # the state of an earlier version
    old = RemoteClassifier.__new__(RemoteClassifier)
    old.__setstate__(state)
    assert old.get_params() == remote.get_params()
    assert (
        repr(old)
        == "RemoteClassifier(url='http://127.0.0.1:9', headers={'X-Team': '***'})"
    )
