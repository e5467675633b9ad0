"""Under ``strip`` a paragraph counted as boilerplate with a stored copy is cut from
what is stored; the verdict must say so (new user's N6 of session 18: the CSV said
"new", action "added", "nothing seen before", while the stored text had lost its footer)."""

from __future__ import annotations

from dedup.index import Index
from dedup.report.machine import verdict_action
from dedup.verdict import Policy

FOOTER = ("Subscribe to the Daily Ledger newsletter for the top stories every morning. "
          "Copyright 2026 Daily Ledger Media Group, all rights reserved worldwide.")
FLOOD = [
    "Heavy rain overnight flooded dozens of homes along the river in the northern district, forcing "
    "emergency crews to evacuate more than two hundred residents before dawn on Sunday.",
    "\"We lost everything on the ground floor, the water came in so fast we could only grab the children,\" "
    "said Maria Lopez, a baker whose shop sits beside the old stone bridge.",
    "Officials said the river peaked at nearly four metres above its normal level, the highest reading "
    "since records began in the early nineteen fifties.",
]
REPRINT = [FLOOD[0].replace("dozens", "scores").replace("before dawn on Sunday", "early on Sunday morning"),
           FLOOD[1], FLOOD[2].replace("nearly", "almost")]
ELECTION = [
    "Voters in the southern province head to the polls on Saturday in a regional election that analysts "
    "describe as a test of the governing coalition's economic record after two years of rising prices.",
    "Turnout is expected to be high, with early voting figures already exceeding those of the previous "
    "contest by a wide margin according to the electoral commission.",
]


def text(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs + [FOOTER]) + "\n"


def test_a_footer_cut_under_strip_is_a_stripped_add(tmp_path):
    with Index.open(str(tmp_path / "i.dedup")) as idx:
        idx.add(text(FLOOD), doc_id="flood")
        reprint, election = idx.add_many([("reprint", text(REPRINT)), ("election", text(ELECTION))],
                                         policy=Policy("strip"))
        assert not reprint.added
        assert election.added and election.boilerplate == (2,)
        assert election.text is not None and FOOTER not in election.text  # the footer was cut ...
        assert election.stripped and verdict_action(election) == "stripped"  # ... and the verdict says so
        assert "paragraph 2 is boilerplate" in election.reason and "cut under strip" in election.reason


def test_an_add_that_cuts_nothing_is_added(tmp_path):
    with Index.open(str(tmp_path / "i.dedup")) as idx:
        v = idx.add(text(ELECTION), doc_id="election", policy=Policy("strip"))
        assert v.added and not v.stripped and verdict_action(v) == "added" and v.text == text(ELECTION)
