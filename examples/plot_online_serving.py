"""
==========================================
Serving online: an endpoint with the knob
==========================================

A fitted joint model behind a real HTTP server on this machine
(``127.0.0.1``, a free port), called as a client would call it: predictions
with the stage that answered each input, the operating point turned live
between requests with the admin token, a strategy re-selected on the stored
calibration, and the Prometheus metrics read back. The server runs in a
background thread and stops at the end. The data are the UCI review
sentences and the two models TF-IDF pipelines, so the models are fast and
the shares, not the timings, are the point: see ``benchmarks/bench_online.py``
for latencies of the real transformers pair.
"""

# %%
# A joint model, and a server for it
# ----------------------------------
# :func:`~elang_sk.serving.create_app` turns the fitted model into a FastAPI
# app; :class:`~elang_sk.serving.ServerThread` serves it with uvicorn until
# the ``with`` block ends (``elang-sk serve FOLDER`` does the same from a
# saved folder, in the foreground).
import httpx
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from elang_sk import JointClassifier
from elang_sk.datasets import fetch_uci_sentences
from elang_sk.serving import ServerThread, create_app

train, dev, test = (fetch_uci_sentences(subset=s) for s in ("train", "dev", "test"))
swift = make_pipeline(TfidfVectorizer(), LogisticRegression())
super_ = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(C=10))
swift.fit(train.data, train.target)
super_.fit(train.data, train.target)
joint = JointClassifier(swift, super_).fit(dev.data, dev.target)

TOKEN = "example-admin-token"  # in production: the ELANG_SK_TOKEN variable
server = ServerThread(create_app(joint, token=TOKEN)).start()
admin = {"Authorization": f"Bearer {TOKEN}"}
inputs = list(test.data)

# %%
# Predicting, and who answered
# ----------------------------
# ``return`` asks for the probabilities, the answering stage and the routing
# score next to the predictions. The answers are ``joint.predict``'s.
reply = httpx.post(
    server.url + "/v1/predict",
    json={"inputs": inputs[:3], "return": ["proba", "served_by", "score"]},
).json()
for text, label, who, score in zip(
    inputs[:3], reply["predictions"], reply["served_by"], reply["score"], strict=True
):
    print(f"{who:>5} {label:>8}  score {score:6.2f}  {text[:50]!r}")


def shares():
    """Predict the whole test split; the share of inputs each stage answered."""
    out = httpx.post(
        server.url + "/v1/predict",
        json={"inputs": inputs, "return": ["served_by"]},
        timeout=60,
    ).json()
    served = np.array(out["served_by"])
    accuracy = np.mean(np.array(out["predictions"]) == test.target)
    return float(np.mean(served == "swift")), float(accuracy)


print(
    "same as joint.predict:", reply["predictions"] == joint.predict(inputs[:3]).tolist()
)

# %%
# Turning the knob live
# ---------------------
# The admin ``PUT /v1/operating-point`` takes a threshold, or a strategy
# chosen on the calibration data ``fit`` stored; it applies from the next
# batch on, without reloading anything. Below, the Swift's share of the test
# split and the accuracy at each point, as the server answers them.
points = {
    "fit's crossing point": None,
    "swift_ratio 0.9": {"strategy": "swift_ratio", "target": 0.9},
    "risk_control tol 0.02": {"strategy": "risk_control", "tol": 0.02},
    "everything to the Super": {"threshold": "inf"},
}
rows = []
for name, spec in points.items():
    if spec is not None:
        change = httpx.put(
            server.url + "/v1/operating-point", json=spec, headers=admin
        ).json()
        expected = change["expected"]["stage_ratios"]["swift"]
    else:
        state = httpx.get(server.url + "/v1/operating-point").json()
        expected = state["expected"]["stage_ratios"]["swift"]
    swift_share, accuracy = shares()
    rows.append((name, expected, swift_share, accuracy))
    print(
        f"{name:>24}: Swift share {swift_share:.2f} (calibration expected "
        f"{expected:.2f}), accuracy {accuracy:.3f}"
    )

# %%
# A wrong token is refused, and the history says who changed what
# ----------------------------------------------------------------
wrong = httpx.put(
    server.url + "/v1/operating-point",
    json={"threshold": 0.0},
    headers={"Authorization": "Bearer guess"},
)
print(wrong.status_code, wrong.json()["error"])
history = httpx.get(server.url + "/v1/operating-point").json()["history"]
for change in history:
    print(change["source"], change["spec"], "->", change["thresholds"])

# %%
# The metrics
# -----------
# ``GET /metrics`` is Prometheus text: rows per answering stage, latency
# histograms, queue depths, batch sizes, the threshold in use and the
# realised Swift share over the last minute.
metrics = httpx.get(server.url + "/metrics").text
for line in metrics.splitlines():
    if line.startswith(
        ("elang_rows_answered_total", "elang_threshold", "elang_swift_ratio_window")
    ):
        print(line)
server.stop()

# %%
# The knob, as served
# -------------------
# The Swift's share the server realised at each point against the share the
# calibration data expected: the test split behaves like the dev split it
# was calibrated on.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6.4, 3.2), layout="constrained")
names = [name for name, *_ in rows]
y = np.arange(len(rows))
ax.barh(y - 0.2, [r[1] for r in rows], height=0.4, label="expected (calibration)")
ax.barh(y + 0.2, [r[2] for r in rows], height=0.4, label="served (test split)")
ax.set_yticks(y, names)
ax.set_xlabel("share of inputs the Swift answered")
ax.set_xlim(0, 1)
ax.invert_yaxis()
ax.legend(loc="lower right", fontsize="small")
plt.show()
