"""The demo's measured time, quoted on the pages, is ``benchmarks/results/demo.json`` rendered.

Every block between ``<!-- timing:demo -->`` and ``<!-- /timing:demo -->`` in README.md or a
``docs/`` page must equal ``render_block`` of the committed JSON; regenerate with
``python benchmarks/demo_timing.py --render`` after measuring again, never by hand.
"""

from __future__ import annotations

import json
import sys

from doc_pages import ROOT, blocks_in_pages

sys.path.insert(0, str(ROOT / "benchmarks"))
from demo_timing import PAGES, RESULT, minutes, parse_time_v, render_block


def test_the_timing_blocks_equal_the_committed_measurement() -> None:
    data = json.loads(RESULT.read_text(encoding="utf-8"))
    want = render_block(data)
    blocks = blocks_in_pages("timing")
    pages = [page.relative_to(ROOT).as_posix() for page, name, _ in blocks if name == "demo"]
    for page, name, text in blocks:
        assert name == "demo" and page.relative_to(ROOT).as_posix() in PAGES, page
        assert text == want, f"{page}: regenerate with python benchmarks/demo_timing.py --render"
    assert "README.md" in pages  # the README quotes the measured figure


def test_the_measurement_says_how_idle_time_was_had() -> None:
    data = json.loads(RESULT.read_text(encoding="utf-8"))
    for mode in ("full", "quick"):
        e = data.get(mode)
        if not e:
            continue
        assert e["cpu_s"] > 0 and e["wall_s"] > 0 and "load_1min_mean_during" in e
        if e["machine_busy"]:  # a busy machine: idle time is an estimate, with its bounds
            low, high = e["idle_wall_estimate_s"]
            assert low == round(e["cpu_s"] / 2, 1) and high == e["cpu_s"]
            assert e["idle_wall_method"].startswith("estimated")
        else:
            assert e["idle_wall_method"].startswith("measured")


def test_time_v_is_parsed_and_minutes_read_plainly() -> None:
    text = (
        "\tUser time (seconds): 512.31\n\tSystem time (seconds): 20.5\n"
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.5\n"
        "\tMaximum resident set size (kbytes): 2048000\n"
    )
    f = parse_time_v(text)
    assert f == {"user_s": 512.31, "system_s": 20.5, "max_rss_kb": 2048000, "wall_s": 3723.5}
    assert parse_time_v("\tElapsed (wall clock) time (h:mm:ss or m:ss): 2:59.6\n")["wall_s"] == (
        179.6
    )
    assert minutes(179.6) == "3 min 00 s" and minutes(59.4) == "0 min 59 s"
