"""Concurrent exports into one model base path: the export lock."""

import subprocess
import sys

from keras_hourglass.saving import export_versions
from tests.train_helpers import PROJECT_ROOT
from tests.train_helpers import program_messages
from tests.train_helpers import subprocess_environment


def test_three_concurrent_exports_each_get_a_version_or_a_clear_refusal(
    tiny_model_files, tmp_path
):
    keras_path = tiny_model_files[0]
    out = tmp_path / "exports"
    command = [
        sys.executable, "-m", "training.export", "--model", str(keras_path),
        "--out", str(out), "--no-warmup", "--no-fold-batch-norm",
    ]  # fmt: skip
    exports = [
        subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=subprocess_environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(3)
    ]
    results = [(export.wait(timeout=300), *export.communicate()) for export in exports]
    printed_versions = []
    for code, stdout, stderr in results:
        messages = program_messages(stderr)
        assert "Traceback" not in stderr, stderr[-3000:]
        if code == 0:
            version_dir = stdout.strip().splitlines()[-1]
            printed_versions.append(int(version_dir.rsplit("/", 1)[-1]))
        else:
            assert code == 2, stderr[-3000:]
            assert any("another export" in line for line in messages), messages
    assert printed_versions, results
    assert len(set(printed_versions)) == len(printed_versions), printed_versions
    # Every version a program reported is there, complete, and no temporary
    # folder is left behind.
    assert sorted(export_versions(out)) == sorted(printed_versions)
    for version in printed_versions:
        assert (out / str(version) / "saved_model.pb").is_file()
        assert (out / str(version) / "assets.extra" / "metadata.json").is_file()
    assert [path.name for path in out.iterdir() if path.name.startswith(".tmp")] == []
