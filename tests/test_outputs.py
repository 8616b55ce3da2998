"""Output files: nothing a user made is replaced unless asked, and scripts say so in one line."""

from __future__ import annotations

import pytest

from fer_video.evaluate.outputs import check_overwrite, check_overwrite_or_exit


def test_existing_outputs_are_refused_unless_overwrite(tmp_path):
    existing, missing = tmp_path / "report.md", tmp_path / "report.json"
    existing.write_text("kept")
    with pytest.raises(FileExistsError, match="report.md already exist"):
        check_overwrite([existing, missing], overwrite=False)
    check_overwrite([existing, missing], overwrite=True)
    assert existing.read_text() == "kept"


def test_scripts_exit_with_a_one_line_error_instead_of_a_traceback(tmp_path):
    existing = tmp_path / "bench.json"
    existing.write_text("{}")
    with pytest.raises(SystemExit) as stop:
        check_overwrite_or_exit([existing], overwrite=False)
    assert str(stop.value).startswith("error: ") and "--overwrite" in str(stop.value) and "\n" not in str(stop.value)
    check_overwrite_or_exit([tmp_path / "absent.json"], overwrite=False)
