"""Benchmark: what a reader waits for in the browser reading station (``vcfdiagnosis serve``).

For ``--repeats`` fresh servers (each on a free loopback port, stopped by PID), with Debian's Chromium under
Selenium, prints the median of:

* **start**: from launching ``vcfdiagnosis serve`` to the page answering HTTP;
* **page**: from asking for the page to its first slice-view image being drawn;
* **synthetic patient**: from the click to the b-image shown (a 128 x 128 x 10 x 8 phantom with its water-fat series written and loaded);
* **Apply**: from the click to P_combined shown (ROI fit, maps in the ROI, MRS, models, table, plots);
* **memory**: the server's resident memory after Apply (VmRSS), MB;

beside ``vcfdiagnosis run`` on the same synthetic patient (a fresh process, as a batch user would) for scale.

    python Testing/Benchmarks/bench_web_station.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "VCFDiagnosis"))
sys.path.insert(0, str(ROOT / "Testing"))
from servers import stop_by_pid, wait_until_answering  # noqa: E402

from VCFDiagnosisLib.web.server import free_port  # noqa: E402

FIRST_IMAGE_JS = ("const i = document.querySelector('main img.image-display-area');"
                  "return !!(i && i.complete && i.naturalWidth > 0);")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "VCFDiagnosisLib.app.cli", *args]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_session(folder: Path) -> dict:
    """Run one server and one browser session; return the timings (s) and memory (MB)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    server = subprocess.Popen(_cli("serve", "--port", str(port), "--work", str(folder / "work")), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1500,1000", f"--user-data-dir={folder / 'profile'}"):
        options.add_argument(flag)
    driver = None
    try:
        wait_until_answering(url, server, Path(os.devnull), 120, "the station", poll_s=0.05)
        figures = {"start": time.perf_counter() - started}
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        wait = WebDriverWait(driver, 120, poll_frequency=0.05)
        t = time.perf_counter()
        driver.get(url)
        wait.until(lambda d: d.execute_script(FIRST_IMAGE_JS))
        figures["page"] = time.perf_counter() - t
        t = time.perf_counter()
        wait.until(ec.element_to_be_clickable((By.ID, "vcf-synthetic"))).click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "vcf-b-label"), "b = 0 s/mm2"))
        figures["synthetic patient"] = time.perf_counter() - t
        wait.until(ec.element_to_be_clickable((By.ID, "vcf-tool-apply"))).click()
        t = time.perf_counter()
        wait.until(ec.element_to_be_clickable((By.ID, "vcf-apply"))).click()
        wait.until(ec.visibility_of_element_located((By.ID, "vcf-p-combined-0")))
        figures["Apply"] = time.perf_counter() - t
        figures["memory"] = _rss_mb(server.pid)
        case = next((folder / "work").glob("synthetic/*/*/truth.json")).parent
        t = time.perf_counter()
        subprocess.run(_cli("run", "--dwi", str(case / "dwi"), "--roi", str(case / "roi" / "lesion.seg.nrrd"),
                            "--spectrum", str(next(case.glob("mrs/*.rda"))), "--fat", str(case / "fat" / "echoes"),
                            "--out", str(folder / "cli")),  # the same inputs as the page's synthetic patient
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        figures["cli run"] = time.perf_counter() - t
        return figures
    finally:
        if driver is not None:
            driver.quit()
        stop_by_pid(server, 20)

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sessions = []
    for number in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
            sessions.append(one_session(Path(folder)))
        print(f"session {number + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in sessions[-1].items()), flush=True)
    print(f"\nReading station, median of {args.repeats} fresh servers (2-core machine, headless Chromium):")
    for key, unit in (("start", "s"), ("page", "s"), ("synthetic patient", "s"), ("Apply", "s"), ("memory", "MB"),
                      ("cli run", "s")):
        values = [s[key] for s in sessions]
        print(f"  {key:<18} {statistics.median(values):8.2f} {unit}   (range {min(values):.2f}-{max(values):.2f})")
    apply_s = statistics.median(s["Apply"] for s in sessions)
    cli_s = statistics.median(s["cli run"] for s in sessions)
    print(f"  Apply in the page / `vcfdiagnosis run` (fresh process, with report): {apply_s / cli_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
