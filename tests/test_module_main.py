"""``python -m dedup`` runs the same command as the installed ``dedup``."""

import subprocess
import sys
from pathlib import Path


def test_python_m_dedup_scans_and_exits_as_the_command(tmp_path: Path) -> None:
    text = "The port strike closed every terminal on the coast for a third day running today.\n"
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "b.txt").write_text(text)
    found = subprocess.run([sys.executable, "-m", "dedup", "scan", str(tmp_path), "-q"],
                           capture_output=True, text=True, timeout=300)
    assert found.returncode == 1, found.stderr  # duplicates found
    (tmp_path / "b.txt").unlink()
    alone = subprocess.run([sys.executable, "-m", "dedup", "scan", str(tmp_path), "-q"],
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr
    missing = subprocess.run([sys.executable, "-m", "dedup", "scan", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2
    assert "nope" in missing.stderr and "Traceback" not in missing.stderr
    usage = subprocess.run([sys.executable, "-m", "dedup", "--help"], capture_output=True, text=True,
                           timeout=300)
    assert usage.returncode == 0 and "python -m dedup" in usage.stdout
