# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The campaign report's HTML page in a real headless Chromium: chart, filters, escaping, no console errors.

Driver: selenium with the distribution's /usr/bin/chromedriver, which comes from the same Debian source package as
/usr/bin/chromium, so the two always match. Chromium and chromedriver are installed by tools/install-chromium.sh;
without them the test is skipped, loudly. The page is opened from a file:// URL (no server); chromedriver and the
browser's DevTools endpoint listen on ephemeral ports of 127.0.0.1 only, for the duration of the test module.
A screenshot goes to .build/artifacts/report.png.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import pathlib
import shutil
import tempfile
import time
import warnings

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal, _report

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".build" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1440,1000", "--hide-scrollbars", "--force-device-scale-factor=1")
TITLE = "Fleet A - November refresh"


def _load_fleet():
    spec = importlib.util.spec_from_file_location("report_fleet", pathlib.Path(__file__).parent / "report" / "fleet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fleet = _load_fleet()


def _skip(reason):
    message = ("BROWSER TEST SKIPPED: %s. Run tools/install-chromium.sh as root (apt-get install chromium "
               "chromium-driver) to check the report page in Chromium." % reason)
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    campaign = tmp_path_factory.mktemp("campaign")
    start = datetime.datetime(2026, 11, 21, 9, 0, tzinfo=datetime.UTC)
    for i, batch in enumerate(fleet.batches()):
        _journal.append(str(campaign), batch["stage"], batch["events"], run=batch["run"],
                        now=start + datetime.timedelta(hours=24 if i else 0, minutes=7 * i))
    report = _report.build(str(campaign), TITLE)
    rendered, files = _report.render(report, str(campaign / "report"), ["html"])
    to_write, _before = _report.plan(rendered)
    _report.write(rendered, to_write, str(campaign / "report"))
    return pathlib.Path(files["html"])


@pytest.fixture(scope="module")
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            _skip("%s is not installed" % path)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _skip("the selenium package is not installed in this Python")
    profile = tempfile.mkdtemp(prefix="winfleet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=%s" % profile)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver and browser: selenium never runs Selenium Manager (which would try to download one).
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _visible(driver):
    return driver.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('#devices tbody tr[data-status]'),"
        " function (tr) { return !tr.hidden && tr.offsetParent !== null; }).length;")


def _wait_for(driver, expected, timeout=5.0):
    """Poll the number of visible rows until it is ``expected`` (the filter runs on input events)."""
    deadline = time.monotonic() + timeout
    count = _visible(driver)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        count = _visible(driver)
    return count


def test_report_page_in_chromium(browser, report_html):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    want = fleet.expected()
    driver = browser
    driver.get(report_html.as_uri())
    assert driver.title == TITLE, "the XSS-ish device name must not run (it would set the title)"

    # The chart: one bar per final state with the right counts, bar length proportional to the count.
    bars = driver.find_elements(By.CSS_SELECTOR, "svg#status-chart g.bar")
    got = {item.get_attribute("data-status"): int(item.get_attribute("data-count")) for item in bars}
    assert got == want["by_status"]
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#status-chart rect.fill")) == len(want["by_status"])
    widths = {item.get_attribute("data-status"):
              float(item.find_element(By.CSS_SELECTOR, "rect.fill").get_attribute("width")) for item in bars}
    assert widths["Ready for user"] == 520 and widths["Active"] == round(520 * 2 / 17)
    red = {item.get_attribute("data-status") for item in bars if item.get_attribute("data-class") == "failed"}
    assert red == {"Not collected", "Not in upload file", "Device claimed by another organization",
                   "Hardware hash not valid", "Licence missing"}
    chart = driver.find_element(By.ID, "status-chart")
    assert chart.size["width"] > 500 and chart.size["height"] > 200, "the chart must actually be laid out"

    # The table and the escaping of values from the field.
    assert _visible(driver) == 30
    assert driver.find_elements(By.CSS_SELECTOR, "#devices img, #devices script") == []
    names = [td.text.split("\n")[0] for td in driver.find_elements(By.CSS_SELECTOR, "#devices tbody td:nth-child(2)")]
    assert fleet.XSS_NAME in names and fleet.FORMULA_NAME in names and "Büro-Ω-PC" in names
    assert fleet.XSS_FINDING in driver.find_element(By.ID, "devices").text

    # The text filter narrows the rows (words are ANDed, case does not matter).
    box = driver.find_element(By.ID, "filter")
    box.send_keys("host UNREACHABLE")
    assert _wait_for(driver, 2) == 2
    assert driver.find_element(By.ID, "shown").text == "2"
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("latitude")
    latitude = sum(1 for i in range(30) if fleet.MODELS[i % 4][1] == "Latitude 5440"
                   and fleet.devices()[i][3] != "collect")
    assert _wait_for(driver, latitude) == latitude
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("no-such-device")
    assert _wait_for(driver, 0) == 0
    assert driver.find_element(By.ID, "no-match").is_displayed()
    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    assert _wait_for(driver, 30) == 30

    # The status filter: one final state, then every failed device, then combined with the text filter.
    status = Select(driver.find_element(By.ID, "status-filter"))
    status.select_by_value("Registration pending")
    assert _wait_for(driver, 2) == 2
    status.select_by_value("class:failed")
    assert _wait_for(driver, want["failed"]) == want["failed"]
    serials = sorted(td.text for td in driver.find_elements(By.CSS_SELECTOR, "#devices tbody td.serial")
                     if td.is_displayed())
    assert serials == want["failed_serials"]
    box.send_keys("unreachable")
    assert _wait_for(driver, 2) == 2
    box.send_keys(Keys.ESCAPE)  # clears both filters
    assert _wait_for(driver, 30) == 30 and status.first_selected_option.get_attribute("value") == ""

    # Clicking a bar filters by its final state; clicking it again clears the filter.
    not_collected = next(b for b in driver.find_elements(By.CSS_SELECTOR, "svg#status-chart g.bar")
                         if b.get_attribute("data-status") == "Not collected")
    not_collected.click()
    assert _wait_for(driver, 3) == 3
    assert status.first_selected_option.get_attribute("value") == "Not collected"
    not_collected.click()
    assert _wait_for(driver, 30) == 30

    # No console error (a CSP violation, a script error, a failed load would all be SEVERE).
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []

    ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()  # no hover effect
    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(1440, min(max(height, 800), 4000))
    shot = ARTIFACTS / "report.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 20000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
