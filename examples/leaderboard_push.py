"""A leaderboard push: every candidate bagged on 5 folds, a stack layer, out-of-fold scores."""

from sklearn.datasets import load_breast_cancer
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

import hyperflax as hx

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)

clf = hx.automl.TabularClassifier(presets="best", time_limit=30, seed=0).fit(X_train, y_train)
columns = ["model", "validation_score", "fold_score_mean", "fold_score_std", "ensemble_weight"]
print(clf.leaderboard()[columns].head())
print("stack layer:", clf.stack_check_)
oof = clf.oof_predictions()  # each training row predicted by models that never trained on it
print("out-of-fold log loss", clf.validation_score_)
print("test log loss", log_loss(y_test, clf.predict_proba(X_test)))
