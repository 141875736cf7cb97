"""Renders a page in Debian's headless Chromium: the DOM and a screenshot."""
import os
import shutil
import subprocess

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium is not installed: `bash setup.sh` installs it "
                           "(apt-get install chromium)")
    return path


def render(html_path: str, screenshot: str, profile_dir: str, width: int = 1200,
           height: int = 2400) -> str:
    """Loads html_path from disk; writes a PNG screenshot; returns the DOM."""
    url = "file://" + os.path.abspath(html_path)
    common = [chromium(), *FLAGS, f"--user-data-dir={profile_dir}"]
    subprocess.run([*common, f"--window-size={width},{height}",
                    f"--screenshot={screenshot}", url],
                   check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*common, "--dump-dom", url], check=True,
                         capture_output=True, timeout=120, text=True)
    return dom.stdout
