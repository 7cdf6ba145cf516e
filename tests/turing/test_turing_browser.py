"""A rater completes a short study in Debian's Chromium (Playwright) through a real server.

Screenshots go to the test's tmp dir; with LESIONGAN_UPDATE_SCREENSHOTS=1 the rating page and
the admin results page are also copied to docs/images/ for docs/turing.md.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from turing_helpers import live_server, make_dataset, make_synthetic

from lesiongan.turing.results import run_results
from lesiongan.turing.study import StudyConfig, run_create

DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"

pytestmark = pytest.mark.slow


def _choice(k: int) -> tuple[str, str, str]:
    """The answer given to the k-th image: alternate, confidence cycles, a diagnosis sometimes."""
    return ("synthetic" if k % 2 else "real"), str(1 + k % 5), ("melanoma" if k % 3 == 0 else "")


def test_rater_completes_a_study_in_chromium(browser, tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "ds", n_test=3, n_train=1, size=128, lesions=True)
    syn = make_synthetic(tmp_path / "syn", ds, n=3, size=128, lesions=True)
    cfg = StudyConfig(n_per_class=2, seed=0, raters=["Dr. Alice", "Dr. Bob"])
    info = run_create(ds, syn, tmp_path / "study.sqlite", cfg)
    alice = info.raters[0]
    shots = tmp_path / "shots"
    shots.mkdir()
    given: list[tuple[str, str, str]] = []
    with live_server(info.db_path) as base:
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(f"{base}/r/{alice.token}")
        for k in range(info.n_items):
            assert page.locator("#progress-text").inner_text() == f"Image {k + 1} of 8"
            assert page.evaluate("document.getElementById('lesion').naturalWidth") == 128
            answer, conf, diagnosis = _choice(k)
            page.keyboard.press("s" if answer == "synthetic" else "r")  # shortcuts
            page.check(f'input[name="confidence"][value="{conf}"]')
            if diagnosis:
                page.select_option("#diagnosis", diagnosis)
            if k == 0:
                page.screenshot(path=str(shots / "turing-rate.png"))
            given.append((answer, conf, diagnosis))
            if k == 3:  # stop, come back later with the same link
                page.click("text=Stop for now")
                assert "Paused" in page.inner_text("h1")
                page.goto(f"{base}/r/{alice.token}")
                assert page.locator("#progress-text").inner_text() == "Image 4 of 8"
                page.keyboard.press("s" if answer == "synthetic" else "r")
                page.check(f'input[name="confidence"][value="{conf}"]')
                if diagnosis:
                    page.select_option("#diagnosis", diagnosis)
            with page.expect_navigation():
                if k == 1:
                    page.dblclick("#submit")  # a double click records one answer
                else:
                    page.click("#submit")
        assert "You have judged all 8 images" in page.inner_text("#done-text")
        page.screenshot(path=str(shots / "turing-done.png"))

        # bob answers two images, then the admin looks at progress and results
        bob = browser.new_page()
        bob.goto(f"{base}/r/{info.raters[1].token}")
        for _ in range(2):
            bob.check('input[name="answer"][value="real"]')
            bob.check('input[name="confidence"][value="3"]')
            with bob.expect_navigation():
                bob.click("#submit")
        admin = browser.new_page(viewport={"width": 1000, "height": 900})
        admin.goto(f"{base}/admin/{info.admin_token}")
        assert "10 of 16 answers from 2 raters" in admin.inner_text("#overall")
        with admin.expect_navigation():
            admin.click("#results-link")
        assert "10 answers from 2 raters" in admin.inner_text("#summary")
        admin.wait_for_function(
            "Array.from(document.querySelectorAll('.plots img')).every(i => i.naturalWidth > 0)"
        )
        admin.screenshot(path=str(shots / "turing-results.png"), full_page=True)

    with sqlite3.connect(info.db_path) as c:
        rows = c.execute(
            "SELECT s.answer, s.confidence, COALESCE(s.diagnosis, ''), i.source FROM answers s "
            "JOIN assignments a ON a.item_id = s.item_id AND a.rater_id = s.rater_id "
            "JOIN items i ON i.id = s.item_id WHERE s.rater_id = ? ORDER BY a.position",
            (alice.id,),
        ).fetchall()
    assert [(a, str(c), d) for a, c, d, _ in rows] == given  # in order, once each
    summary = run_results(info.db_path, tmp_path / "results")
    correct = sum(a == src for a, _, _, src in rows)
    assert summary["accuracy_rater_dr_alice"] == pytest.approx(correct / 8)
    assert summary["n_answers"] == 10 and summary["n_answers_rater_dr_bob"] == 2
    for name in ("turing-rate.png", "turing-done.png", "turing-results.png"):
        assert (shots / name).stat().st_size > 10_000
    if os.environ.get("LESIONGAN_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in ("turing-rate.png", "turing-results.png"):
            shutil.copyfile(shots / name, DOCS / name)
