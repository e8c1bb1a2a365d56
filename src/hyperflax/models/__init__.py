"""Ready Flax NNX architectures whose hyperparameters are data where possible.

Example:
    >>> from flax import nnx
    >>> from hyperflax.models import MLP
    >>> MLP(64, 10, [128], rngs=nnx.Rngs(0)).hidden
    [128]
"""

from hyperflax.models._cnn import CNN as CNN
from hyperflax.models._convnet import Conv as Conv
from hyperflax.models._convnet import ConvNet as ConvNet
from hyperflax.models._layers import Dropout as Dropout
from hyperflax.models._layers import DropoutRate as DropoutRate
from hyperflax.models._layers import Mask as Mask
from hyperflax.models._mlp import MLP as MLP
from hyperflax.models._tabular import PeriodicEmbedding as PeriodicEmbedding
from hyperflax.models._tabular import RealMLP as RealMLP
from hyperflax.models._tabular import TabM as TabM
from hyperflax.models._tabular import smooth_clip as smooth_clip

__all__ = [
    "CNN",
    "Conv",
    "ConvNet",
    "MLP",
    "Dropout",
    "DropoutRate",
    "Mask",
    "PeriodicEmbedding",
    "RealMLP",
    "TabM",
    "smooth_clip",
]
