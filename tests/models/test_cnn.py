import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.datasets import load_digits

from hyperflax.models import CNN
from hyperflax.trainers import Trainer


def test_cnn_learns_digits_images():
    data = load_digits()
    x = (data.images[:256, :, :, None] / 16.0).astype(np.float32)
    y = data.target[:256]
    model = CNN(1, 10, channels=(8, 16), dropout=0.1, rngs=nnx.Rngs(0))
    trainer = Trainer(model, optax.adam(3e-2), "cross_entropy", ["accuracy"])
    history = trainer.fit(x, y, epochs=20, batch_size=32)
    # Final/first loss over seeds 0-7: 0.20-0.37 at 20 epochs (0.56-0.91 at 8 epochs, where the
    # old bound of 0.8 failed for 3 of 8 seeds); 0.6 holds with a margin of 0.23.
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert trainer.predict(x[:5], batch_size=5).shape == (5, 10)


def test_cnn_rejects_empty_channels():
    with pytest.raises(ValueError, match="`channels`"):
        CNN(1, 10, channels=(), rngs=nnx.Rngs(0))
