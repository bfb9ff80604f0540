"""Cross-validation with the default splitter, on P rows stacked above Q rows.

scikit-learn stratifies the default splitter only for classifiers (``check_cv`` with
``is_classifier``). These estimators are not classifiers: declaring the classifier tag
would make ``check_estimator`` run classifier checks that need ``predict`` and one
(``check_supervised_y_2d``) that contradicts the 2-D ``y`` = Q sample form. So the default
splitter is an unshuffled ``KFold``, and on sorted rows its test folds hold one class;
what must hold is that the user is told what to pass instead, and that the forms which do
work keep working.
"""

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, check_cv
from test_sklearn_api import X_P, X_Q, tiny_flow, tiny_ratio

LABELS = np.r_[np.zeros(len(X_P), dtype=int), np.ones(len(X_Q), dtype=int)]
X_SORTED = np.vstack([X_P, X_Q])  # the natural stacking: every P row first
STRATIFIED = StratifiedKFold(5, shuffle=True, random_state=0)
# GridSearchCV's own follow-up to NaN scores, which the tests expect.
NAN_SCORES = "ignore:One or more of the test scores are non-finite"


def mean_match_score(estimator, X, y):
    """Minus the squared distance between the means of T(P) and Q on held-out rows.

    FlowTransport has no ``score`` (a flow is good when it carries P onto Q, which needs
    both samples), so a grid search over it needs a ``scoring``.
    """
    is_p = np.asarray(y) == estimator.classes_[0]
    if is_p.all() or not is_p.any():
        raise ValueError("a test fold of one class")
    return -float(np.sum((estimator.transform(X[is_p]).mean(0) - X[~is_p].mean(0)) ** 2))


@pytest.mark.parametrize("make", [tiny_flow, tiny_ratio])
def test_the_default_splitter_on_sorted_rows_gives_one_class_test_folds(make):
    # Why the default grid search cannot score sorted rows: the splitter scikit-learn
    # picks for these estimators. If it ever became stratified (the classifier tag), the
    # tests below would change from "names the splitter" to "succeeds".
    estimator = make()
    assert not is_classifier(estimator)
    cv = check_cv(None, LABELS, classifier=is_classifier(estimator))
    assert isinstance(cv, KFold) and not cv.shuffle
    one_class = [len(np.unique(LABELS[test])) == 1 for _, test in cv.split(X_SORTED, LABELS)]
    assert sum(one_class) == 4  # 60 + 60 rows in folds of 24: only the middle one is mixed


@pytest.mark.filterwarnings(NAN_SCORES)
def test_density_ratio_grid_search_with_default_cv_on_sorted_rows_names_the_splitter():
    search = GridSearchCV(tiny_ratio(steps=5), {"hidden_layer_sizes": [(4,), (8,)]})
    # scikit-learn turns the failed scores into NaN with a warning that carries the
    # estimator's message; that message must say what to pass.
    with pytest.warns(UserWarning, match=r"pass cv=StratifiedKFold\(n_splits, shuffle=True\)"):
        search.fit(X_SORTED, LABELS)
    assert np.isnan(search.cv_results_["mean_test_score"]).all()
    # What the message says to pass works on the same rows.
    search = GridSearchCV(tiny_ratio(steps=5), {"hidden_layer_sizes": [(4,), (8,)]},
                          cv=STRATIFIED).fit(X_SORTED, LABELS)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(np.unique(scores)) == 2


def test_density_ratio_grid_search_with_default_cv_on_the_two_sample_form():
    # fit(X_p, X_q): the default KFold splits the rows of both samples alike, each fold
    # holds rows of both, and it would stay KFold with the classifier tag as well (y is
    # then "continuous-multioutput", which check_cv never stratifies).
    search = GridSearchCV(tiny_ratio(steps=5), {"hidden_layer_sizes": [(4,), (8,)]})
    scores = search.fit(X_P, X_Q).cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(np.unique(scores)) == 2
    assert isinstance(check_cv(None, X_Q, classifier=True), KFold)


@pytest.mark.filterwarnings(NAN_SCORES)
def test_flow_grid_search_needs_a_scoring_and_a_stratified_splitter_on_sorted_rows():
    grid = {"gamma": [0.0, 1.0]}
    refined = dict(refine_steps=2, classifier_warmup_steps=2, classifier_hidden_layer_sizes=(4,))
    with pytest.raises(TypeError, match="should have a 'score' method"):
        GridSearchCV(tiny_flow(), grid).fit(X_SORTED, LABELS)
    # With a scoring, the default splitter leaves it test folds of one class (NaN scores).
    with pytest.warns(UserWarning, match="a test fold of one class"):
        search = GridSearchCV(tiny_flow(**refined), grid, scoring=mean_match_score)
        search.fit(X_SORTED, LABELS)
    assert np.isnan(search.cv_results_["mean_test_score"]).all()
    search = GridSearchCV(tiny_flow(**refined), grid, scoring=mean_match_score, cv=STRATIFIED)
    scores = search.fit(X_SORTED, LABELS).cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(np.unique(scores)) == 2
