"""The HTML report in a real browser (headless Chromium driven by Selenium): what a
reviewer sees, that article text cannot run as script, and that the filters work.

Skipped, with the reason, only where no Chromium can be had; never in CI (CI=true),
where ``.ci/run`` installs it.
"""

import json
import os
import shutil
import time

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from dedup.cli import main
from dedup.results import Group, Location, Pair, ScanResult
from dedup.corpus import DocumentInfo
from dedup.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
HOSTILE = ("<script>document.title='pwned'; window.pwned = 1;</script> Fish & chips \"quoted\" 'single' "
           "</textarea><img src=x onerror=\"window.pwned=2\"> costs council more than forecast this year.")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI must have chromium and chromedriver (.ci/run installs them)")
    pytest.skip("no headless Chromium here (apt-get install chromium chromium-driver)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1400", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _report(folder, target, *extra):
    res = CliRunner().invoke(main, ["scan", str(folder), "--format", "html", "-o", str(target), *extra])
    assert res.exit_code == 1, res.output
    data = json.loads(CliRunner().invoke(main, ["scan", str(folder), "--format", "json", *extra]).stdout)
    return data


def _counts(driver):
    return (len(driver.find_elements("css selector", "article.group")),
            len(driver.find_elements("css selector", "div.pair")))


def test_fixtures_report_in_chromium(browser, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    (corpus / "hostile-a.txt").write_text(f"Opening words of one page here.\n\n{HOSTILE}\n", encoding="utf-8")
    (corpus / "hostile-b.txt").write_text(f"Another page opens quite differently.\n\n{HOSTILE} Really.\n",
                                          encoding="utf-8")
    page = tmp_path / "report.html"
    data = _report(corpus, page)
    raw = page.read_text(encoding="utf-8")
    assert "<script>document.title" not in raw and "</textarea><img" not in raw  # escaped in the file
    assert "http://" not in raw.replace("http://www.w3.org/2000/svg", "") and "https://" not in raw

    browser.get(page.as_uri())
    assert browser.title == "dedup scan"
    assert browser.execute_script("return window.pwned") is None  # the article's script never ran
    assert _counts(browser) == (len(data["groups"]), len(data["pairs"]))
    sides = [e.text for e in browser.find_elements("css selector", ".side")]
    assert any("<script>document.title='pwned'; window.pwned = 1;</script>" in t and "</textarea><img" in t
               and "Fish & chips \"quoted\" 'single'" in t for t in sides)
    assert browser.find_element("id", "sum-pairs").text == str(len(data["pairs"]))
    assert browser.find_elements("css selector", "#histogram line.threshold")
    # Differing words are marked on both sides.
    assert "shut" in [e.text for e in browser.find_elements("css selector", ".side.b ins")]
    assert browser.get_screenshot_as_png()[:8] == b"\x89PNG\r\n\x1a\n"

    # The slider hides pairs below it (and groups left without pairs).
    browser.execute_script("const s = document.getElementById('min-sim'); s.value = '0.8';"
                           "s.dispatchEvent(new Event('input', {bubbles: true}));")
    high = [p for p in data["pairs"] if p["similarity"] >= 0.8]
    assert _counts(browser)[1] == len(high) < len(data["pairs"])
    # The kind filter: paragraphs only.
    browser.execute_script("const b = document.querySelector('#kinds input[value=document]'); b.click();")
    assert {e.get_attribute("data-kind") for e in browser.find_elements("css selector", "div.pair")} == {"paragraph"}
    assert _counts(browser)[1] == sum(1 for p in high if p["kind"] == "paragraph")


def test_ten_thousand_pairs_open_lazily(browser, tmp_path):
    docs, pairs, groups = [], [], []
    for g in range(5000):
        a = Location(f"site/page-{g}.txt", 0, 0, 80, f"The council agreed plan number {g} for the harbour today.")
        b = Location(f"site/copy-{g}.txt", 0, 0, 80, f"The council approved plan number {g} for the harbour today.")
        c = Location(f"site/more-{g}.txt", 1, 90, 170, f"The council approved plan number {g} for the port today.")
        docs += [DocumentInfo(loc.path, 200, 2) for loc in (a, b, c)]
        pairs += [Pair("paragraph", 0.6, (0.7, 0.7), 0.6, a, b), Pair("paragraph", 0.5, (0.6, 0.6), 0.5, b, c)]
        groups.append(Group("paragraph", a, (a, b, c)))
    result = ScanResult({"threshold": 0.3, "doc_threshold": 0.3}, docs, pairs, groups)
    page = tmp_path / "big.html"
    started = time.perf_counter()
    with open(page, "w", encoding="utf-8") as out:
        write_report(result, "html", out)
    written = time.perf_counter() - started
    started = time.perf_counter()
    browser.get(page.as_uri())
    groups_now, _ = _counts(browser)
    opened = time.perf_counter() - started
    print(f"10k pairs: written in {written:.2f} s, {page.stat().st_size / 1e6:.1f} MB, opened in {opened:.2f} s")
    assert 0 < groups_now < 200  # a screenful, not all 5,000
    assert browser.find_element("id", "shown").text == "5000 groups, 10000 pairs shown"
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    time.sleep(0.3)
    assert _counts(browser)[0] > groups_now  # more groups built as the reader scrolls


def test_check_writes_a_verdict_page(browser, tmp_path):
    db = tmp_path / "i.dedup"
    runner = CliRunner()
    news = str(FIXTURES / "news")  # ids relative to it (--base)
    assert runner.invoke(main, ["index", "add", news + "/harbour-bridge.txt", "--base", news, "--db", str(db)]).exit_code == 0
    page = tmp_path / "check.html"
    res = runner.invoke(main, ["check", news, "--base", news, "--db", str(db), "--format", "html", "-o", str(page)])
    assert res.exit_code == 1, res.output
    browser.get(page.as_uri())
    rows = _verdict_rows(browser)
    assert "action" not in rows[0]  # a check decides nothing: no empty action column
    verdicts = {r["document"]: r for r in rows}
    assert verdicts["reprint-harbour-bridge.txt"]["verdict"] == "duplicate"
    assert verdicts["library-reopens.txt"]["verdict"] == "new"
    assert verdicts["library-reopens.txt"]["similarity"] == ""  # no match, no score
    assert verdicts["port-strike.txt"]["verdict"] == "partly seen"
    reprint = verdicts["reprint-harbour-bridge.txt"]
    assert reprint["matched"] == "harbour-bridge.txt" and float(reprint["similarity"]) > 0.85
    browser.set_window_size(640, 1400)  # a narrow window: words wrap whole, never mid-word ('acti|on')
    try:
        assert _lines_of(browser, "table.verdicts th, table.verdicts td.verdict") == {1}
    finally:
        browser.set_window_size(1280, 1400)
    # The stored text (side a) beside the checked one (side b), differences marked.
    assert "shut" in [e.text for e in browser.find_elements("css selector", ".side.b ins")]
    assert "close" in [e.text for e in browser.find_elements("css selector", ".side.a del")]
    # Each passage and group member says which it is (s23 audit of #12: the page did not).
    wheres = {side: [e.text for e in browser.find_elements("css selector", f".side.{side} .where")] for side in "ab"}
    assert wheres["a"] and all(w.startswith("stored: ") for w in wheres["a"]), wheres
    assert wheres["b"] and all(w.startswith("incoming: ") for w in wheres["b"]), wheres
    members = [e.text for e in browser.find_elements("css selector", "ul.members .loc")]
    assert any(m.startswith("stored: harbour-bridge.txt") for m in members), members
    assert any(m.startswith("incoming: reprint-harbour-bridge.txt") for m in members), members


def test_an_add_page_has_its_action_column(browser, tmp_path):
    news = str(FIXTURES / "news")
    page = tmp_path / "add.html"
    res = CliRunner().invoke(main, ["index", "add", news, "--base", news, "--db", str(tmp_path / "i.dedup"),
                                    "--format", "html", "-o", str(page)])
    assert res.exit_code == 1, res.output  # the reprint is rejected: duplicates found
    browser.get(page.as_uri())
    actions = {r["document"]: r["action"] for r in _verdict_rows(browser)}
    assert actions["harbour-bridge.txt"] == "added" and actions["reprint-harbour-bridge.txt"] == "rejected"


def _verdict_rows(driver) -> list:
    """The verdict table as one dict a row, keyed by its column headers."""
    heads = [th.text for th in driver.find_elements("css selector", "table.verdicts th")]
    return [dict(zip(heads, [td.text for td in tr.find_elements("css selector", "td")]))
            for tr in driver.find_elements("css selector", "table.verdicts tr")[1:]]


def _lines_of(driver, selector: str) -> set:
    """How many line boxes the text of each element matching ``selector`` takes."""
    return set(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].filter((e) => e.textContent)"
        ".map((e) => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set([...r.getClientRects()].map((c) => Math.round(c.top))).size; });", selector))


def test_a_chinese_pair_is_marked_per_character(browser, tmp_path):
    """New user's N9 of session 17: each Chinese paragraph was wholly red / wholly
    green ("1 differing place"); the page marks each edited character, and joins the
    characters without the spaces a word diff puts between runs."""
    from test_report_scripts import ZH_A, ZH_B

    corpus = tmp_path / "zh"
    corpus.mkdir()
    (corpus / "zh-a.txt").write_text(ZH_A, encoding="utf-8")
    (corpus / "zh-b.txt").write_text(ZH_B, encoding="utf-8")
    page = tmp_path / "zh.html"
    _report(corpus, page, "--level", "paragraph")
    browser.get(page.as_uri())
    first = next(p for p in browser.find_elements("css selector", "div.pair") if "¶0" in p.text)
    assert "5 differing places" in first.text
    assert [e.text for e in first.find_elements("css selector", ".side.a del")] == ["数", "人员", "疏散"]
    assert [e.text for e in first.find_elements("css selector", ".side.b ins")] == ["大", "几", "队", "之", "转移"]
    side_b = first.find_element("css selector", ".side.b")
    where = side_b.find_element("css selector", ".where").text
    assert side_b.text.replace(where, "", 1).strip() == ZH_B.split("\n\n")[0]
