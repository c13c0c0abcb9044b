"""Every supervised process writes its log file: its output, masked line by line, rotated at
a size with a fixed number of old files; real child processes through the real supervisor."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from bot.log_files import MAX_LINE_CHARS, log_files, masked_lines
from bot.processes import ProcessFailed, ProcessSpec, Supervisor


def _spec(tmp_path: Path, code: str, name: str = "child") -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-c", code],
        health_url="http://127.0.0.1:9/never",
        log_path=tmp_path / "log" / f"{name}.log",
        startup_seconds=30.0,
    )


def _run_to_end(supervisor: Supervisor, spec: ProcessSpec, *, echo: bool = False) -> None:
    supervisor.start(spec, echo=echo)
    deadline = time.monotonic() + 30
    while supervisor.first_exited() is None:
        assert time.monotonic() < deadline, f"{spec.name} did not finish"
        time.sleep(0.05)
    supervisor.stop(spec.name)  # waits until its last lines are in the file


def test_output_is_rotated_at_the_size_with_a_fixed_number_of_old_files(tmp_path: Path) -> None:
    supervisor = Supervisor(log_max_bytes=4096, log_backups=2)
    # 200 lines of 100 bytes: 20 kB, more than the three files hold
    code = "for i in range(200): print(f'line {i:04d} ' + 'x' * 89)"
    spec = _spec(tmp_path, code)
    _run_to_end(supervisor, spec)
    files = log_files(spec.log_path)
    assert [f.name for f in files] == ["child.log", "child.log.1", "child.log.2"]
    assert all(f.stat().st_size <= 4096 for f in files)
    assert files[0].read_text().splitlines()[-1].startswith("line 0199 ")
    # what did not fit in the old files is gone: the disk is capped
    kept = "".join(f.read_text() for f in files)
    assert "line 0000 " not in kept
    assert len(kept.splitlines()) < 200


def test_a_childs_output_is_masked_in_its_file_and_on_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = (
        "import sys\n"
        "print('sms from +14155550100 text=my card is 4111 1111 1111 1111')\n"
        'print(\'{"event": "x", "body": "hello", "email": "a@b.example"}\', '
        "file=sys.stderr)\n"
    )
    spec = _spec(tmp_path, code)
    _run_to_end(Supervisor(), spec, echo=True)
    written = spec.log_path.read_text()
    assert "4155550100" not in written and "4111" not in written and "hello" not in written
    assert "sms from [phone] text=[text]" in written
    assert '"body": "[text]"' in written
    assert capsys.readouterr().err.splitlines() == written.splitlines()


def test_a_restarted_process_appends_to_its_file(tmp_path: Path) -> None:
    supervisor = Supervisor()
    _run_to_end(supervisor, _spec(tmp_path, "print('first run')"))
    spec = _spec(tmp_path, "print('second run')")
    _run_to_end(supervisor, spec)
    assert spec.log_path.read_text().splitlines() == ["first run", "second run"]


def test_a_process_that_fails_at_start_is_reported_with_its_masked_last_lines(
    tmp_path: Path,
) -> None:
    code = "import sys; print('cannot reach jane@example.com'); sys.exit(3)"
    supervisor = Supervisor()
    spec = _spec(tmp_path, code)
    supervisor.start(spec)
    with pytest.raises(ProcessFailed) as failure:
        supervisor.wait_healthy(spec)
    supervisor.stop_all()
    assert "exited with code 3" in str(failure.value)
    assert "cannot reach [email]" in str(failure.value)


def test_an_overlong_line_is_cut_and_the_next_line_kept() -> None:
    long_line = b"+14155550100 " + b"y" * (10 * MAX_LINE_CHARS) + b"\n"
    lines = list(masked_lines(io.BytesIO(long_line + b"next\n")))
    assert len(lines) == 2
    assert lines[0].startswith("[phone] yyy")
    assert lines[0].endswith(f"[line cut at {MAX_LINE_CHARS} characters]")
    assert len(lines[0]) < MAX_LINE_CHARS + 50
    assert lines[1] == "next"


def test_invalid_utf8_and_a_last_line_without_newline_are_kept() -> None:
    assert list(masked_lines(io.BytesIO(b"caf\xe9\nend"))) == ["caf\ufffd", "end"]
