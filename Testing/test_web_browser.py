"""The reading station end to end in a real browser: Debian's Chromium driven by Selenium (chromium-driver).

Each test starts its own ``vcfdiagnosis serve`` on a free loopback port with a throw-away work folder, and stops it
by PID. Screenshots of every step are saved under ``build/test-artifacts/web/``. Without Chromium and its driver
the tests are SKIPPED (the reason is in the summary); ``.ci/run`` installs them with apt, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("trame_slicer", reason="the [web] extra (trame-slicer) is not installed: browser tests SKIPPED")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: browser tests SKIPPED")

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from servers import stop_by_pid, wait_until_answering  # noqa: E402

from VCFDiagnosisLib.analysis.results import read_results_tsv  # noqa: E402
from VCFDiagnosisLib.web.server import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("Chromium and chromium-driver are not installed (apt-get install chromium chromium-driver): "
                "browser tests SKIPPED", allow_module_level=True)
SERVER_START_S = 90
WAIT_S = 60


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "VCFDiagnosisLib.app.cli", *args]


@pytest.fixture
def station(tmp_path):
    """Start ``vcfdiagnosis serve`` on a free loopback port; yield (url, work folder); stop it by PID."""
    port, work = free_port(), tmp_path / "work"
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(_cli("serve", "--port", str(port), "--work", str(work), "--data", str(data),
                                   "--upload-limit-mb", "1"), stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answering(url, server, tmp_path / "server.log", SERVER_START_S, "the station")
        yield url, work
    finally:
        stop_by_pid(server, 20)
        log.close()


@pytest.fixture
def browser(tmp_path):
    """Return headless Chromium under Selenium (closed network: background connections off)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1500,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as error:
        pytest.fail(f"Chromium did not start under chromedriver: {error.msg}")
    yield driver
    driver.quit()


def _shot(driver, name: str) -> Path:
    """Save a screenshot of the page as a test artifact; return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _wait(driver, condition, seconds: float = WAIT_S):
    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(condition)


def _click(driver, element_id: str) -> None:
    _wait(driver, ec.element_to_be_clickable((By.ID, element_id))).click()


def _text_of(driver, element_id: str) -> str:
    return _wait(driver, ec.visibility_of_element_located((By.ID, element_id))).text


def _roi_voxels(driver) -> int:
    return int(_text_of(driver, "vcf-roi-voxels").split()[1])


def test_synthetic_patient_paint_apply_matches_the_cli(station, browser, tmp_path):
    """Load the synthetic patient, paint onto its ROI in a slice view, Apply, read P_combined from the page, and
    compare with ``vcfdiagnosis run`` on the same DWI, spectrum and the ROI as painted (exported by the page)."""
    url, work = station
    browser.get(url)
    _click(browser, "vcf-synthetic")
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "vcf-b-label"), "b = 0 s/mm2"))
    time.sleep(1.5)  # the first images arrive
    _shot(browser, "1-synthetic-patient")
    before = _roi_voxels(browser)

    _click(browser, "vcf-tool-roi")
    paint = _wait(browser, ec.element_to_be_clickable((By.CSS_SELECTOR, "button:not([id]):has(i.mdi-brush)")))
    paint.click()
    view = _wait(browser, ec.visibility_of_element_located((By.CSS_SELECTOR, "main img.image-display-area")))
    stroke = ActionChains(browser).move_to_element(view).click_and_hold()
    for _ in range(4):  # a short stroke across the lesion's edge (the default brush: a sphere, 5 % of the view)
        stroke = stroke.move_by_offset(3, 2).pause(0.05)
    stroke.release().perform()
    time.sleep(1.0)
    _shot(browser, "2-painted")
    _click(browser, "vcf-tool-case")
    _click(browser, "vcf-count-roi")
    _wait(browser, lambda d: _roi_voxels(d) > before)
    painted = _roi_voxels(browser)

    _click(browser, "vcf-tool-apply")
    _click(browser, "vcf-apply")
    p_combined = _text_of(browser, "vcf-p-combined-0")
    prediction = _text_of(browser, "vcf-prediction-0")
    _shot(browser, "3-applied")
    assert "research use only" in _text_of(browser, "vcf-note").lower()

    _click(browser, "vcf-vcf-download-pdf")  # the page writes the case folder (with the ROI) under its work folder
    marker = _wait(browser, lambda d: next(iter(work.glob("exports/*/[!.]*/case.json")), None))  # not staging
    roi = marker.parent / "roi.seg.nrrd"
    case = next(work.glob("synthetic/*/*/truth.json")).parent
    out = tmp_path / "cli"
    done = subprocess.run(_cli("run", "--dwi", str(case / "dwi"), "--roi", str(roi), "--spectrum",
                               str(next(case.glob("mrs/*.rda"))), "--out", str(out), "--no-report"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    row = read_results_tsv(out / "results.tsv")[0]
    assert row["roi_voxels"] == painted
    assert p_combined == f"{row['P_combined']:.3f}"
    assert row["prediction"] in prediction
    page_rows = read_results_tsv(roi.parent / "results.tsv")
    assert page_rows[0]["P_combined"] == pytest.approx(row["P_combined"], rel=1e-9)


def test_bad_upload_shows_a_clear_error_and_the_page_stays_usable(station, browser, tmp_path):
    """A file that is not a DWI: the page names it and the problem; an upload over the cap is refused in the page;
    then the synthetic patient still opens."""
    url, _ = station
    garbage = tmp_path / "dwi.nii.gz"
    garbage.write_bytes(b"this is not a NIfTI image")
    browser.get(url)
    upload = _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "input#vcf-upload-dwi[type=file]")))
    upload.send_keys(str(garbage))
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "vcf-uploaded-dwi"), "1 file(s)"))
    _click(browser, "vcf-open-uploads")
    message = _text_of(browser, "vcf-error")
    _shot(browser, "4-bad-upload")
    assert "dwi.nii.gz" in message
    big = tmp_path / "roi.seg.nrrd"
    big.write_bytes(b"0" * 1_500_000)  # the server runs with --upload-limit-mb 1
    browser.find_element(By.CSS_SELECTOR, "input#vcf-upload-roi[type=file]").send_keys(str(big))
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "vcf-error"), "larger than the limit of 1 MB"))
    _shot(browser, "5-upload-over-the-cap")
    _click(browser, "vcf-synthetic")
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "vcf-b-label"), "b = 0 s/mm2"))
    assert not browser.find_elements(By.ID, "vcf-error")
    _shot(browser, "6-usable-after-errors")
    _click(browser, "vcf-tool-apply")
    _click(browser, "vcf-apply")
    assert float(_text_of(browser, "vcf-p-combined-0")) > 0.5  # the synthetic patient is metastatic
    time.sleep(1.0)
    _shot(browser, "reading-station")  # the README's screenshot (Resources/Screenshots/reading-station.png)


def test_another_site_or_host_name_cannot_reach_the_station(station):
    """A page of another site (its Origin) or a foreign host name (DNS rebinding) gets 403; the page itself works."""
    url, _ = station
    port = url.rsplit(":", 1)[1].strip("/")

    def status(headers: dict) -> int:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status({}) == 200
    assert status({"Origin": f"http://127.0.0.1:{port}"}) == 200
    assert status({"Origin": "http://evil.example"}) == 403
    assert status({"Host": f"evil.example:{port}"}) == 403
    handshake = {"Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
                 "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    request = urllib.request.Request(url + "ws", headers=handshake)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
