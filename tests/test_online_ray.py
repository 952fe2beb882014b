"""The same HTTP API on Ray Serve: one deployment per stage, a local Ray."""

import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
pytest.importorskip("ray.serve")
pytest.importorskip("skops")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from elang_sk import CascadeClassifier, save_joint  # noqa: E402
from elang_sk.serving import build_ray_app, free_port  # noqa: E402
from elang_sk.serving._ray import _replica_config  # noqa: E402

TOKEN = "ray-admin-token"


def test_replica_settings_are_checked():
    assert _replica_config(None, 2) == [{"num_replicas": 1}] * 2
    assert _replica_config("1,3", 2) == [{"num_replicas": 1}, {"num_replicas": 3}]
    assert "autoscaling_config" in _replica_config("auto", 3)[2]
    for bad in ("1,x", [1], 0, "1,2,3"):
        with pytest.raises(ValueError, match="replicas must be"):
            _replica_config(bad, 2)


def test_ray_serve_round_trip(tmp_path):
    """A three-stage cascade on three stage deployments, behind the same API."""
    import ray
    from ray import serve

    X, y = make_classification(
        n_samples=600, n_classes=3, n_informative=6, random_state=0
    )
    models = [
        (name, LogisticRegression(C=C, max_iter=500).fit(X[:300], y[:300]))
        for name, C in (("small", 0.001), ("medium", 0.01), ("large", 1.0))
    ]
    joint = CascadeClassifier(models, routers="softmax").fit(X[300:500], y[300:500])
    save_joint(joint, tmp_path / "model")
    app = build_ray_app(
        tmp_path / "model", token=TOKEN, max_batch_size=16, stage_cpus=0.5
    )
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(app, name="elang_sk_test", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        # Ready once every stage has run its warm-up batch (asynchronous:
        # polled, for at most a minute on a busy machine).
        deadline = time.monotonic() + 60
        while (ready := httpx.get(url + "/readyz", timeout=30).json()) != {
            "ready": True
        } and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ready == {"ready": True}
        X_test = X[500:]
        body = {"inputs": X_test.tolist(), "return": ["served_by", "proba"]}
        out = httpx.post(url + "/v1/predict", json=body, timeout=60).json()
        np.testing.assert_array_equal(out["predictions"], joint.predict(X_test))
        np.testing.assert_allclose(out["proba"], joint.predict_proba(X_test))
        assert out["served_by"] == joint.served_by(X_test).tolist()
        changed = httpx.put(
            url + "/v1/operating-point",
            json={"thresholds": ["inf", "-inf"]},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert changed.status_code == 200, changed.text
        out = httpx.post(url + "/v1/predict", json=body, timeout=60).json()
        assert set(out["served_by"]) == {"medium"}
        metrics = httpx.get(url + "/metrics", timeout=30).text
        assert 'elang_stage_rows_total{stage="large"}' in metrics
    finally:
        serve.shutdown()
        ray.shutdown()
