"""scikit-learn's common checks over every public estimator."""

from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from elang_sk import EnergyRouter, JointClassifier

ESTIMATORS = [
    EnergyRouter(),
    EnergyRouter(score="softmax", head=False),
    EnergyRouter(head=True),
    JointClassifier(LogisticRegression(), DecisionTreeClassifier(random_state=0)),
    JointClassifier(
        LogisticRegression(),
        DecisionTreeClassifier(random_state=0),
        router=EnergyRouter(score="entropy"),
        threshold=0.0,
    ),
]


# EnergyRouter's ``score`` parameter (the routing score component, a name fixed by
# the public API) shadows the ``score`` method that these checks call on any
# estimator. The router is not a predictor and has no ``score`` method to offer.
SCORE_PARAMETER_CHECKS = {
    check: "EnergyRouter.score is the routing-score parameter, not a method"
    for check in (
        "check_fit_score_takes_y",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
    )
}


def _expected_failed_checks(estimator):
    return SCORE_PARAMETER_CHECKS if isinstance(estimator, EnergyRouter) else {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    """Each estimator passes scikit-learn's common estimator checks."""
    check(estimator)
