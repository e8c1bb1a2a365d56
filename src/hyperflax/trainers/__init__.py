"""The fast training core: Trainer, losses, metrics, callbacks, checkpoints, compile tools.

Example:
    >>> import optax
    >>> from flax import nnx
    >>> from hyperflax.models import MLP
    >>> from hyperflax.trainers import Trainer
    >>> trainer = Trainer(MLP(4, 2, [8], rngs=nnx.Rngs(0)), optax.adam(1e-3), "cross_entropy")
"""

from hyperflax._errors import DataError as DataError
from hyperflax._errors import NonFiniteLossError as NonFiniteLossError
from hyperflax.trainers._callbacks import BestCheckpoint as BestCheckpoint
from hyperflax.trainers._callbacks import Callback as Callback
from hyperflax.trainers._callbacks import EarlyStopping as EarlyStopping
from hyperflax.trainers._callbacks import History as History
from hyperflax.trainers._compilation import CompilationCounter as CompilationCounter
from hyperflax.trainers._compilation import enable_compilation_cache as enable_compilation_cache
from hyperflax.trainers._labels import encode_labels as encode_labels
from hyperflax.trainers._losses import LOSSES as LOSSES
from hyperflax.trainers._metrics import METRICS as METRICS
from hyperflax.trainers._population import Member as Member
from hyperflax.trainers._population import MemberResult as MemberResult
from hyperflax.trainers._population import program_key as program_key
from hyperflax.trainers._population import train_population as train_population
from hyperflax.trainers._state import assign_model_arrays as assign_model_arrays
from hyperflax.trainers._state import load_weights as load_weights
from hyperflax.trainers._state import model_arrays as model_arrays
from hyperflax.trainers._state import save_weights as save_weights
from hyperflax.trainers._trainer import Trainer as Trainer
from hyperflax.trainers._validation import split_validation as split_validation

__all__ = [
    "LOSSES",
    "METRICS",
    "BestCheckpoint",
    "Callback",
    "DataError",
    "CompilationCounter",
    "EarlyStopping",
    "History",
    "Member",
    "MemberResult",
    "NonFiniteLossError",
    "Trainer",
    "assign_model_arrays",
    "enable_compilation_cache",
    "encode_labels",
    "load_weights",
    "model_arrays",
    "program_key",
    "save_weights",
    "split_validation",
    "train_population",
]
