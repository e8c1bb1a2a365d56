"""Every exception hyperflax raises, in one tree under :class:`HyperflaxError`.

Example:
    >>> from hyperflax import errors
    >>> issubclass(errors.DataError, errors.FatalError), issubclass(errors.DataError, ValueError)
    (True, True)
"""

from hyperflax._errors import ArtifactError as ArtifactError
from hyperflax._errors import DataError as DataError
from hyperflax._errors import FatalError as FatalError
from hyperflax._errors import HyperflaxError as HyperflaxError
from hyperflax._errors import NonFiniteLossError as NonFiniteLossError
from hyperflax._errors import SearchFailedError as SearchFailedError
from hyperflax._errors import SearchSpaceError as SearchSpaceError
from hyperflax._errors import StorageUnavailableError as StorageUnavailableError
from hyperflax._errors import StudyMismatchError as StudyMismatchError
from hyperflax._errors import TimeLimitError as TimeLimitError

__all__ = [
    "ArtifactError",
    "DataError",
    "FatalError",
    "HyperflaxError",
    "NonFiniteLossError",
    "SearchFailedError",
    "SearchSpaceError",
    "StorageUnavailableError",
    "StudyMismatchError",
    "TimeLimitError",
]
