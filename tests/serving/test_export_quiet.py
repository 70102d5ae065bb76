"""An export names its version folder once, never the temporary folder it
is written to first."""

import logging

from tests.serving_helpers import export_tiny_model
from tests.serving_helpers import tiny_model


def test_export_logs_no_temporary_path(tmp_path, caplog, capfd):
    caplog.set_level(logging.INFO)
    export_tiny_model(tmp_path / "export", tiny_model(n_stacks=1), warmup=False)
    logged = [record.getMessage() for record in caplog.records]
    printed = capfd.readouterr()
    assert not [line for line in logged if ".tmp-" in line], logged
    assert ".tmp-" not in printed.out + printed.err
    assert any(str(tmp_path / "export" / "1") in line for line in logged)
