"""``elang-sk serve``: a real process on a free port, stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("skops")
httpx = pytest.importorskip("httpx")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from elang_sk import JointClassifier, save_joint  # noqa: E402
from elang_sk.__main__ import main  # noqa: E402
from elang_sk.serving import free_port  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    X, y = make_classification(n_samples=500, random_state=0)
    joint = JointClassifier(
        LogisticRegression(C=0.01).fit(X[:200], y[:200]),
        LogisticRegression().fit(X[:200], y[:200]),
        router="softmax",
    ).fit(X[200:400], y[200:400])
    path = tmp_path_factory.mktemp("serve") / "model"
    save_joint(joint, path)
    return path, joint, X[400:]


def test_serve_prints_where_it_listens_and_stops_gracefully(folder):
    path, joint, X_test = folder
    port = free_port()
    env = {**os.environ, "ELANG_SK_TOKEN": "env-token-123"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "elang_sk",
            "serve",
            str(path),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()  # blocks until the server listens
        assert f"listening on http://127.0.0.1:{port}" in line, line
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            if httpx.get(url + "/readyz").status_code == 200:
                break
            time.sleep(0.05)
        out = httpx.post(url + "/v1/predict", json={"inputs": X_test.tolist()}).json()
        np.testing.assert_array_equal(out["predictions"], joint.predict(X_test))
        changed = httpx.put(
            url + "/v1/operating-point",
            json={"threshold": "inf"},
            headers={"Authorization": "Bearer env-token-123"},
        )
        assert changed.status_code == 200  # the token came from ELANG_SK_TOKEN
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def exit_status(argv):
    """The status of ``elang-sk ARGV``: argparse's errors exit, ours return."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-batch-size", "0"], "not a positive whole number"),
        (["--on-stage-error", "ignore"], "invalid choice"),
        (["--adaptive-floor", "{bad"], "not valid JSON"),
        (["--replicas", "2"], "--replicas is for --ray"),
        (["--adaptive-floor", '{"threshold": 1}'], "needs --adaptive-p99-ms"),
        (["--token", "short"], "at least 8 characters"),
    ],
)
def test_bad_serve_options_give_one_line(folder, capsys, args, message):
    path, _, _ = folder
    assert exit_status(["serve", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_folder_is_refused_before_loading(capsys):
    assert main(["serve", "/no/such/folder"]) == 2
    assert "is not a folder" in capsys.readouterr().err
