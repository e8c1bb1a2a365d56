"""The error raised for a directory that is not a loadable hyperflax artifact."""

from pathlib import Path


class ArtifactError(ValueError):
    """A directory is not a valid hyperflax artifact (missing, foreign, corrupted or too new).

    Args:
        path: The artifact directory (or the file inside it) that is at fault.
        problem: What is wrong with it, in words.

    Example:
        >>> str(ArtifactError("models/digits", "no hyperflax.json"))
        "invalid hyperflax artifact 'models/digits': no hyperflax.json"
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"invalid hyperflax artifact '{path}': {problem}")
