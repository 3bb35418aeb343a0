"""One dashboard session is one published set: every figure it shows, whatever the choices.

An analyst (or whoever watches a shared screen) who compares a department's figures with and
without a status or search choice learns about the people the choice left out. The session
checks each table before it is shown against everything shown before; these tests replay
such sequences and check the result with a solver written apart from the package, at the
level of single enrolments (no atoms, no refinement): every shown figure is a sum over user
rows, and no set of rows covering fewer than k people may lie in the span of those sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from awareness_analysis.analysis.disclosure import SessionDisclosure
from awareness_analysis.analysis.engine import ENROLMENT_LEVEL, Cell, Engine
from awareness_analysis.analysis.filters import Selection
from tests.test_disclosure import adversarial_frames

K = 5
STATUS_CHOICES = [(), ("correct", "incorrect"), ("sent",), ("correct",), ("incorrect",)]
SEARCHES = ["", "sales", "sales.ops", "sales.ops1", "eng", "eng1", "quad"]


class _Recorder:
    """Stands in for a session that never hides anything: records what would be shown."""

    def __init__(self, engine: Engine, k: int) -> None:
        self.plan = SessionDisclosure(engine, k).plan
        self.masks: dict[str, np.ndarray] = {}
        self.shown: set[Cell] = set()

    def admit(self, view: Any, cells: list[Cell], suppressed: list[bool]) -> np.ndarray:
        for rows in (view.matched, view.baseline):
            if view.within(rows):
                self.masks[view.within(rows)] = rows.copy()
        self.shown |= {c for c, s in zip(cells, suppressed, strict=True) if not s}
        return np.zeros(len(cells), dtype=bool)


def _browse(engine: Engine, session: Any, selections: Iterable[Selection]) -> None:
    """Draw what the dashboards draw for each selection."""
    for selection in selections:
        view = engine.view(selection, K, session=session)
        view.campaign_rates()
        view.department_comparison("acknowledgement")
        view.department_comparison("completion")


def _selections() -> list[Selection]:
    return [
        Selection(campaign_ids=campaigns, statuses=statuses, search=search)
        for campaigns in [(), ("c-all",), ("c-wave",)]
        for statuses in STATUS_CHOICES
        for search in SEARCHES
    ]


def exposed(engine: Engine, shown: set[Cell], masks: dict[str, np.ndarray], k: int) -> list[str]:
    """Groups under k people that the shown enrolment figures determine, found on single
    user rows: the rows no figure tells apart form a class; a class (or a department or
    campaign) under k people whose indicator lies in the figures' row space is exposed."""
    users = engine.users
    campaign = users["campaign_id"].astype(str).to_numpy()
    department = users["department"].astype(str).to_numpy()
    person = users["email"].astype(str).str.strip().str.lower().to_numpy()
    figures = sorted(
        (c for c in shown if c.level == ENROLMENT_LEVEL),
        key=lambda c: (sorted(c.atoms), c.within),
    )
    matrix = np.zeros((len(figures), len(users)))
    pairs = np.array([f"{c}\x1f{d}" for c, d in zip(campaign, department, strict=True)])
    for i, cell in enumerate(figures):
        inside = np.isin(pairs, [f"{c}\x1f{d}" for c, d in cell.atoms])
        if cell.within:
            inside &= masks[cell.within]
        matrix[i, inside] = 1.0
    rank = np.linalg.matrix_rank(matrix) if len(figures) else 0
    # Rows with the same column are indistinguishable: one class.
    _, classes = np.unique(matrix.T, axis=0, return_inverse=True)
    classes = classes.reshape(-1)
    candidates: dict[str, np.ndarray] = {}
    for cls in np.unique(classes):
        candidates[f"class {cls}"] = classes == cls
    for name in np.unique(department):
        candidates[f"department {name}"] = department == name
    for name in np.unique(campaign):
        candidates[f"campaign {name}"] = campaign == name
    found = []
    for description, rows in candidates.items():
        size = len(set(person[rows]))
        if not 0 < size < k or not len(figures):
            continue
        vector = rows.astype(float)
        if np.linalg.matrix_rank(np.vstack([matrix, vector])) == rank:
            found.append(f"{description} ({size} people)")
    return found


@pytest.fixture(scope="module")
def engine() -> Engine:
    frames = adversarial_frames()
    return Engine(frames.users, frames.answers)


def test_without_the_session_choices_expose_small_groups(engine: Engine) -> None:
    # The attack is real: the same browsing, with per-view suppression only, exposes groups.
    recorder = _Recorder(engine, K)
    _browse(engine, recorder, _selections())
    assert exposed(engine, recorder.shown, recorder.masks, K)


def test_a_session_shows_nothing_that_exposes_a_small_group(engine: Engine) -> None:
    session = SessionDisclosure(engine, K)
    _browse(engine, session, _selections())
    assert session.shown and session.hidden
    assert exposed(engine, session.shown, session.masks, K) == []


def test_a_session_never_shows_a_cell_it_hid(engine: Engine) -> None:
    session = SessionDisclosure(engine, K)
    _browse(engine, session, _selections())
    hidden = set(session.hidden)
    again = engine.view(Selection(statuses=("correct", "incorrect")), K, session=session)
    table = again.department_comparison("acknowledgement")
    for cell, suppressed in zip(table["cell"], table["suppressed"], strict=True):
        if cell in hidden:
            assert suppressed
    assert session.shown.isdisjoint(session.hidden)


def test_two_views_that_would_expose_a_small_campaign(engine: Engine) -> None:
    # Everything, then a search: per-view suppression alone lets the differences give away
    # the 3-person pilot campaign (found by the solver); the session blanks a figure of the
    # search view instead.
    views = [Selection(), Selection(search="sales")]
    recorder = _Recorder(engine, K)
    _browse(engine, recorder, views)
    assert any("c-pilot" in group for group in exposed(engine, recorder.shown, recorder.masks, K))
    session = SessionDisclosure(engine, K)
    _browse(engine, session, views)
    assert exposed(engine, session.shown, session.masks, K) == []
    assert recorder.shown & session.hidden  # figures per-view suppression would have shown


def test_sessions_are_per_minimum_group_size_and_off_without_suppression() -> None:
    from awareness_analysis import load_analysis

    analysis = load_analysis(min_group_size=5)
    assert analysis.disclosure() is analysis.disclosure(5)
    assert analysis.disclosure(10) is not analysis.disclosure(5)
    assert analysis.disclosure(0) is None and analysis.disclosure(1) is None
    view = analysis.view(Selection(search="a"))
    view.department_comparison("acknowledgement")
    assert analysis.disclosure().shown  # the view's figures joined the session's set


def test_one_question_campaign_with_people_who_never_answered() -> None:
    # An enrolment figure of a one-question campaign is also an answer figure (the link
    # between the levels); one department never answered. The session still exposes nobody.
    from awareness_analysis.data.frames import build_frames

    campaign = {
        "id": "c-one",
        "name": "One Question",
        "title": {"id": "m", "title": "Module", "correctAnswers": {"forQuestion1": 1}},
        "launchDate": "2026-03-01T09:00:00+0000",
    }
    items = [
        {
            "email": f"{department.lower()}{i}@example.com",
            "name": f"Person {i}",
            "department": department,
            "acknowledgement": i % 2 == 0,
            "results": {"forQuestion1": "CORRECT"} if department == "Answered" else {},
        }
        for department in ("Answered", "Silent")
        for i in range(7)
    ]
    frames = build_frames([campaign], {"c-one": items})
    engine = Engine(frames.users, frames.answers)
    session = SessionDisclosure(engine, K)
    _browse(engine, session, [Selection(), Selection(search="silent"), Selection(search="ans")])
    assert session.shown
    assert exposed(engine, session.shown, session.masks, K) == []
