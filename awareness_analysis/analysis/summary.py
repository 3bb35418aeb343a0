"""The headline summary: how the organisation is doing, in the few numbers a manager reads first.

:func:`summarise` collects, from the one analysis engine (every rate, interval and flag comes
from :meth:`Analysis.view <awareness_analysis.analysis.session.Analysis.view>`, so small-group
suppression and, in a report run, the disclosure plan apply):

* **Headline**: acknowledgement, completion and answer accuracy of the *latest completed
  campaign* (not running in :attr:`Analysis.phases`; latest by launch date, undated campaigns
  counting as older than every dated one), each with its 95% interval, n and people.
* **Change from the previous comparable campaign.** *Comparable* means: the most recently
  launched completed campaign, launched before the headline campaign, that was sent to a
  similar audience, i.e. whose people sent lie within ±25% (:data:`COMPARABLE_SIZE_TOLERANCE`)
  of the headline campaign's. A campaign for one department (say 250 people against 2,000)
  is skipped, since its rates describe a different group. When there is none, there is no
  change to report.

  *Significance.* The same people are enrolled in both campaigns, so the two rates are not
  independent samples and an independent two-proportion test would misstate the uncertainty.
  The change is estimated as the campaign coefficient of a linear probability model over the
  enrolments (or answers) of both campaigns, with a **person-clustered** (sandwich) covariance
  (statsmodels OLS, ``cov_type="cluster"``; the same as GEE with an independence working
  correlation). The coefficient equals the difference of the engine's two rates exactly; its
  clustered interval allows for each person appearing in both. The three metrics' p-values are
  Benjamini-Hochberg adjusted together and a change is called significant when q < 0.05, the
  rule the department comparison uses.
* **Campaigns still running**, with days since launch and completion so far (progress, not
  failure).
* **Departments that differ** from the rest of the organisation for acknowledgement and
  accuracy over the completed campaigns: exactly the rows the engine's department comparison
  flags (Benjamini-Hochberg q < 0.05), the rule the department pages use. Suppressed or hidden
  departments are never tested, so never named.
* **Questions that need attention**: the lowest-accuracy questions of the completed campaigns,
  named with :func:`~awareness_analysis.analysis.phases.question_label`.

Each part records the engine rows it shows (:attr:`Summary.shown`), so the views layer can log
them as published figures in a report run (:mod:`awareness_analysis.views.summary`).
:func:`summary_publications` lists the tables the summary can publish, for a report's
disclosure plan.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from awareness_analysis.analysis.disclosure import Publication
from awareness_analysis.analysis.engine import SIGNIFICANCE_LEVEL, View
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.phases import question_label
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import CONFIDENCE, benjamini_hochberg
from awareness_analysis.vocabulary import ACCURACY, UNIT_ANSWERS, UNIT_ENROLMENTS

__all__ = [
    "ATTENTION_QUESTIONS",
    "COMPARABLE_SIZE_TOLERANCE",
    "COMPLETED_VIEW",
    "DEPARTMENT_SUMMARY_METRICS",
    "HEADLINE_METRICS",
    "SUMMARY_CHART",
    "AttentionQuestion",
    "CampaignInfo",
    "Change",
    "DifferingDepartment",
    "PreviousComparison",
    "Rate",
    "RunningCampaign",
    "ShownRows",
    "Summary",
    "summarise",
    "summary_publications",
]

#: The headline's metrics, in the order they are shown.
HEADLINE_METRICS = ("acknowledgement", "completion", ACCURACY)
#: Metrics whose department differences the summary lists.
DEPARTMENT_SUMMARY_METRICS = ("acknowledgement", ACCURACY)
#: An earlier campaign is comparable when its people sent are within this fraction of the
#: headline campaign's (0.25: ±25%).
COMPARABLE_SIZE_TOLERANCE = 0.25
#: How many lowest-accuracy questions the summary names.
ATTENTION_QUESTIONS = 3

#: ``view`` and ``chart`` names of the summary's figures in ``figures.csv``.
SUMMARY_CHART = "At a glance"
COMPLETED_VIEW = "Completed campaigns"


@dataclass(frozen=True)
class CampaignInfo:
    """One campaign as the summary names it."""

    campaign_id: str
    name: str
    module_title: str
    launch_date: pd.Timestamp | None
    #: Whole days between launch and the snapshot's fetch time; None when undated.
    days_since_launch: int | None


@dataclass(frozen=True)
class Rate:
    """One rate as the engine computed it: ``successes`` of ``n`` (``unit``: enrolments or
    answers) from ``people`` distinct people, with its 95% interval. ``hidden``: suppressed
    (fewer than k people, or hidden by the disclosure plan), numbers then NaN / None."""

    metric: str
    rate: float
    ci_low: float
    ci_high: float
    successes: int | None
    n: int | None
    people: int | None
    unit: str
    hidden: bool

    @property
    def shown(self) -> bool:
        """Whether there is a number to show (not hidden, and something counted)."""
        return not self.hidden and bool(self.n) and math.isfinite(self.rate)


@dataclass(frozen=True)
class Change:
    """One metric of the headline campaign against the previous comparable campaign.

    ``difference_pp``: current minus previous rate, in percentage points; ``ci_low_pp`` /
    ``ci_high_pp``: its person-clustered 95% interval; ``p_value`` and ``q_value`` (BH over
    the metrics compared); ``significant``: q < 0.05.
    """

    metric: str
    current: Rate
    previous: Rate
    difference_pp: float
    ci_low_pp: float
    ci_high_pp: float
    p_value: float
    q_value: float
    significant: bool


@dataclass(frozen=True)
class PreviousComparison:
    """The previous comparable campaign, how many people it reached, and the changes since."""

    campaign: CampaignInfo
    people: int
    changes: tuple[Change, ...]
    #: Whether both campaigns taught the same module: otherwise accuracy compares different
    #: questions.
    same_module: bool


@dataclass(frozen=True)
class RunningCampaign:
    """A campaign still running: people are still answering, so its rates will rise."""

    campaign: CampaignInfo
    completion: Rate


@dataclass(frozen=True)
class DifferingDepartment:
    """A department the engine's comparison flags for ``metric``: ``direction`` is "above" or
    "below" the rest of the organisation (BH q < 0.05)."""

    metric: str
    department: str
    direction: str
    rate: Rate
    organisation_rate: float
    q_value: float


@dataclass(frozen=True)
class AttentionQuestion:
    """A low-accuracy question: ``label`` as :func:`question_label` names it."""

    campaign: CampaignInfo
    question: int
    label: str
    accuracy: Rate


@dataclass(frozen=True, eq=False)
class ShownRows:
    """Engine rows the summary shows, to be logged as published figures in a report run.

    ``table``: the rows shown (an engine table's rows, with its ``attrs``; a department
    comparison's organisation line is part of it); ``view``: the view name in ``figures.csv``;
    ``campaign``: the campaign the rows cover when the table has no campaign column (None: all
    the view's campaigns).
    """

    table: pd.DataFrame = field(repr=False)
    view: str
    campaign: str | None = None


@dataclass(frozen=True)
class Summary:
    """How the organisation is doing: see :mod:`awareness_analysis.analysis.summary`.

    ``headline_campaign`` is None when no campaign has completed yet (then ``headline`` is
    empty). ``completed_campaigns`` is the scope of ``departments`` and ``questions``.
    """

    as_of: datetime
    min_group_size: int
    headline_campaign: CampaignInfo | None
    headline: tuple[Rate, ...]
    previous: PreviousComparison | None
    running: tuple[RunningCampaign, ...]
    completed_campaigns: tuple[CampaignInfo, ...]
    departments: tuple[DifferingDepartment, ...]
    questions: tuple[AttentionQuestion, ...]
    #: Every engine row the summary shows, for the report's figure log.
    shown: tuple[ShownRows, ...] = field(default=(), repr=False, compare=False)

    def rate(self, metric: str) -> Rate | None:
        """The headline rate of ``metric`` (None when there is no headline campaign)."""
        return next((r for r in self.headline if r.metric == metric), None)


# -- campaigns ---------------------------------------------------------------------------------


def _campaign_infos(phases: pd.DataFrame) -> list[tuple[CampaignInfo, bool]]:
    """(campaign, running) per analysed campaign, oldest first; undated campaigns first, since
    they cannot be shown to be recent (stable: frame order among equals)."""
    infos = []
    for row in phases.itertuples(index=False):
        launch = pd.Timestamp(row.launch_date) if pd.notna(row.launch_date) else None
        days = int(row.days_since_launch) if pd.notna(row.days_since_launch) else None
        info = CampaignInfo(
            campaign_id=str(row.campaign_id),
            name=str(row.campaign_name),
            module_title=str(row.module_title),
            launch_date=launch,
            days_since_launch=days,
        )
        infos.append((info, bool(row.running)))

    def launch_order(i: int) -> tuple[bool, int, int]:
        launch = infos[i][0].launch_date
        return launch is not None, launch.value if launch is not None else 0, i

    order = sorted(range(len(infos)), key=launch_order)
    return [infos[i] for i in order]


# -- rates from engine tables ------------------------------------------------------------------


def _number(value: Any) -> int | None:
    """A count from a table or attrs: None when blanked (suppressed) or missing."""
    return None if value is None or pd.isna(value) else int(value)


def _float(value: Any) -> float:
    """A rate from a table or attrs: NaN when blanked (suppressed) or missing."""
    return math.nan if value is None or pd.isna(value) else float(value)


def _rate_of_row(row: pd.Series, unit: str) -> Rate:
    """A rate-table row (campaign rates, question accuracy, department comparison) as a Rate."""
    return Rate(
        metric=str(row["metric"]),
        rate=_float(row["rate"]),
        ci_low=_float(row["ci_low"]),
        ci_high=_float(row["ci_high"]),
        successes=_number(row["successes"]),
        n=_number(row["n"]),
        people=_number(row["people"]),
        unit=unit,
        hidden=bool(row["suppressed"]) or pd.isna(row["n"]),
    )


def _organisation_rate(comparison: pd.DataFrame) -> Rate:
    """The organisation line of a department comparison (every counted unit of its baseline):
    the engine's pooled rate over all the view's enrolments or answers."""
    attrs = comparison.attrs
    return Rate(
        metric=str(attrs["metric"]),
        rate=_float(attrs.get("org_rate")),
        ci_low=_float(attrs.get("org_ci_low")),
        ci_high=_float(attrs.get("org_ci_high")),
        successes=_number(attrs.get("org_successes")),
        n=_number(attrs.get("org_n")),
        people=_number(attrs.get("org_people")),
        unit=str(attrs["unit"]),
        hidden=bool(attrs.get("org_suppressed")) or attrs.get("org_n") is None,
    )


def _only_organisation(comparison: pd.DataFrame) -> pd.DataFrame:
    """No department rows, the organisation line (``attrs``) kept: what a headline shows."""
    rows = comparison.head(0).copy()
    rows.attrs = dict(comparison.attrs)
    return rows


@dataclass(frozen=True)
class _CampaignFigures:
    """One campaign's headline rates and the engine rows behind them."""

    rates: dict[str, Rate]
    shown: tuple[ShownRows, ...]


def _campaign_figures(
    analysis: Analysis, campaign: CampaignInfo, metrics: Sequence[str]
) -> _CampaignFigures:
    """``metrics`` of one campaign from its own view (the view the campaign pages show)."""
    view = analysis.view(Selection(campaign_ids=(campaign.campaign_id,)))
    rates: dict[str, Rate] = {}
    shown: list[ShownRows] = []
    user_metrics = [m for m in metrics if m != ACCURACY]
    if user_metrics:
        table = view.campaign_rates()
        rows = table[table["metric"].isin(user_metrics)]
        for _, row in rows.iterrows():
            rates[str(row["metric"])] = _rate_of_row(row, UNIT_ENROLMENTS)
        shown.append(ShownRows(rows, view=campaign.name))
    if ACCURACY in metrics:
        comparison = view.department_comparison(ACCURACY)
        rates[ACCURACY] = _organisation_rate(comparison)
        shown.append(
            ShownRows(_only_organisation(comparison), view=campaign.name, campaign=campaign.name)
        )
    return _CampaignFigures(rates, tuple(shown))


# -- the change from the previous comparable campaign ------------------------------------------


def _people_sent(analysis: Analysis) -> dict[str, int]:
    """People each campaign was sent to (the engine's acknowledgement row; hidden: left out)."""
    table = analysis.view().campaign_rates()
    rows = table[(table["metric"] == "acknowledgement") & ~table["suppressed"]]
    return {
        str(cid): int(people)
        for cid, people in zip(rows["campaign_id"], rows["people"], strict=True)
        if pd.notna(people)
    }


def _comparable(
    headline: CampaignInfo,
    earlier: Sequence[CampaignInfo],
    people_sent: dict[str, int],
) -> CampaignInfo | None:
    """The most recent of ``earlier`` (oldest first) sent to within ±25% as many people.

    Sizes are the published ones (suppression and the disclosure plan applied): a campaign
    whose total is hidden is never compared, since its size could not be stated.
    """
    size = people_sent.get(headline.campaign_id)
    if not size:
        return None
    for candidate in reversed(earlier):
        other = people_sent.get(candidate.campaign_id)
        if other and abs(other - size) <= COMPARABLE_SIZE_TOLERANCE * size:
            return candidate
    return None


def _clustered_difference(
    view: View, metric: str, current_id: str
) -> tuple[float, float, float, float]:
    """(difference, ci_low, ci_high, p) of ``metric``: the current campaign minus the other
    campaign of ``view``, person-clustered (see the module docstring). NaN when not estimable.

    Units and flags are the engine's own (its user flags and answer results), so the
    difference is exactly that of the engine's two rates.
    """
    engine = view.engine
    if metric == ACCURACY:
        answers = view.answer_shown() & engine.result_counted
        user_row = engine.answer_row[answers]
        success = engine.result_correct[answers]
    else:
        flag, counted = engine.user_flags[metric]
        user_row = np.flatnonzero(view.shown & counted)
        success = flag[user_row]
    labels = np.asarray(engine.campaign_labels.astype(str), dtype=object)
    is_current = labels[engine.campaign[user_row]] == current_id
    person = engine.person[user_row]
    nothing = (math.nan, math.nan, math.nan, math.nan)
    if is_current.all() or not is_current.any() or len(np.unique(person)) < 2:
        return nothing
    design = np.column_stack([np.ones(len(user_row)), is_current.astype(np.float64)])
    with warnings.catch_warnings():
        # A rate of 0 or 1 in both campaigns leaves no variance: the p-value is then NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = OLS(success.astype(np.float64), design).fit(
            cov_type="cluster", cov_kwds={"groups": person}
        )
        low, high = fit.conf_int(alpha=1 - CONFIDENCE)[1]
        p_value = float(fit.pvalues[1])
    return float(fit.params[1]), float(low), float(high), p_value


def _changes(
    analysis: Analysis,
    headline: CampaignInfo,
    previous: CampaignInfo,
    current_rates: dict[str, Rate],
    previous_rates: dict[str, Rate],
) -> tuple[Change, ...]:
    """The change of each headline metric both campaigns show, BH-adjusted together."""
    metrics = [m for m in HEADLINE_METRICS if current_rates[m].shown and previous_rates[m].shown]
    if not metrics:
        return ()
    # One view of both campaigns: only its masks are used (nothing of it is published).
    view = analysis.view(Selection(campaign_ids=(headline.campaign_id, previous.campaign_id)))
    estimates = [_clustered_difference(view, m, headline.campaign_id) for m in metrics]
    q_values = benjamini_hochberg([p for *_, p in estimates])
    changes = []
    for metric, (_, low, high, p_value), q_value in zip(metrics, estimates, q_values, strict=True):
        current, before = current_rates[metric], previous_rates[metric]
        changes.append(
            Change(
                metric=metric,
                current=current,
                previous=before,
                # The engine's rates: the clustered fit gives the same difference, and its
                # interval and p-value.
                difference_pp=100 * (current.rate - before.rate),
                ci_low_pp=100 * low,
                ci_high_pp=100 * high,
                p_value=p_value,
                q_value=float(q_value),
                significant=bool(np.nan_to_num(q_value, nan=1.0) < SIGNIFICANCE_LEVEL),
            )
        )
    return tuple(changes)


# -- departments and questions over the completed campaigns ------------------------------------


def _completed_selection(completed: Sequence[CampaignInfo]) -> Selection:
    return Selection(campaign_ids=tuple(c.campaign_id for c in completed))


def _differing_departments(
    view: View,
) -> tuple[tuple[DifferingDepartment, ...], tuple[ShownRows, ...]]:
    """Departments the engine flags, per metric: below the rest first, then by q-value."""
    departments: list[DifferingDepartment] = []
    shown: list[ShownRows] = []
    for metric in DEPARTMENT_SUMMARY_METRICS:
        comparison = view.department_comparison(metric)
        # The engine's flag already excludes suppressed, pooled and untested rows.
        flagged = comparison[comparison["significant"] & ~comparison["suppressed"]]
        flagged = flagged.assign(_below=flagged["direction"] != "below").sort_values(
            ["_below", "q_value", "department"], kind="stable"
        )
        flagged = flagged.drop(columns="_below")
        flagged.attrs = dict(comparison.attrs)
        unit = str(comparison.attrs["unit"])
        for _, row in flagged.iterrows():
            departments.append(
                DifferingDepartment(
                    metric=metric,
                    department=str(row["department"]),
                    direction=str(row["direction"]),
                    rate=_rate_of_row(row, unit),
                    organisation_rate=_float(comparison.attrs.get("org_rate")),
                    q_value=_float(row["q_value"]),
                )
            )
        if len(flagged):
            shown.append(ShownRows(flagged, view=COMPLETED_VIEW))
    return tuple(departments), tuple(shown)


def _attention_questions(
    view: View, completed: Sequence[CampaignInfo]
) -> tuple[tuple[AttentionQuestion, ...], tuple[ShownRows, ...]]:
    """The lowest-accuracy questions (suppressed and unanswered ones left out; ties: more
    answers first, since they are the surer finding)."""
    accuracy = view.question_accuracy()
    answered = accuracy[~accuracy["suppressed"] & (accuracy["n"].fillna(0) > 0)]
    answered = answered.assign(_n=-answered["n"].astype("float64"))
    lowest = answered.sort_values(["rate", "_n"], kind="stable").head(ATTENTION_QUESTIONS)
    lowest = lowest.drop(columns="_n")
    by_id = {c.campaign_id: c for c in completed}
    questions = []
    for _, row in lowest.iterrows():
        campaign = by_id[str(row["campaign_id"])]
        question = int(row["question"])
        questions.append(
            AttentionQuestion(
                campaign=campaign,
                question=question,
                label=question_label(question, campaign.module_title),
                accuracy=_rate_of_row(row, UNIT_ANSWERS),
            )
        )
    shown = (ShownRows(lowest, view=COMPLETED_VIEW),) if len(lowest) else ()
    return tuple(questions), shown


# -- the summary -------------------------------------------------------------------------------


def summarise(analysis: Analysis) -> Summary:
    """The headline summary of ``analysis`` (see the module docstring for every choice).

    Every number is the engine's, through ``analysis.view(...)``: suppressed at
    ``analysis.min_group_size`` and, in a report run, by the report's disclosure plan.
    """
    campaigns = _campaign_infos(analysis.phases)
    completed = [info for info, running in campaigns if not running]
    running_campaigns = [info for info, running in campaigns if running]
    shown: list[ShownRows] = []

    headline_campaign = completed[-1] if completed else None
    headline: tuple[Rate, ...] = ()
    previous: PreviousComparison | None = None
    if headline_campaign is not None:
        current = _campaign_figures(analysis, headline_campaign, HEADLINE_METRICS)
        headline = tuple(current.rates[m] for m in HEADLINE_METRICS)
        shown += current.shown
        people_sent = _people_sent(analysis)
        earlier = [
            c
            for c in completed[:-1]
            if c.launch_date is None
            or headline_campaign.launch_date is None
            or c.launch_date < headline_campaign.launch_date
        ]
        candidate = _comparable(headline_campaign, earlier, people_sent)
        if candidate is not None:
            before = _campaign_figures(analysis, candidate, HEADLINE_METRICS)
            shown += before.shown
            previous = PreviousComparison(
                campaign=candidate,
                people=people_sent[candidate.campaign_id],
                changes=_changes(
                    analysis, headline_campaign, candidate, current.rates, before.rates
                ),
                same_module=candidate.module_title == headline_campaign.module_title,
            )

    running: list[RunningCampaign] = []
    for campaign in reversed(running_campaigns):  # newest first
        figures = _campaign_figures(analysis, campaign, ("completion",))
        running.append(RunningCampaign(campaign, figures.rates["completion"]))
        shown += figures.shown

    departments: tuple[DifferingDepartment, ...] = ()
    questions: tuple[AttentionQuestion, ...] = ()
    if completed:
        view = analysis.view(_completed_selection(completed))
        departments, department_rows = _differing_departments(view)
        questions, question_rows = _attention_questions(view, completed)
        shown += [*department_rows, *question_rows]

    return Summary(
        as_of=analysis.as_of,
        min_group_size=analysis.min_group_size,
        headline_campaign=headline_campaign,
        headline=headline,
        previous=previous,
        running=tuple(running),
        completed_campaigns=tuple(completed),
        departments=departments,
        questions=questions,
        shown=tuple(shown),
    )


def summary_publications(analysis: Analysis) -> list[Publication]:
    """Every table :func:`summarise` can publish, for a report's disclosure plan.

    The per-campaign tables are those the campaign pages publish too; the department
    comparisons over the completed campaigns are the summary's own (a selection no dashboard
    offers while a campaign is running), so a report must plan them with the rest.
    """
    campaigns = _campaign_infos(analysis.phases)
    completed = [info for info, running in campaigns if not running]
    publications = []
    for info, _ in campaigns:
        selection = Selection(campaign_ids=(info.campaign_id,))
        publications += [
            Publication("campaign_rates", selection),
            Publication(f"departments:{ACCURACY}", selection),
        ]
    if completed:
        selection = _completed_selection(completed)
        publications += [
            Publication(f"departments:{m}", selection) for m in DEPARTMENT_SUMMARY_METRICS
        ]
        publications.append(Publication("question_accuracy", selection))
    return publications
