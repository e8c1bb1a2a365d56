import re

import pytest
from export_models import edit_manifest, rehash, truncate

from hyperflax.export import ArtifactError, load_model


def test_truncated_weights_fail_the_checksum(artifact):
    truncate(artifact / "arrays.npz")
    with pytest.raises(ArtifactError, match=r"arrays.npz.*sha256 mismatch"):
        load_model(artifact)


def test_flipped_byte_in_the_program_fails_the_checksum(artifact):
    program = bytearray((artifact / "program.jaxexport").read_bytes())
    program[len(program) // 2] ^= 0xFF
    (artifact / "program.jaxexport").write_bytes(program)
    with pytest.raises(ArtifactError, match=r"program.jaxexport.*sha256 mismatch"):
        load_model(artifact)


def test_edited_mlflow_file_fails_the_checksum(artifact):
    (artifact / "requirements.txt").write_text("evil-package\n")
    with pytest.raises(ArtifactError, match=r"requirements.txt.*sha256 mismatch"):
        load_model(artifact)


def test_missing_listed_file_is_reported(artifact):
    (artifact / "program.jaxexport").unlink()
    with pytest.raises(ArtifactError, match=r"program.jaxexport.*missing"):
        load_model(artifact)


def test_deleted_manifest_is_not_an_artifact(artifact):
    (artifact / "hyperflax.json").unlink()
    with pytest.raises(ArtifactError, match=re.escape(f"'{artifact}': no hyperflax.json")):
        load_model(artifact)


def test_truncated_manifest_is_not_valid_json(artifact):
    truncate(artifact / "hyperflax.json")
    with pytest.raises(ArtifactError, match=r"not valid JSON"):
        load_model(artifact)


def test_format_version_from_the_future_asks_for_an_upgrade(artifact):
    edit_manifest(artifact, format_version=99)
    with pytest.raises(ArtifactError, match=r"newer hyperflax.*upgrade"):
        load_model(artifact)


@pytest.mark.parametrize("version", [0, "1", None, True])
def test_invalid_format_version_is_rejected(artifact, version):
    edit_manifest(artifact, format_version=version)
    with pytest.raises(ArtifactError, match=r"invalid format_version"):
        load_model(artifact)


def test_foreign_directory_is_not_an_artifact(tmp_path):
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(ArtifactError, match=r"no hyperflax.json: not a hyperflax artifact"):
        load_model(tmp_path)


def test_foreign_json_is_not_an_artifact(tmp_path):
    (tmp_path / "hyperflax.json").write_text('{"format": "something else"}')
    with pytest.raises(ArtifactError, match=r"'format' is not 'hyperflax.export'"):
        load_model(tmp_path)


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(ArtifactError, match=r"not an existing directory"):
        load_model(tmp_path / "nowhere")


def test_file_names_outside_the_artifact_are_rejected(artifact):
    edit_manifest(artifact, files={"../copy/MLmodel": "0" * 64})
    with pytest.raises(ArtifactError, match=r"outside the artifact"):
        load_model(artifact)


def test_truncated_program_with_a_matching_checksum_does_not_deserialize(artifact):
    truncate(artifact / "program.jaxexport")
    rehash(artifact, "program.jaxexport")
    with pytest.raises(ArtifactError, match=r"program.jaxexport.*cannot deserialize"):
        load_model(artifact)
