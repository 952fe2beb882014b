"""The online server: a real uvicorn server on a free 127.0.0.1 port.

Equality with ``predict`` for every joint estimator, the live knob, batching
across concurrent clients, the Super seeing only routed rows, back-pressure,
deadlines, the fallback, tokens, every bad request class, metrics, the model
card, the adaptive operating point and graceful shutdown.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from conftest import CountingClassifier  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from elang_sk import (  # noqa: E402
    CascadeClassifier,
    JointClassifier,
    ModelFolderError,
    ThresholdSelector,
    save_joint,
)
from elang_sk._fingerprint import fingerprint  # noqa: E402
from elang_sk.serving import AdaptivePolicy, ServerThread, create_app  # noqa: E402
from elang_sk.serving._operating_point import (  # noqa: E402
    AdaptiveController,
    OperatingPoint,
)

TOKEN = "s3cret-token"
X, y = make_classification(
    n_samples=700,
    n_informative=6,
    n_classes=3,
    n_clusters_per_class=1,
    random_state=0,
)
X_train, y_train, X_cal, y_cal, X_test = (
    X[:300],
    y[:300],
    X[300:550],
    y[300:550],
    X[550:],
)


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """A pre-trained classifier that can be slow, or fail, on demand."""

    def __init__(self, estimator, delay=0.0):
        self.estimator = estimator
        self.delay = delay

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.estimator.classes_

    @property
    def failing(self):
        return self.__dict__.setdefault("_failing", [False])

    def _wait(self):
        if self.failing[0]:
            raise RuntimeError("the Super is down")
        time.sleep(self.delay)

    def predict(self, X):
        self._wait()
        return self.estimator.predict(X)

    def predict_proba(self, X):
        self._wait()
        return self.estimator.predict_proba(X)

    def fit(self, X, y):
        raise AssertionError("pre-trained")


def lr(C):
    return LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)


@pytest.fixture(scope="module")
def pair():
    return JointClassifier(lr(0.003), lr(1.0), router="softmax").fit(X_cal, y_cal)


@pytest.fixture(scope="module")
def cascade():
    return CascadeClassifier(
        [("small", lr(0.001)), ("medium", lr(0.01)), ("large", lr(1.0))],
        routers="softmax",
    ).fit(X_cal, y_cal)


@pytest.fixture(scope="module")
def server(pair):
    with ServerThread(create_app(pair, token=TOKEN)) as running:
        yield running


def post(server, body, path="/v1/predict", **kwargs):
    return httpx.post(server.url + path, json=body, timeout=30, **kwargs)


def predict(server, inputs, returns=("proba", "served_by", "score"), **extra):
    reply = post(server, {"inputs": inputs, "return": list(returns), **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()


def check_same_as_predict(joint, url_server, inputs, X_model):
    out = predict(url_server, inputs)
    routing = joint.route(X_model, method="predict_proba")
    np.testing.assert_array_equal(out["predictions"], joint.predict(X_model))
    np.testing.assert_allclose(out["proba"], routing.answers)
    assert out["served_by"] == routing.served_by.tolist()
    scores = np.array(out["score"], dtype=float)
    expected = routing.scores[0] if len(routing.scores) == 1 else routing.scores.T
    np.testing.assert_allclose(scores, expected, equal_nan=True)


# -- equality with predict, for every joint estimator ---------------------------


def test_pair_server_equals_predict(pair, server):
    check_same_as_predict(pair, server, X_test.tolist(), X_test)


def test_cascade_server_equals_predict(cascade):
    with ServerThread(create_app(cascade, max_batch_size=16)) as running:
        check_same_as_predict(cascade, running, X_test.tolist(), X_test)
        served = predict(running, X_test.tolist())["served_by"]
        card = httpx.get(running.url + "/v1/model").json()
    assert set(served) == set(cascade.stage_names_)  # every stage answers some
    assert [s["name"] for s in card["stages"]] == cascade.stage_names_
    assert all("error" not in p for p in card["operating_points"])


def test_text_pair_server_equals_predict(text_models, texts):
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_te, _) = texts
    joint = JointClassifier(swift, super_).fit(X_dev, y_dev)
    with ServerThread(create_app(joint)) as running:
        check_same_as_predict(joint, running, list(X_te[:60]), X_te[:60])


def test_seq2seq_server_equals_predict():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("sacrebleu")
    from builders import make_pairs, tiny_t5, tiny_tokenizer

    from elang_sk.joint._seq2seq import JointSeq2Seq

    words = [f"w{i}" for i in range(12)]
    tok = tiny_tokenizer(words, "t5")
    vocab = len(tok)
    joint = JointSeq2Seq(
        tiny_t5(vocab, seed=0, d_model=16, num_layers=1),
        tiny_t5(vocab, seed=1, d_model=32, num_layers=1),
        tokenizer=tok,
        head_positions=4,
        head_epochs=2,
        cv=2,
        costs={"swift": 1.0, "super": 10.0, "router": 0.2},
        generation_kwargs={"max_new_tokens": 4},
    ).fit(*make_pairs(30))
    sources, _ = make_pairs(12, seed=1)
    with ServerThread(create_app(joint, max_batch_size=4)) as running:
        out = predict(running, sources, returns=("served_by", "score"))
        assert out["predictions"] == [str(p) for p in joint.predict(sources)]
        assert out["served_by"] == joint.served_by(sources).tolist()
        refused = post(running, {"inputs": sources, "return": ["proba"]})
        card = httpx.get(running.url + "/v1/model").json()
        point = httpx.get(running.url + "/v1/operating-point").json()
    assert refused.status_code == 422 and "no probabilities" in refused.text
    assert card["task"] == "generation" and "classes" not in card
    assert point["expected"]["quality"] == pytest.approx(
        joint.expected_on_calibration().quality
    )


def test_saved_folder_is_served_and_a_damaged_one_refused(pair, tmp_path):
    pytest.importorskip("skops")
    save_joint(pair, tmp_path / "model")
    with ServerThread(create_app(tmp_path / "model")) as running:
        check_same_as_predict(pair, running, X_test[:20].tolist(), X_test[:20])
    (tmp_path / "model" / "joint.json").write_text("{not json")
    with pytest.raises(ModelFolderError):
        create_app(tmp_path / "model")


# -- the live knob ------------------------------------------------------------------


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def put_point(server, spec, token=TOKEN):
    headers = auth(token) if token else {}
    return httpx.put(
        server.url + "/v1/operating-point", json=spec, headers=headers, timeout=30
    )


def test_the_knob_changes_answers_between_requests(pair, server):
    inputs = X_test[:80].tolist()
    try:
        assert put_point(server, {"threshold": "-inf"}).status_code == 200
        assert set(predict(server, inputs)["served_by"]) == {"swift"}
        assert put_point(server, {"threshold": "inf"}).status_code == 200
        out = predict(server, inputs)
        assert set(out["served_by"]) == {"super"}
        np.testing.assert_array_equal(
            out["predictions"], pair.answer_stage(X_test[:80], 1)
        )
        reply = put_point(server, {"strategy": "swift_ratio", "target": 0.8})
        assert reply.status_code == 200, reply.text
        expected = pair.thresholds_for(ThresholdSelector("swift_ratio", target=0.8))
        assert reply.json()["thresholds"] == pytest.approx(expected.tolist())
        point = httpx.get(server.url + "/v1/operating-point").json()
        sources = [change["spec"] for change in point["history"]]
        assert sources[-1] == {"strategy": "swift_ratio", "target": 0.8}
        assert point["expected"]["stage_ratios"]["swift"] == pytest.approx(
            pair.expected_on_calibration(expected).stage_ratios[0]
        )
    finally:
        put_point(server, {"thresholds": pair.thresholds_.tolist()})
    assert pair.thresholds_.tolist() == pair.thresholds_for(pair.threshold).tolist()


def test_a_request_may_carry_its_own_operating_point(pair, server):
    inputs = X_test[:30].tolist()
    out = predict(server, inputs, operating_point={"threshold": "-inf"})
    assert set(out["served_by"]) == {"swift"}
    assert predict(server, inputs)["served_by"] == pair.served_by(X_test[:30]).tolist()


def test_admin_token_is_checked(server, pair):
    spec = {"thresholds": pair.thresholds_.tolist()}
    assert put_point(server, spec, token=None).status_code == 401
    wrong = put_point(server, spec, token="wrong-token")
    assert wrong.status_code == 401 and "Wrong admin token" in wrong.text
    with ServerThread(create_app(pair)) as no_token:
        refused = put_point(no_token, spec)
    assert refused.status_code == 403 and "--token" in refused.text
    with pytest.raises(ValueError, match="at least 8 characters"):
        create_app(pair, token="short")


# -- batching, routed rows only, concurrency ------------------------------------


def test_concurrent_clients_are_batched_and_the_super_sees_only_routed_rows():
    super_ = CountingClassifier(lr(1.0))
    joint = JointClassifier(lr(0.003), super_, router="softmax").fit(X_cal, y_cal)
    expected = joint.predict(X_test)
    served = joint.served_by(X_test)
    super_.seen.clear()
    app = create_app(joint, max_batch_size=32, max_wait_ms=20, warmup_inputs=None)
    with ServerThread(app) as running:

        def one(i):
            return predict(running, [X_test[i].tolist()], returns=("served_by",))

        with ThreadPoolExecutor(16) as pool:
            outs = list(pool.map(one, range(len(X_test))))
        metrics = httpx.get(running.url + "/metrics").text
    assert [o["predictions"][0] for o in outs] == expected.tolist()
    assert [o["served_by"][0] for o in outs] == served.tolist()
    n_super = int(np.sum(served == "super"))
    assert 0 < n_super < len(X_test)
    assert len(super_.seen) == n_super  # the Super saw each routed row once
    batches = _sample(metrics, 'elang_stage_batch_rows_count{stage="swift"}')
    assert batches < len(X_test)  # rows of several requests shared a call
    assert _sample(metrics, 'elang_stage_rows_total{stage="super"}') == n_super


def _sample(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics")


# -- back-pressure, deadlines, fallback -------------------------------------------


def slow_pair(delay):
    super_ = SlowClassifier(lr(1.0), delay=delay)
    return JointClassifier(lr(0.003), super_, router="softmax").fit(X_cal, y_cal)


@pytest.fixture(scope="module")
def slow():
    joint = slow_pair(0.0)
    joint.estimators_[1].delay = 0.3
    return joint


def test_back_pressure_answers_503_with_retry_after(slow):
    app = create_app(
        slow,
        max_queue=4,
        max_batch_size=2,
        on_stage_error="error",
        warmup_inputs=None,
    )
    with ServerThread(app) as running:
        inputs = X_test[:4].tolist()
        point = {"threshold": "inf"}  # every row goes to the slow Super
        with ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(
                    lambda _: post(
                        running, {"inputs": inputs, "operating_point": point}
                    ),
                    range(8),
                )
            )
        statuses = [r.status_code for r in replies]
        assert 503 in statuses and 200 in statuses, statuses
        refused = next(r for r in replies if r.status_code == 503)
        assert int(refused.headers["Retry-After"]) >= 1
        assert "max_queue" in refused.json()["error"]
        assert httpx.get(running.url + "/healthz").status_code == 200


def test_deadline_gives_504_or_a_marked_fallback(slow):
    inputs = X_test[:6].tolist()
    # The Super sleeps 300 ms: a 150 ms deadline is always late for it, and
    # leaves the Swift time to answer first on a busy machine (with 50 ms it
    # sometimes did not, and the fallback had nothing to fall back on).
    body = {"inputs": inputs, "return": ["served_by"], "timeout_ms": 150}
    body["operating_point"] = {"threshold": "inf"}
    with ServerThread(create_app(slow, on_stage_error="error")) as running:
        late = post(running, body)
    assert late.status_code == 504 and "timeout_ms" in late.json()["error"]
    with ServerThread(create_app(slow)) as running:
        out = post(running, body).json()
        metrics = httpx.get(running.url + "/metrics").text
    assert out["served_by"] == ["swift_fallback"] * 6
    np.testing.assert_array_equal(out["predictions"], slow.answer_stage(X_test[:6], 0))
    assert (
        _sample(metrics, 'elang_rows_answered_total{served_by="swift_fallback"}') == 6
    )


def test_a_failing_super_falls_back_or_errors_and_the_server_stays_up():
    joint = slow_pair(0.0)
    inputs = X_test.tolist()
    served = joint.served_by(X_test)
    joint.estimators_[1].failing[0] = True
    with ServerThread(create_app(joint, warmup_inputs=None)) as running:
        out = predict(running, inputs, returns=("served_by",))
        assert httpx.get(running.url + "/healthz").status_code == 200
    expected = np.where(served == "super", "swift_fallback", "swift")
    assert out["served_by"] == expected.tolist()
    np.testing.assert_array_equal(out["predictions"], joint.answer_stage(X_test, 0))
    app = create_app(joint, on_stage_error="error", warmup_inputs=None)
    with ServerThread(app) as running:
        failed = post(running, {"inputs": inputs})
        assert failed.status_code == 502 and "the Super is down" in failed.text
        joint.estimators_[1].failing[0] = False
        assert post(running, {"inputs": inputs}).status_code == 200


def test_a_failing_warm_up_keeps_the_server_unready(pair):
    app = create_app(pair, warmup_inputs=np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match="warm-up failed"):
        ServerThread(app).start()


# -- bad requests -----------------------------------------------------------------


BAD_BODIES = [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"{}", 422, "no 'inputs'"),
    (b'{"inputs": []}', 422, "empty"),
    (b'{"inputs": "abc"}', 422, "must be a list"),
    (b'{"inputs": [[1, 2], "text"]}', 422, "every input"),
    (b'{"inputs": [{"a": 1}]}', 422, "every input"),
    (b'{"inputs": [[1, 2]]}', 422, "this model takes 20"),
    (b'{"inputs": [[true, 1]]}', 422, "every input"),
    (b'{"inputs": [[1], [1, 2]]}', 422, "different lengths"),
    (b'{"inputs": [[1]], "return": ["logits"]}', 422, "'return' must be"),
    (b'{"inputs": [[1]], "extra": 1}', 422, "Unknown keys"),
    (b'{"inputs": [[1]], "timeout_ms": -5}', 422, "timeout_ms"),
    (b'{"inputs": [[1]], "operating_point": {"threshold": "x"}}', 422, "threshold"),
    (b'{"inputs": [[1]], "operating_point": {"strategy": "best"}}', 422, "strategy"),
    (b'{"inputs": [[1]], "operating_point": {"thresholds": [1, 2]}}', 422, "routed"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
def test_bad_requests_get_a_clear_4xx(server, body, status, message):
    reply = httpx.post(
        server.url + "/v1/predict",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"]
    assert "Traceback" not in reply.text


def test_size_limits_name_the_limit(pair, text_models, texts):
    with ServerThread(create_app(pair, max_inputs=5, max_body_bytes=4000)) as running:
        many = post(running, {"inputs": X_test[:6].tolist()})
        big = post(running, {"inputs": [[0.0] * 20] * 5, "pad": "x" * 5000})
        nan = httpx.post(
            running.url + "/v1/predict",
            content=b'{"inputs": [[NaN' + b", 1" * 19 + b"]]}",
            timeout=30,
        )
    assert many.status_code == 413 and "max_inputs" in many.json()["error"]
    assert big.status_code == 413 and "max_body_bytes" in big.json()["error"]
    assert nan.status_code == 422 and "NaN" in nan.json()["error"]
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    joint = JointClassifier(swift, super_).fit(X_dev, y_dev)
    with ServerThread(create_app(joint, max_text_length=50)) as running:
        long = post(running, {"inputs": ["good film", "x" * 51]})
        numbers = post(running, {"inputs": [[1.0, 2.0]]})
    assert long.status_code == 413 and "max_text_length" in long.json()["error"]
    assert numbers.status_code == 422 and "refused the inputs" in numbers.text
    assert "Traceback" not in numbers.text


def test_one_bad_request_does_not_fail_the_requests_batched_with_it(text_models, texts):
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_te, _) = texts
    joint = JointClassifier(swift, super_).fit(X_dev, y_dev)
    app = create_app(joint, max_wait_ms=100, max_batch_size=256)
    with ServerThread(app) as running:
        bodies = [{"inputs": list(X_te[i : i + 5])} for i in range(0, 40, 5)]
        bodies.insert(3, {"inputs": [[1.0, 2.0]]})  # numbers for a text model
        with ThreadPoolExecutor(len(bodies)) as pool:
            replies = list(pool.map(lambda body: post(running, body), bodies))
    statuses = [r.status_code for r in replies]
    assert statuses[3] == 422 and statuses.count(200) == len(bodies) - 1
    good = [r.json()["predictions"] for i, r in enumerate(replies) if i != 3]
    assert sum(good, []) == joint.predict(X_te[:40]).tolist()


def test_bad_settings_are_refused(pair):
    with pytest.raises(ValueError, match="on_stage_error"):
        create_app(pair, on_stage_error="ignore")
    with pytest.raises(ValueError, match="max_batch_size"):
        create_app(pair, max_batch_size=0)
    with pytest.raises(ValueError, match="not fitted"):
        create_app(JointClassifier(lr(0.1), lr(1.0)))
    with pytest.raises(TypeError, match="joint estimator"):
        create_app(lr(1.0))
    with pytest.raises(ValueError, match="objective"):
        create_app(pair, adaptive=AdaptivePolicy())


# -- metrics, health, model card -------------------------------------------------


def test_metrics_health_and_model_card(pair, server):
    predict(server, X_test[:10].tolist())
    metrics = httpx.get(server.url + "/metrics").text
    for name in (
        "elang_requests_total",
        "elang_rows_answered_total",
        "elang_request_latency_seconds_bucket",
        "elang_stage_batch_seconds_bucket",
        "elang_stage_queue_rows",
        "elang_stage_batch_rows_bucket",
        "elang_swift_ratio_window",
        "elang_expected_quality",
        "elang_adaptive_position",
    ):
        assert name in metrics, name
    threshold = _sample(metrics, 'elang_threshold{gate="swift"}')
    assert threshold == pytest.approx(pair.threshold_)
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").json() == {"ready": True}
    card = httpx.get(server.url + "/v1/model").json()
    assert card["classes"] == pair.classes_.tolist()
    assert [s["name"] for s in card["stages"]] == ["swift", "super"]
    assert card["calibration"]["n_samples"] == len(y_cal)
    points = {json.dumps(p["spec"]): p for p in card["operating_points"]}
    risk = points[json.dumps({"strategy": "risk_control", "tol": 0.02})]
    assert risk["expected_quality_drop"] <= 0.02 + 1e-9 or "warnings" in risk
    assert len(card["tradeoff_curve"]["thresholds"]) <= 51


class UnnamedClassifier(SlowClassifier):
    """A pre-trained classifier whose fingerprint fails while ``failing``."""

    def elang_fingerprint(self):
        if self.failing[0]:
            raise RuntimeError("cannot name it yet")
        return "unnamed-1"


def test_the_model_card_gives_the_content_fingerprint(pair, cascade, caplog):
    joint = JointClassifier(lr(0.003), lr(1.0), router="softmax").fit(X_cal, y_cal)
    expected = fingerprint(joint)  # computed once, when the app is made
    with ServerThread(create_app(joint)) as running:
        cards = [httpx.get(running.url + "/v1/model").json() for _ in range(2)]
    assert [card["fingerprint"] for card in cards] == [expected] * 2
    assert "fingerprint_error" not in cards[0]
    with ServerThread(create_app(cascade)) as running:
        name = httpx.get(running.url + "/v1/model").json()["fingerprint"]
    assert name.startswith("CascadeClassifier-") and name != expected
    # Not computable at start-up: the server starts, the card says why, and
    # a later card request computes it.
    unnamed = UnnamedClassifier(lr(1.0))
    joint = JointClassifier(lr(0.003), unnamed, router="softmax").fit(X_cal, y_cal)
    unnamed.failing[0] = True
    with caplog.at_level("WARNING", logger="elang_sk.serving"):
        app = create_app(joint, warmup_inputs=None)
    assert "fingerprint could not be computed" in caplog.text
    with ServerThread(app) as running:
        card = httpx.get(running.url + "/v1/model").json()
        assert card["fingerprint"] is None
        assert "cannot name it yet" in card["fingerprint_error"]
        unnamed.failing[0] = False
        card = httpx.get(running.url + "/v1/model").json()
        assert card["fingerprint"].startswith("JointClassifier-")
        assert "fingerprint_error" not in card


# -- adaptive operating point ---------------------------------------------------------


def test_the_controller_moves_towards_the_floor_and_back(pair):
    point = OperatingPoint(pair)
    policy = AdaptivePolicy(p99_ms=100, floor={"threshold": float("-inf")}, step=0.5)
    controller = AdaptiveController(policy, point, pair)
    nominal = point.thresholds()
    controller.decide(p99_s=0.5, last_stage_rate=0, arrival_rate=10)
    controller.apply()
    half = point.thresholds()
    assert half[0] < nominal[0]
    assert (
        pair.expected_on_calibration(half).stage_ratios[0]
        > (pair.expected_on_calibration(nominal).stage_ratios[0])
    )
    for _ in range(4):
        controller.decide(p99_s=0.5, last_stage_rate=0, arrival_rate=10)
    controller.apply()
    assert controller.position == 1.0
    assert pair.expected_on_calibration(point.thresholds()).stage_ratios[0] == 1.0
    for _ in range(10):
        controller.decide(p99_s=0.01, last_stage_rate=0, arrival_rate=10)
    controller.apply()
    assert controller.position == 0.0
    np.testing.assert_array_equal(point.thresholds(), nominal)


def test_the_controller_never_passes_the_floor(pair):
    point = OperatingPoint(pair)
    floor = {"strategy": "swift_ratio", "target": 0.9}
    controller = AdaptiveController(
        AdaptivePolicy(last_stage_capacity=1.0, floor=floor), point, pair
    )
    floor_thresholds = pair.thresholds_for(ThresholdSelector("swift_ratio", target=0.9))
    for _ in range(30):
        controller.decide(p99_s=None, last_stage_rate=100.0, arrival_rate=100.0)
        controller.apply()
        assert point.thresholds()[0] >= floor_thresholds[0]
    assert controller.position == 1.0


def test_the_controller_moves_the_last_gate_of_a_cascade(cascade):
    point = OperatingPoint(cascade)
    floor = {"thresholds": [float(cascade.thresholds_[0]), "-inf"]}
    controller = AdaptiveController(
        AdaptivePolicy(p99_ms=10, floor=floor, step=1.0), point, cascade
    )
    nominal = point.thresholds()
    controller.decide(p99_s=1.0, last_stage_rate=0, arrival_rate=1)
    controller.apply()
    moved = point.thresholds()
    assert moved[0] == nominal[0] and moved[1] == -np.inf
    assert cascade.expected_on_calibration(moved).stage_ratios[-1] == 0.0


def test_adaptive_server_moves_under_load_and_reports_it():
    joint = slow_pair(0.0)
    joint.estimators_[1].delay = 0.05
    policy = AdaptivePolicy(
        p99_ms=60,
        floor={"threshold": "-inf"},
        window_s=1.0,
        interval_s=0.05,
        step=0.25,
    )
    app = create_app(joint, adaptive=policy, token=TOKEN, warmup_inputs=None)
    with ServerThread(app) as running:
        start = time.monotonic()
        body = {"inputs": X_test[:20].tolist()}
        while time.monotonic() - start < 3.0:
            post(running, body)
            state = httpx.get(running.url + "/v1/operating-point").json()
            if state["adaptive"]["position"] > 0:
                break
        assert state["adaptive"]["position"] > 0
        assert state["thresholds"][0] == "-inf" or (
            state["thresholds"][0] < joint.threshold_
        )
        metrics = httpx.get(running.url + "/metrics").text
        assert _sample(metrics, "elang_adaptive_position") > 0
        assert 'elang_operating_point_changes_total{source="adaptive"}' in metrics


# -- shutdown ---------------------------------------------------------------------


def test_graceful_shutdown_finishes_requests_in_flight(slow):
    server = ServerThread(create_app(slow, warmup_inputs=None)).start()
    body = {"inputs": X_test[:3].tolist(), "operating_point": {"threshold": "inf"}}
    replies = []
    client = threading.Thread(target=lambda: replies.append(post(server, body)))
    client.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the request waits on the Super
        metrics = httpx.get(server.url + "/metrics").text
        if 'elang_stage_rows_total{stage="super"} 3.0' in metrics:
            break
        time.sleep(0.01)
    server.stop()
    client.join(10)
    assert replies and replies[0].status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=2)


# -- live monitoring --------------------------------------------------------------


def test_the_monitor_flags_drift_and_audits_off_the_request_path(pair):
    app = create_app(pair, monitor={"window": 50, "alpha": 0.01, "audit_rate": 0.5})
    with ServerThread(app) as running:
        predict(running, X_test.tolist())  # like the calibration data
        calm = httpx.get(running.url + "/v1/monitor").json()
        assert calm["windows"] == 3 and not calm["drift_alarm"]
        shifted = (X_test * 4 + 3).tolist()  # far from anything calibrated
        for _ in range(3):
            predict(running, shifted)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # audits finish in the background
            status = httpx.get(running.url + "/v1/monitor").json()
            if status["n_audited"] > 0:
                break
            time.sleep(0.05)
        metrics = httpx.get(running.url + "/metrics").text
    assert status["drift_alarm"] and "DRIFT" in status["message"]
    assert status["n_audited"] > 0 and status["live_point_is_monitored"]
    assert _sample(metrics, "elang_monitor_drift_alarm") == 1.0
    assert _sample(metrics, "elang_monitor_audited_rows") == status["n_audited"]


def test_monitor_endpoint_without_a_monitor_and_bad_monitors(pair, server, cascade):
    reply = httpx.get(server.url + "/v1/monitor")
    assert reply.status_code == 404 and "no monitor" in reply.json()["error"]
    from elang_sk import RoutingMonitor

    with pytest.raises(ValueError, match="watches another model"):
        create_app(pair, monitor=RoutingMonitor(cascade))
    with pytest.raises(ValueError, match="window"):
        create_app(pair, monitor={"window": 3})
