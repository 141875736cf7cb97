"""fairgate.process_exit: what an orderly exit leaves behind, exit_now leaves too."""
import gzip
import subprocess
import sys

PROGRAM = r"""
import atexit, logging, sys, threading, time
from fairgate import process_exit
folder = sys.argv[1]
unclosed = open(folder + "/unclosed.txt", "w")
unclosed.write("written, never flushed or closed\n")
import gzip
zipped = gzip.open(folder + "/unclosed.gz", "wt")
zipped.write("compressed, never closed\n")
logging.basicConfig(filename=folder + "/log.txt", level=logging.INFO)
logging.info("logged")
atexit.register(lambda: open(folder + "/atexit.txt", "w").write("ran\n"))
def late():
    time.sleep(0.5)
    open(folder + "/thread.txt", "w").write("joined\n")
threading.Thread(target=late).start()
sys.stdout.write("buffered stdout")
process_exit.exit_now(None if sys.argv[2] == "None" else int(sys.argv[2]))
"""


def test_exit_now_keeps_what_an_orderly_exit_keeps(tmp_path):
    for code in (0, 3):
        run = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path), str(code)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == code, run.stderr
        assert run.stdout == "buffered stdout"
        assert (tmp_path / "unclosed.txt").read_text() == \
            "written, never flushed or closed\n"
        with gzip.open(tmp_path / "unclosed.gz", "rt") as f:  # its trailer written
            assert f.read() == "compressed, never closed\n"
        assert "logged" in (tmp_path / "log.txt").read_text()
        assert (tmp_path / "atexit.txt").read_text() == "ran\n"
        assert (tmp_path / "thread.txt").read_text() == "joined\n"
        for name in ("unclosed.txt", "unclosed.gz", "log.txt", "atexit.txt",
                     "thread.txt"):
            (tmp_path / name).unlink()


def test_exit_codes_are_those_of_sys_exit(tmp_path):
    for given, code in (("None", 0), ("300", 1), ("-1", 1)):
        run = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path), given],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == code, given
