"""AutoML on images: Hyperband over image networks, then an ensemble (the README's)."""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hyperflax as hx

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)

clf = hx.automl.ImageClassifier(time_limit=30, presets="fast", seed=0).fit(X_train, y_train)
print(clf.leaderboard()[["model", "val_loss", "epochs", "ensemble_weight"]].head())
print("test accuracy", clf.score(X_test, y_test))
clf.save("digits_images")  # hx.automl.load("digits_images"); clf.export("exported/digits")
