"""analyze --format html: one self-contained page.

In a real headless browser (Debian's chromium and chromedriver, driven by selenium; skipped with
a message when absent, installed by .ci/run): the table has one row per layer, clicking "MACs"
sorts the rows by MACs (and again reverses them), the charts and diagram are there, and the
page made no network request (Chrome's DevTools network log, and no Content-Security-Policy
violation in the console). A screenshot is kept as a test artifact ($NETCALC_ARTIFACTS, default
.artifacts/ in the repository).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from netcalc import html_report
from netcalc.analysis import analyze_file
from netcalc.cli import cli
from netcalc.report import to_dict

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("NETCALC_ARTIFACTS", ROOT / ".artifacts"))


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


# ---------------------------------------------------------------------------
# The page as text (no browser, no matplotlib needed)
# ---------------------------------------------------------------------------

def test_memory_section_appears_when_the_report_has_one():
    report = to_dict(analyze_file(ROOT / "specs" / "lenet5.yaml"))
    assert "id=memory" not in html_report.render(report)
    report["memory"] = {"input": 4096, "params": 246824, "activations": 123456, "inference_peak": 300000,
                        "training": {"saved": 222222, "gradients": 246824, "optimizer": 493648, "total": 1209118}}
    report["totals"].update(batch=1, dtype="float32")
    page = html_report.render(report)
    section = re.search(r"<section id=memory>(.*?)</section>", page, re.S).group(1)
    assert "dtype float32, batch 1" in section
    assert "<th style=\"padding-left:0.6em\">inference peak</th><td>300,000 B</td><td>292.97 KiB</td>" in section
    assert "<th style=\"padding-left:2.0em\">optimizer</th><td>493,648 B</td>" in section
    assert section.index("training") < section.index("saved") < section.index("total")


def test_page_rows_cells_and_escaping():
    report = to_dict(analyze_file(ROOT / "specs" / "tiny_segnet.yaml"))
    report["layers"][0]["name"] = "<script>alert(1)</script>"
    page = html_report.render(report, charts={}, diagrams=[])
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    assert body.count("<tr>") == len(report["layers"])
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # exact numbers in the cells, the sort key beside them
    conv = report["layers"][1]
    assert f'<td data-v="{conv["macs"]}">{conv["macs"]:,}</td>' in body


def test_page_without_graphviz_says_how_to_get_the_diagram():
    report = to_dict(analyze_file(ROOT / "specs" / "lenet5.yaml"))
    page = html_report.render(report, charts={}, diagrams=None)
    assert "install the graphviz package" in page


def test_the_page_references_nothing_outside_itself():
    pytest.importorskip("matplotlib", reason="charts need netcalc[plot] (.ci/run installs it)")
    page = html_report.build(analyze_file(ROOT / "specs" / "tiny_segnet.yaml"))
    assert not re.search(r"""\b(?:src|href|action)\s*=\s*(?!["']?#)""", page, re.I)
    assert "url(" not in page.replace("url(#", "") and "@import" not in page
    # the only URLs are XML namespace names, which browsers never fetch
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


@pytest.mark.parametrize("spec, axes", [("audio_m5", ["rf size", "input size = 32000"]),
                                         ("video_c3d", ["rf size (D)", "input D = 16", "input H = 112"])])
def test_charts_of_1d_and_3d_networks(spec, axes):
    """The rf chart draws one line per axis when the axes differ, one when they agree."""
    pytest.importorskip("matplotlib", reason="charts need netcalc[plot] (.ci/run installs it)")
    import xml.etree.ElementTree as ET

    report = to_dict(analyze_file(ROOT / "specs" / f"{spec}.yaml"))
    charts = html_report.make_charts(report)
    assert set(charts) == {"params", "macs", "rf"}
    texts = {t.text for t in ET.fromstring(charts["rf"]).iter("{http://www.w3.org/2000/svg}text")}
    assert set(axes) <= texts, texts
    bars = {t.text for t in ET.fromstring(charts["macs"]).iter("{http://www.w3.org/2000/svg}text")}
    assert {layer["name"] for layer in report["layers"] if layer["macs"]} <= bars


def test_huge_diagrams_are_left_out_with_a_note(tmp_path):
    spec = tmp_path / "deep.yaml"  # no groups, so nothing folds: one diagram, too big to draw
    spec.write_text("input: [1, 4, 4]\nlayers:\n" + "  - relu\n" * (html_report.MAX_DIAGRAM_NODES + 5))
    diagrams = html_report.make_diagrams(analyze_file(spec))  # draws nothing, so needs no Graphviz
    assert [title for title, _ in diagrams] == ["every layer (netcalc draw)"]
    note = diagrams[0][1]
    assert "<svg" not in note and "606 nodes are too many" in note and "netcalc draw SPEC -o net.svg" in note


def test_cli_writes_the_file_and_refuses_o_with_the_table(tmp_path):
    pytest.importorskip("matplotlib", reason="charts need netcalc[plot] (.ci/run installs it)")
    out = tmp_path / "r.html"
    result = invoke("analyze", ROOT / "specs" / "lenet5.yaml", "--format", "html", "-o", out)
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text().startswith("<!DOCTYPE html>")
    result = invoke("analyze", ROOT / "specs" / "lenet5.yaml", "-o", out)
    assert result.exit_code == 2 and "--format" in result.stderr
    json_out = tmp_path / "r.json"
    assert invoke("analyze", ROOT / "specs" / "lenet5.yaml", "--format", "json", "-o", json_out).exit_code == 0
    assert json.loads(json_out.read_text())["name"] == "lenet5"


def test_without_matplotlib_html_is_a_one_line_error(tmp_path):
    import subprocess
    import sys

    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from netcalc.cli import main; sys.argv = ['netcalc', 'analyze', sys.argv[1], '--format', 'html', "
            "'-o', sys.argv[2]]; main()")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "specs" / "lenet5.yaml"), str(tmp_path / "r.html")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "netcalc[plot]" in done.stderr


# ---------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------

def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("headless Chromium or chromedriver is missing (apt-get install chromium chromium-driver; "
                    ".ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1800", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def unet_page(tmp_path_factory):
    pytest.importorskip("matplotlib", reason="charts need netcalc[plot] (.ci/run installs it)")
    path = tmp_path_factory.mktemp("html") / "unet.html"
    result = invoke("analyze", ROOT / "specs" / "unet.yaml", "--format", "html", "-o", path)
    assert result.exit_code == 0, result.output
    return path


def requests_and_console(driver):
    """The URLs the page asked for since the last call (DevTools network events) and the
    console messages."""
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            requests.append(message["params"].get("request", {}).get("url") or message["params"].get("url"))
    return requests, [entry["message"] for entry in driver.get_log("browser")]


def test_in_a_browser_sorting_by_macs_reorders_rows_and_nothing_is_fetched(browser, unet_page):
    from selenium.webdriver.common.by import By

    driver = browser
    report = to_dict(analyze_file(ROOT / "specs" / "unet.yaml"))
    names = [layer["name"] for layer in report["layers"]]
    macs = {layer["name"]: layer["macs"] for layer in report["layers"]}
    requests_and_console(driver)  # start from empty logs
    url = unet_page.resolve().as_uri()
    driver.get(url)

    def rows():
        return [row.find_elements(By.TAG_NAME, "td")[1].text
                for row in driver.find_elements(By.CSS_SELECTOR, "#layers tbody tr")]

    assert rows() == names  # one row per layer, in execution order
    header = driver.find_element(By.XPATH, "//table[@id='layers']//th[starts-with(normalize-space(.), 'MACs')]")
    header.click()
    by_macs = rows()
    assert by_macs != names and sorted(by_macs) == sorted(names)
    values = [macs[name] for name in by_macs]
    assert values == sorted(values, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("document.getElementById('table').scrollIntoView()")
    assert driver.save_screenshot(str(ARTIFACTS / "unet_report_sorted_by_macs.png"))
    header.click()
    values = [macs[name] for name in rows()]
    assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
    driver.find_element(By.XPATH, "//table[@id='layers']//th[normalize-space(.)='#']").click()
    assert rows() == names

    # charts and diagram are drawn (inline SVG with content)
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) == 3 and all(c.size["width"] > 300 and c.size["height"] > 150 for c in charts)
    assert driver.find_elements(By.CSS_SELECTOR, ".diagram svg g.node")

    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(ARTIFACTS / "unet_report.png"))

    requests, console = requests_and_console(driver)
    assert requests == [url], requests  # the page itself, nothing else
    assert not [m for m in console if "Content Security Policy" in m or "net::" in m], console


def test_the_request_check_is_not_blind(browser, unet_page, tmp_path):
    """The same checks catch a page that tries to fetch something: the attempt shows in the
    network log with or without the page's CSP (which blocks it and says so in the console), so
    the check above sees attempts, not only requests that got through. (The address is the
    discard port on this machine's loopback.)"""
    page = unet_page.read_text()
    probe = '<img src="http://127.0.0.1:9/probe.png">'
    open_page = tmp_path / "open.html"
    open_page.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
                         .replace("<body>", "<body>" + probe, 1))
    requests_and_console(browser)
    browser.get(open_page.as_uri())
    requests, _ = requests_and_console(browser)
    assert "http://127.0.0.1:9/probe.png" in requests
    guarded = tmp_path / "guarded.html"
    guarded.write_text(page.replace("<body>", "<body>" + probe, 1))
    browser.get(guarded.as_uri())
    requests, console = requests_and_console(browser)
    assert "http://127.0.0.1:9/probe.png" in requests
    assert any("Content Security Policy" in m for m in console), console
