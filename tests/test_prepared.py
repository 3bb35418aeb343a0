"""The precomputed path (awareness_analysis.analysis.prepared) gives exactly what the plain path gives.

Every comparison is against the plain functions the package had before: ``Selection.mask``,
``Selection.apply``/``apply_answers``, ``suppress_departments`` and the metric functions, on the
demo organisation (tiny departments, unassigned people, external addresses, several campaigns)
and on frames edited to add awkward cases (a user listed twice in a campaign, e-mail case).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.metrics import (
    DEPARTMENT_METRICS,
    campaign_rates,
    department_comparison,
    question_accuracy,
)
from awareness_analysis.analysis.prepared import PreparedFrames, prepare
from awareness_analysis.analysis.privacy import suppress_departments
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.app import load_analysis
from awareness_analysis.data.frames import Frames
from awareness_analysis.demo import build_demo_store
from awareness_analysis.views.widgets import (
    CampaignOverview,
    Dashboard,
    DepartmentComparison,
    QuestionAccuracy,
    UserExplorer,
    View,
)
from tests.test_widgets import drawn

K_VALUES = (5, 0, 40, 100_000)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    store = tmp_path_factory.mktemp("prepared") / "demo-store"
    build_demo_store(store, progress=False)
    return load_analysis(store, min_group_size=5)


@pytest.fixture(scope="module")
def prepared(analysis: Analysis) -> PreparedFrames:
    return PreparedFrames(analysis.frames.users, analysis.frames.answers)


def selections(analysis: Analysis) -> list[Selection]:
    ids = list(analysis.campaign_names)
    return [
        Selection(),
        Selection(campaign_ids=ids[:1]),
        Selection(campaign_ids=ids[1:4], statuses=("incorrect",)),
        Selection(statuses=("sent",)),
        Selection(statuses=("correct", "incorrect")),
        Selection(departments=("Finance", "IT")),
        Selection(departments=("Customer Service",), statuses=("correct",)),
        Selection(departments=("(suppressed)",)),
        Selection(search="finance"),
        Selection(search="  ABBOTT "),
        Selection(search="."),  # literal, not a regex
        Selection(search="gmail"),
        Selection(search="no such person anywhere"),
        Selection(campaign_ids=ids[-1:], search="a", departments=("IT",)),
    ]


def plain(
    users: pd.DataFrame, answers: pd.DataFrame, selection: Selection, k: int
) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """What the dashboards' plain path computes: filter, suppress, department filter last."""
    before = replace(selection, departments=()).apply(users)
    suppressed = suppress_departments(before, k)
    selected = suppressed.users
    if selection.departments:
        selected = selected[selected["department"].isin(selection.departments)]
    return selected, selection.apply_answers(answers, selected), suppressed


def assert_same_frame(fast: pd.DataFrame, slow: pd.DataFrame) -> None:
    """Same columns, index, dtypes (category lists in order) and values; quicker than
    assert_frame_equal on frames of thousands of rows."""
    assert list(fast.columns) == list(slow.columns)
    assert type(fast.index) is type(slow.index) and fast.index.equals(slow.index)
    for name in fast.columns:
        a, b = fast[name], slow[name]
        assert a.dtype == b.dtype, name
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert list(a.cat.categories) == list(b.cat.categories), name
            assert np.array_equal(a.cat.codes.to_numpy(), b.cat.codes.to_numpy()), name
        else:
            assert a.equals(b), name


def assert_same_table(fast: pd.DataFrame, slow: pd.DataFrame) -> None:
    assert_frame_equal(fast, slow)
    assert repr(fast.attrs) == repr(slow.attrs)  # repr: NaN org rates compare equal


def assert_same_everywhere(
    prepared: PreparedFrames,
    users: pd.DataFrame,
    answers: pd.DataFrame,
    selection: Selection,
    k: int,
) -> None:
    view = prepared.view(selection, k)
    selected, selected_answers, suppressed = plain(users, answers, selection, k)
    assert view.hidden == suppressed.hidden
    assert view.suppressed.primary == suppressed.primary
    assert view.suppressed.everything_hidden == suppressed.everything_hidden
    assert_same_frame(view.users(), selected)
    assert_same_frame(view.answers(), selected_answers)
    assert_same_frame(view.before_department().users(), suppressed.users)
    assert_same_table(view.campaign_rates(), campaign_rates(selected))
    assert_same_table(view.question_accuracy(), question_accuracy(selected_answers, selected))
    for metric in DEPARTMENT_METRICS:
        assert_same_table(
            view.department_comparison(metric),
            department_comparison(selected, metric, answers=selected_answers),
        )


def test_prepared_is_supported_for_real_frames(prepared: PreparedFrames) -> None:
    assert prepared.supported


@pytest.mark.parametrize("k", K_VALUES)
def test_same_tables_frames_and_suppression_as_the_plain_path(
    analysis: Analysis, prepared: PreparedFrames, k: int
) -> None:
    users, answers = analysis.frames.users, analysis.frames.answers
    for selection in selections(analysis):
        assert_same_everywhere(prepared, users, answers, selection, k)


def test_mask_equals_selection_mask(analysis: Analysis, prepared: PreparedFrames) -> None:
    users = analysis.frames.users
    extra = [
        Selection(user_states=("ACTIVE",)),
        Selection(user_states=("ACTIVE", "SUSPENDED"), search="x"),
        Selection(departments=("(unassigned)",)),
        Selection(departments=("Board Secretariat",)),
    ]
    for selection in selections(analysis) + extra:
        assert np.array_equal(prepared.mask(selection), selection.mask(users)), selection
    with pytest.raises(ValueError, match="Unknown user state"):
        prepared.mask(Selection(user_states=("NOPE",)))


def test_department_options_are_what_the_dashboards_listed(
    analysis: Analysis, prepared: PreparedFrames
) -> None:
    for k in K_VALUES:
        for selection in selections(analysis):
            _, _, suppressed = plain(analysis.frames.users, analysis.frames.answers, selection, k)
            column = suppressed.users["department"]
            expected = sorted(str(d) for d in column.unique() if d != "(suppressed)")
            if (column == "(suppressed)").any():
                expected.append("(suppressed)")
            assert prepared.suppressed(selection, k).department_options() == expected


def test_suppression_is_reused_when_only_the_department_changes(
    prepared: PreparedFrames,
) -> None:
    first = prepared.suppressed(Selection(statuses=("correct",), departments=("IT",)), 5)
    again = prepared.suppressed(Selection(statuses=("correct",), departments=("Finance",)), 5)
    assert again is first
    assert prepared.suppressed(Selection(statuses=("correct",)), 6) is not first


def awkward_frames(analysis: Analysis) -> Frames:
    """Demo frames plus a user listed twice in one campaign (in another department) and a
    person whose e-mail differs only in case and spaces from someone else's."""
    users = analysis.frames.users
    answers = analysis.frames.answers
    twice = users.iloc[[3]].copy()
    twice["department"] = pd.Categorical(["IT"], dtype=users["department"].dtype)
    shouting = users.iloc[[10]].copy()
    shouting["email"] = pd.array(
        ["  " + str(shouting["email"].iloc[0]).upper()], dtype=users["email"].dtype
    )
    shouting["department"] = pd.Categorical(["Board Secretariat"], dtype=users["department"].dtype)
    users = pd.concat([twice, users, shouting], ignore_index=True)
    return Frames(campaigns=analysis.frames.campaigns, users=users, answers=answers)


@pytest.mark.parametrize("k", (5, 0))
def test_duplicate_users_and_email_case_match_the_plain_path(analysis: Analysis, k: int) -> None:
    frames = awkward_frames(analysis)
    prepared = PreparedFrames(frames.users, frames.answers)
    assert prepared.supported and not prepared.unique_user_keys
    for selection in selections(analysis):
        assert_same_everywhere(prepared, frames.users, frames.answers, selection, k)


def test_frames_it_cannot_mirror_are_not_supported(analysis: Analysis) -> None:
    users = analysis.frames.users.copy()
    users["department"] = users["department"].astype("str")
    assert not PreparedFrames(users, analysis.frames.answers).supported


def test_prepare_shares_one_object_per_frames(analysis: Analysis) -> None:
    users, answers = analysis.frames.users, analysis.frames.answers
    shared = prepare(users, answers)
    assert prepare(users, answers) is shared
    assert prepare(users.copy(), answers) is not shared


# -- dashboards: the precomputed and the plain path draw and show the same ---------------------


def state(dashboard: Dashboard) -> tuple[object, ...]:
    assert dashboard.table is not None
    return (
        drawn(dashboard.figures),
        [t.get_text() for f in dashboard.figures for t in f.texts],
        list(dashboard.department.options),
        tuple(dashboard.department.value),
        dashboard.hidden_departments,
        dashboard.note.value,
        len(dashboard.output.outputs),
    )


CHANGES = (
    ("status", ("incorrect",)),
    ("department", ("Customer Service", "IT")),
    ("search", "an"),
    ("min_group_size", 40),
    ("department", ()),
    ("campaign", "first"),
    ("min_group_size", 0),
    ("department", ("Board Secretariat",)),
    ("status", ()),
    ("search", "zzz no match"),
)


def change(dashboard: Dashboard, name: str, value: object) -> None:
    control = getattr(dashboard, name)
    if value == "first":
        value = (control.options[0][1],)
    elif name == "department":
        value = tuple(d for d in value if d in control.options)  # type: ignore[union-attr]
    control.value = value


@pytest.mark.parametrize(
    "kind", (CampaignOverview, QuestionAccuracy, DepartmentComparison, UserExplorer)
)
def test_dashboards_show_the_same_with_and_without_precompute(
    analysis: Analysis, kind: type[Dashboard]
) -> None:
    fast = kind(analysis)
    slow = kind(analysis, precompute=False)
    assert fast.precompute and not slow.precompute
    for name, value in CHANGES:
        for dashboard in (fast, slow):
            change(dashboard, name, value)
        assert fast.table is not None and slow.table is not None
        assert_same_table(fast.table, slow.table)
        assert state(fast) == state(slow), name
        assert fast.redraws == slow.redraws
    assert_same_frame(fast.selected_frames()[0], slow.selected_frames()[0])


def test_metric_change_and_static_views_match(analysis: Analysis) -> None:
    fast = DepartmentComparison(analysis, metric="accuracy")
    slow = DepartmentComparison(analysis, metric="accuracy", precompute=False)
    assert_same_table(fast.table, slow.table)
    for metric in ("all_correct", "completion"):
        fast.metric.value = slow.metric.value = metric
        assert_same_table(fast.table, slow.table)
        assert state(fast) == state(slow)
    # Static report views: the same views, and the same pages where they are cheap to render.
    for kind in (CampaignOverview, QuestionAccuracy, UserExplorer):
        assert kind(analysis).report_views() == kind(analysis, precompute=False).report_views()
    assert UserExplorer(analysis).static_html() == (
        UserExplorer(analysis, precompute=False).static_html()
    )


def test_unsupported_frames_fall_back_to_the_plain_path(analysis: Analysis) -> None:
    users = analysis.frames.users.copy()
    users["department"] = users["department"].astype("str")
    frames = Frames(
        campaigns=analysis.frames.campaigns, users=users, answers=analysis.frames.answers
    )
    dashboard = CampaignOverview(replace(analysis, frames=frames))
    assert not dashboard.precompute
    dashboard.status.value = ("correct",)
    assert dashboard.redraws == 2 and dashboard.table is not None


def test_a_subclass_overriding_render_keeps_its_render(analysis: Analysis) -> None:
    class Custom(CampaignOverview):
        def render(self, users: pd.DataFrame, answers: pd.DataFrame, text: str) -> View:
            figures, table = super().render(users, answers, text)
            return figures, table.head(1)

    dashboard = Custom(analysis)
    assert dashboard.precompute
    assert dashboard.table is not None and len(dashboard.table) == 1
    dashboard.status.value = ("correct",)
    assert len(dashboard.table) == 1
