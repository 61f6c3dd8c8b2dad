"""Claims: verdicts, the kernel's table, the JSON lines the build gathers, and the report."""

import json

import numpy as np
import pytest
import torch

from lecture_utils.course import claims


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setattr(claims, "_recorded", {})
    monkeypatch.setattr(claims, "_notebook", "")
    monkeypatch.setattr(claims, "SPREAD_FILE", tmp_path / "seed_spread.csv")
    monkeypatch.setenv("LECTURE_MODE", "fast")
    monkeypatch.delenv("LECTURE_CLAIMS_DIR", raising=False)
    monkeypatch.delenv("LECTURE_NOTEBOOK", raising=False)


@pytest.mark.parametrize(("lecture", "ours", "tolerance", "expected"), [
    (0.1103, 0.14, 0.05, "holds"),
    (0.1103, 0.17, 0.05, "differs"),
    (388_298, 388_298, 0, "holds"),
    (388_298, 388_299, 0, "differs"),
    (854e6, 860e6, "1%", "holds"),
    (854e6, 870e6, "1%", "differs"),
    (0.99, 0.5, None, "measured"),
    ("flatten", "flatten", 0, "holds"),
    ("flatten", "gap", 0, "differs"),
])
def test_verdict(lecture, ours, tolerance, expected):
    assert claims.verdict(lecture, ours, tolerance) == expected


@pytest.mark.parametrize("tolerance", [-0.1, "five%", "x", True, [1]])
def test_bad_tolerance_raises(tolerance):
    with pytest.raises(ValueError, match="tolerance must be a number >= 0 or a percentage"):
        claims.record("c", 1.0, 1.0, tolerance=tolerance)


def test_bad_values_raise():
    with pytest.raises(ValueError, match="claim must be a non-empty string"):
        claims.record("  ", 1, 1)
    with pytest.raises(ValueError, match="ours must be a number or a string"):
        claims.record("c", 1, [1, 2])
    with pytest.raises(ValueError, match="ours is NaN"):
        claims.record("c", 1, float("nan"))


def test_record_converts_scalars_and_tables_in_order():
    first = claims.record("flatten, shifted accuracy", 0.1103, torch.tensor(0.14), tolerance=0.05, notebook="03")
    assert first.ours == pytest.approx(0.14) and isinstance(first.ours, float)
    assert (first.mode, first.verdict, first.notebook) == ("fast", "holds", "03")
    claims.record("GAP params", 101_578, np.int64(101_578), tolerance=0, notebook="03")
    claims.record("GAP, shifted accuracy", 0.9906, 0.5, tolerance=0.05, unit="", notebook="03")
    table = claims.table()
    assert list(table["claim"]) == ["flatten, shifted accuracy", "GAP params", "GAP, shifted accuracy"]
    assert list(table["verdict"]) == ["holds", "holds", "differs"]
    assert list(table["ours"]) == ["0.14", "101,578", "0.5"]
    assert "notebook" not in table.columns
    assert list(claims.table(last=1)["claim"]) == ["GAP, shifted accuracy"]


def test_rerecording_replaces():
    claims.record("acc", 0.99, 0.5, tolerance=0.01, notebook="n")
    claims.record("acc", 0.99, 0.985, tolerance=0.01, notebook="n")
    assert list(claims.table()["verdict"]) == ["holds"]


def test_jsonl_written_and_gathered(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURE_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("LECTURE_NOTEBOOK", "03_gap_vs_flatten")
    claims.record("acc", 0.99, 0.5, tolerance=0.01)
    claims.record("acc", 0.99, 0.985, tolerance=0.01)  # a re-run cell: the last value wins
    claims.record("params", 388_298, 388_298, tolerance=0, notebook="02_counting")
    lines = (tmp_path / "claims" / "03_gap_vs_flatten.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["ours"] == 0.985
    gathered = claims.gather(tmp_path / "claims")
    assert gathered[["notebook", "claim", "verdict"]].values.tolist() == [
        ["02_counting", "params", "holds"], ["03_gap_vs_flatten", "acc", "holds"]]
    assert claims.counts(gathered) == "2 claims: 2 hold, 0 differ, 0 inconclusive, 0 fragile, 0 measured"


def test_gather_empty_and_corrupt(tmp_path):
    assert claims.gather(tmp_path / "missing").empty
    (tmp_path / "a.jsonl").write_text('{"notebook": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"a.jsonl:2 is not a JSON line"):
        claims.gather(tmp_path)


def test_report_files(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURE_CLAIMS_DIR", str(tmp_path / "claims"))
    claims.record("params <b>", 388_298, 388_298, tolerance=0, notebook="02_counting", note="a | b")
    claims.record("acc", 0.9906, 0.5, tolerance=0.05, notebook="03_gap_vs_flatten")
    claims.record("time", 60, 55.5, notebook="03_gap_vs_flatten", unit="s")
    frame = claims.gather(tmp_path / "claims")
    html_path, md_path = claims.write_report(frame, tmp_path)
    page = html_path.read_text()
    assert "1 hold, 1 differ, 0 inconclusive, 0 fragile, 1 measured" in page and "params &lt;b&gt;" in page
    assert "388,298" in page
    md = md_path.read_text().splitlines()
    assert md[0] == "# Lecture claims vs our measurements"
    assert md[4] == ("| notebook | claim | lecture | ours | interval | unit | tolerance | mode | verdict | seeds "
                     "| note |")
    assert md[6] == "| 02_counting | params <b> | 388,298 | 388,298 |  |  | 0 | fast | holds |  | a \\| b |"
    assert len(md) == 9


def spread_runs(values_by_seed):
    """Claims of one notebook as three seeded runs would record them."""
    import pandas as pd

    rows = []
    for seed, values in enumerate(values_by_seed):
        for claim, (lecture, ours, tolerance) in values.items():
            rows.append({"notebook": "03_x", "claim": claim, "lecture": lecture, "ours": ours, "unit": "",
                         "tolerance": tolerance, "mode": "fast", "seed": seed,
                         "verdict": claims.verdict(lecture, ours, tolerance), "seeds": "", "note": ""})
    return pd.DataFrame(rows)


def test_a_claim_whose_verdict_depends_on_the_seed_is_reported_fragile(monkeypatch, tmp_path, capsys):
    from lecture_utils.course import spread

    runs = spread_runs([
        {"GAP, shifted": (0.99, 0.944, 0.06), "params": (101_578, 101_578, 0), "t": (60, 55.0, None),
         "eps ||w||_1": (7.807, 7.807, 1e-3)},  # a measured reference: each seed meets its own value
        {"GAP, shifted": (0.99, 0.927, 0.06), "params": (101_578, 101_578, 0), "t": (60, 57.0, None),
         "acc 0.93": (1, 0.93, 0.1), "eps ||w||_1": (7.843, 7.843, 1e-3)},  # acc 0.93: a number in the text
        {"GAP, shifted": (0.99, 0.95, 0.06), "params": (101_578, 101_578, 0), "t": (60, 56.0, None),
         "eps ||w||_1": (7.936, 7.936, 1e-3)},
    ])
    runs.loc[runs["claim"] == "GAP, shifted", "verdict"] = "fragile"  # as a run that read the old spread says
    table = spread.spread_table(runs)
    skipped = capsys.readouterr().out
    assert "not recorded for every seed" in skipped and "acc 0.93" in skipped
    assert "reference value changes with the seed" in skipped and "eps ||w||_1" in skipped
    assert table[["claim", "values", "verdicts", "stable"]].values.tolist() == [
        ["GAP, shifted", "0.944;0.927;0.95", "holds;differs;holds", "no"],
        ["params", "101,578;101,578;101,578", "holds;holds;holds", "yes"],
        ["t", "55;57;56", "measured;measured;measured", "yes"],
    ]
    merged = spread.update(table, claims.SPREAD_FILE)
    assert len(merged) == 3 and len(spread.update(table, claims.SPREAD_FILE)) == 3  # replaced, not appended

    shaky = claims.record("GAP, shifted", 0.99, 0.944, tolerance=0.06, notebook="03_x")
    assert shaky.verdict == "fragile" and shaky.note.startswith("fragile in fast mode")
    assert shaky.seeds == "0.927 to 0.95 over 3 seeds (holds, differs, holds)"
    solid = claims.record("params", 101_578, 101_578, tolerance=0, notebook="03_x")
    assert (solid.verdict, solid.seeds) == ("holds", "101,578 over 3 seeds (holds)")
    assert claims.record("new claim", 1, 1, tolerance=0, notebook="03_x").seeds == ""
    wider = claims.record("GAP, shifted", 0.99, 0.944, tolerance=0.08, notebook="03_x")  # set from the spread
    assert (wider.verdict, wider.seeds) == ("holds", "0.927 to 0.95 over 3 seeds (holds)")
    claims.set_notebook("03_x")  # what a notebook's first cell does: describe("03_x")
    assert claims.record("GAP, shifted", 0.99, 0.944, tolerance=0.06).verdict == "fragile"
    monkeypatch.setenv("LECTURE_NOTEBOOK", "04_other")  # the build's name wins: no spread for it
    assert claims.record("GAP, shifted", 0.99, 0.944, tolerance=0.06).notebook == "04_other"
    monkeypatch.setenv("LECTURE_MODE", "full")  # full mode is the real check: no fast-mode spread applies
    assert claims.record("GAP, shifted", 0.99, 0.944, tolerance=0.06, notebook="03_x").verdict == "holds"


@pytest.mark.parametrize("name", ["", "  ", "notebooks/03_x", "03_x.ipynb", 3])
def test_set_notebook_rejects_paths_and_non_names(name):
    with pytest.raises(ValueError, match="notebook must be a notebook's file name"):
        claims.set_notebook(name)


# --- uncertainty: intervals and the verdicts that use them ---------------------------------------------

@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (17, 20), (20, 20), (9_200, 10_000), (1, 1)])
def test_wilson_equals_scipy(k, n):
    from scipy.stats import binomtest

    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert claims.wilson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-12)
    m = claims.proportion(k, n)
    assert (m.value, m.n, m.method) == (k / n, n, "Wilson") and m.low <= m.value <= m.high


def test_proportion_from_outcomes_and_bad_input():
    correct = np.array([True] * 92 + [False] * 8)
    assert claims.proportion(correct) == claims.proportion(92, 100)
    assert claims.proportion(torch.tensor(correct)) == claims.proportion(92, 100)
    with pytest.raises(ValueError, match="k must be a whole number of successes between 0 and n = 10"):
        claims.proportion(11, 10)
    with pytest.raises(ValueError, match="n must be a positive whole number"):
        claims.proportion(0, 0)
    with pytest.raises(ValueError, match="booleans or 0/1"):
        claims.proportion(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="at least two finite per-item values"):
        claims.proportion(np.array([1.0]))


def test_bootstrap_is_seeded_reproducible_and_covers_the_mean():
    rng = np.random.default_rng(1)
    trials = rng.normal(0.8, 0.02, size=10)
    first, again, other = claims.mean(trials, seed=0), claims.mean(trials, seed=0), claims.mean(trials, seed=1)
    assert first == again  # same data, same seed: the same interval
    assert (first.low, first.high) != (other.low, other.high)
    assert first.low < trials.mean() < first.high and first.value == pytest.approx(trials.mean())
    # the percentile interval of a mean is about mean +- 1.96 standard errors
    se = trials.std(ddof=1) / np.sqrt(trials.size)
    assert first.high - first.low == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_paired_difference_cancels_the_shared_noise():
    rng = np.random.default_rng(0)
    hard = rng.random(2_000) < 0.3  # items both models get wrong
    a = ~hard & (rng.random(2_000) > 0.02)  # A: wrong on the hard items and 2% of the others
    b = a & (rng.random(2_000) > 0.03)  # B: A's mistakes plus 3% more
    paired, unpaired = claims.difference(a, b), claims.difference(a, b, paired=False)
    assert paired.value == pytest.approx(a.mean() - b.mean()) and paired.method == "paired bootstrap"
    assert paired.low > 0  # the paired test sees the difference
    assert (paired.high - paired.low) < 0.5 * (unpaired.high - unpaired.low)
    assert claims.record("A beats B", "> 0", paired, notebook="x").verdict == "holds"
    with pytest.raises(ValueError, match="one outcome per shared test item"):
        claims.difference(a, b[:-1])


def test_a_three_point_margin_needs_a_large_sample():
    # lecture 0.90 +- 0.05, ours 0.92: three points inside the band's upper edge
    small = claims.record("accuracy", 0.90, 0.92, tolerance=0.05, n=20, notebook="x")
    large = claims.record("accuracy", 0.90, 0.92, tolerance=0.05, n=10_000, notebook="x")
    assert small.verdict.startswith("inconclusive (n too small: about ")
    needed = int(small.verdict.split("about ")[1].split(" ")[0].replace(",", ""))
    assert 100 < needed < 10_000
    assert large.verdict == "holds" and large.interval == "[0.9145, 0.9252] Wilson, n = 10,000"
    assert claims.record("accuracy", 0.90, 0.80, tolerance=0.05, n=10_000, notebook="x").verdict == "differs"


@pytest.mark.parametrize(("lecture", "ours", "n", "expected"), [
    ("> 0.5", 0.9, 1_000, "holds"),
    ("> 0.5", 0.1, 1_000, "differs"),
    ("> 0.5", 0.55, 20, "inconclusive"),
    ("<= 0.3", 0.1, 1_000, "holds"),
    ("< 0.3", 0.6, 1_000, "differs"),
    (">= 1e-1", 0.5, 1_000, "holds"),
])
def test_bounds(lecture, ours, n, expected):
    assert claims.base_verdict(claims.record("c", lecture, ours, n=n, notebook="x").verdict) == expected
    assert claims.verdict(lecture, 0.9, None) == ("holds" if lecture.startswith(">") else "differs")


def test_outcomes_give_the_interval_and_must_match_ours():
    correct = np.r_[np.ones(90), np.zeros(10)]
    entry = claims.record("acc", 0.9, 0.9, tolerance=0.2, outcomes=correct, notebook="x")
    assert entry.interval == claims.proportion(90, 100).describe() and entry.verdict == "holds"
    losses = np.linspace(1, 2, 50)
    assert "bootstrap" in claims.record("loss", 1.5, 1.5, tolerance=1, outcomes=losses, notebook="x").interval
    with pytest.raises(ValueError, match=r"ours \(0.8\) must be the mean of outcomes"):
        claims.record("acc", 0.9, 0.8, tolerance=0.2, outcomes=correct, notebook="x")
    with pytest.raises(ValueError, match="not both"):
        claims.record("acc", 0.9, 0.9, tolerance=0.2, outcomes=correct, n=100, notebook="x")
    with pytest.raises(ValueError, match="ours must be in"):
        claims.record("acc", 0.9, 1.5, tolerance=0.2, n=100, notebook="x")
    with pytest.raises(ValueError, match="cannot carry an interval"):
        claims.record("acc", "yes", claims.proportion(90, 100), tolerance=0, notebook="x")
    shown = claims.record("localization accuracy", "not stated", claims.proportion(43, 100), notebook="x")
    assert shown.verdict == "measured" and shown.interval.endswith("Wilson, n = 100")


def test_report_counts_inconclusive(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURE_CLAIMS_DIR", str(tmp_path / "claims"))
    claims.record("acc", 0.90, 0.95, tolerance=0.05, n=20, notebook="n")
    claims.record("params", 10, 10, tolerance=0, notebook="n")
    frame = claims.gather(tmp_path / "claims")
    assert claims.counts(frame) == "2 claims: 1 hold, 0 differ, 1 inconclusive, 0 fragile, 0 measured"
    html_page = claims.to_html(frame)
    assert "#e3e7fb" in html_page and "Wilson, n = 20" in html_page


def test_say_shows_markdown(capsys):
    from unittest import mock

    with mock.patch("IPython.display.display") as shown:
        claims.say(f"GAP keeps **{0.9906:.3f}** of its accuracy")
    (markdown,), _ = shown.call_args
    assert markdown.data == "GAP keeps **0.991** of its accuracy"
    with pytest.raises(ValueError, match="non-empty Markdown string"):
        claims.say("")


def test_each_seed_of_the_spread_is_judged_with_the_runs_interval(monkeypatch, tmp_path):
    """A seed whose value lies within the noise of the edge reads inconclusive, not holds or differs."""
    from lecture_utils.course import spread

    runs = spread_runs([{"A beats B": ("> 0", 0.05, None)}, {"A beats B": ("> 0", 0.004, None)},
                        {"A beats B": ("> 0", 0.06, None)}])
    spread.update(spread.spread_table(runs), claims.SPREAD_FILE)
    noisy = claims.Measurement(0.05, 0.03, 0.07, 1000, "paired bootstrap")  # half-width 0.02
    entry = claims.record("A beats B", "> 0", noisy, notebook="03_x")
    assert entry.seeds == "0.004 to 0.06 over 3 seeds (holds, inconclusive, holds)"
    assert entry.verdict == "fragile"  # seed 1 does not establish it
    exact = claims.record("A beats B", "> 0", 0.05, notebook="03_x")  # no interval: values judged as they are
    assert (exact.verdict, exact.seeds) == ("holds", "0.004 to 0.06 over 3 seeds (holds)")
    wide = claims.Measurement(0.05, -0.01, 0.11, 20, "paired bootstrap")  # the run itself is inconclusive
    entry = claims.record("A beats B", "> 0", wide, notebook="03_x")
    assert entry.verdict.startswith("inconclusive") and entry.seeds.endswith("over 3 seeds (inconclusive)")
