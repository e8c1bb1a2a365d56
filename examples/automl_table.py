"""AutoML on a table: a time-boxed search over model families, then an ensemble (the README's)."""

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import hyperflax as hx

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)

clf = hx.automl.TabularClassifier(time_limit=30, seed=0).fit(X_train, y_train)
print(clf.leaderboard()[["model", "validation_score", "ensemble_weight"]].head())
print("test accuracy", clf.score(X_test, y_test))
clf.save("breast_cancer_model")  # hx.automl.load("breast_cancer_model") in another process
