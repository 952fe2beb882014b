"""scikit-learn's common checks over every public estimator."""

from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from elang_sk import (
    CascadeClassifier,
    DeferralRouter,
    EnergyRouter,
    JointClassifier,
    ThresholdSelector,
)

ESTIMATORS = [
    EnergyRouter(),
    EnergyRouter(score_func="softmax", head=False),
    EnergyRouter(head=True),
    JointClassifier(LogisticRegression(), DecisionTreeClassifier(random_state=0)),
    JointClassifier(
        LogisticRegression(),
        DecisionTreeClassifier(random_state=0),
        router=EnergyRouter(score_func="entropy"),
        threshold=0.0,
    ),
    DeferralRouter(),
    CascadeClassifier(
        [
            ("lr", LogisticRegression(C=0.1)),
            ("lr2", LogisticRegression()),
            ("tree", DecisionTreeClassifier(random_state=0)),
        ]
    ),
    CascadeClassifier(
        [
            ("lr", LogisticRegression(C=0.1)),
            ("lr2", LogisticRegression()),
            ("tree", DecisionTreeClassifier(random_state=0)),
        ],
        routers=["entropy", DeferralRouter()],
        thresholds=ThresholdSelector("match_super", tol=0.01),
        cv=2,
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    """Each estimator passes scikit-learn's common checks, none expected to fail."""
    check(estimator)
