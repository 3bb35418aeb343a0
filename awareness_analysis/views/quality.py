"""The data-quality page (notebook ``08_data_quality`` and its report page) and the text report
of ``awareness-analysis check``.

Both show a :class:`~awareness_analysis.data.quality.QualityReport` of the analysed snapshot,
computed on its real addresses (a pseudonym has no domain to check), limited to the analysed
campaigns, with the alias-domain map of ``AWARENESS_ALIAS_DOMAINS``.

* In JupyterLab, :class:`DataQuality` shows the findings, the reconciliation with the vendor's
  counters and, one at a time, the full lists (aliases, outside addresses, inactive users, ...).
  With ``pseudonymise`` on, the lists that name people are left out (the counts stay).
* In a shared report (``analysis.report``), the page shows aggregate counts and the
  per-campaign reconciliation table only, never an address or a name. Counts of people
  between 1 and k - 1 read "fewer than k", as a group under the minimum group size would.
  Campaign figures come only for the campaigns the report shows, blanked where the
  disclosure plan hides the campaign, and every figure is logged for the report's audit.
* :func:`quality_text` is the plain-text report the ``check`` command prints.
"""

from __future__ import annotations

import functools
import html
import unicodedata
from collections.abc import Collection
from dataclasses import replace
from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.display import HTML, display

from awareness_analysis.analysis.engine import View
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.privacy import threshold
from awareness_analysis.analysis.session import Analysis, alias_domains_from_env
from awareness_analysis.data.quality import (
    ANALYSIS_COMPLETION,
    COMPLETION_DEFINITIONS,
    FAIL,
    MAX_QUESTIONS_SEEN,
    NOTE,
    WARNING,
    QualityReport,
    check_snapshot,
)
from awareness_analysis.views.figures import ALL, data_table_html, figure_number
from awareness_analysis.views.widgets import LABEL_STYLE

__all__ = ["DataQuality", "quality_of", "quality_text"]

#: The lists that name people: never in a shared report, nor in a pseudonymised session.
PERSONAL_LISTS = ("alias_pairs", "outside_addresses", "inactive_users", "double_enrolments")
#: Every list the notebook offers, and how its menu names it.
LIST_LABELS: dict[str, str] = {
    "alias_pairs": "Likely aliases",
    "outside_addresses": "Addresses outside the organisation domains",
    "inactive_users": "Inactive users",
    "double_enrolments": "Enrolled twice in one campaign",
    "user_states": "User states",
    "missing_values": "Empty departments and names",
    "question_counts": "Campaigns with no questions or more than four",
    "empty_groups": "Campaigns with group user count 0",
    "correct_by_question": "Correct answers per question",
    "differences": "Reconciliation differences",
}
_CHART = "Data quality"
_RECONCILIATION_CHART = "Reconciliation with the vendor's counters"
# Bidirectional controls reorder what a terminal shows (a name could hide an address), so
# they are escaped like control characters.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def quality_of(analysis: Analysis, *, organisation_domains: Collection[str] = ()) -> QualityReport:
    """The quality report of ``analysis``'s snapshot over its analysed campaigns (real
    addresses; the alias map of ``AWARENESS_ALIAS_DOMAINS``)."""
    return check_snapshot(
        analysis.snapshot,
        campaign_ids=analysis.campaign_ids or None,
        organisation_domains=organisation_domains,
        alias_domains=alias_domains_from_env(),
    )


def _without_people(report: QualityReport) -> QualityReport:
    """``report`` with the lists that name people emptied (their counts stay in problems)."""
    return replace(report, **{name: getattr(report, name).iloc[0:0] for name in PERSONAL_LISTS})


def _counts(report: QualityReport) -> list[tuple[str, str, int, int | None, bool]]:
    """(key, label, count, out of, counts people) of every finding, for summaries."""
    missing = report.missing_values.set_index("field")
    outside = report.outside_addresses
    reconciliation = report.reconciliation
    failing = reconciliation["status"] != "ok"
    return [
        (
            "empty_department",
            "People with an empty department",
            int(missing.loc["department", "people_missing"]),
            report.people,
            True,
        ),
        (
            "empty_name",
            "People with an empty name",
            int(missing.loc["name", "people_missing"]),
            report.people,
            True,
        ),
        (
            "alias_pairs",
            "Likely alias pairs (same local part or same name under different domains)",
            len(report.alias_pairs),
            None,
            True,
        ),
        (
            "outside_addresses",
            "Addresses outside the organisation domains",
            len(outside),
            report.people,
            True,
        ),
        (
            "personal_addresses",
            "of them at personal mail domains",
            int((outside["kind"] == "personal").sum()),
            report.people,
            True,
        ),
        (
            "inactive_users",
            "Inactive users (not ACTIVE), counted in every figure",
            len(report.inactive_users),
            report.people,
            True,
        ),
        (
            "double_enrolments",
            "Repeated enrolments (one person twice in one campaign)",
            len(report.double_enrolments),
            report.people,
            True,
        ),
        (
            "question_counts",
            f"Campaigns with no questions or more than {MAX_QUESTIONS_SEEN}",
            len(report.question_counts),
            report.campaigns,
            False,
        ),
        (
            "empty_groups",
            "Campaigns with group user count 0 although users were sent",
            len(report.empty_groups),
            report.campaigns,
            False,
        ),
        (
            "reconciliation",
            "Campaigns whose rows or answers differ from the vendor's counters",
            int(failing.sum()),
            report.campaigns,
            False,
        ),
    ]


# -- plain text (awareness-analysis check) ----------------------------------------------------


def _printable(value: object) -> str:
    """Text from the tenant, safe for a terminal: control and bidi characters escaped."""
    text = str(value)
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS else c
        for c in text
    )


def _table_text(frame: pd.DataFrame, limit: int) -> str:
    if frame.empty:
        return "  none"
    shown = frame if limit <= 0 else frame.head(limit)
    safe = shown.astype(object).map(lambda v: "-" if v is None or v is pd.NA else _printable(v))
    lines = safe.to_string(index=False).splitlines()
    text = "\n".join("  " + line for line in lines)
    if len(shown) < len(frame):
        text += (
            f"\n  ... and {len(frame) - len(shown):,} more rows (--limit 0 lists all, or see "
            "the notebook 08_data_quality)"
        )
    return text


def _counters_frame(reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Per campaign: what was received beside the vendor's counter for it."""
    r = reconciliation
    return pd.DataFrame(
        {
            "campaign": r["campaign_name"].astype(str),
            "rows": r["rows"],
            "numSent": r["num_sent"],
            "completed": r[f"completed_{ANALYSIS_COMPLETION}"],
            "numCompleted": r["num_completed"],
            "correct answers": r["correct_answers"],
            "numCorrectAnswers": r["num_correct_answers"],
            "group userCount": r["group_user_count"],
            "status": r["status"],
        }
    )


def _definitions_frame(reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Per campaign: ``numCompleted`` beside the count under every candidate definition."""
    r = reconciliation
    return pd.DataFrame(
        {
            "campaign": r["campaign_name"].astype(str),
            "numCompleted": r["num_completed"],
            **{name: r[f"completed_{name}"] for name in COMPLETION_DEFINITIONS},
            "matching": r["matching_definitions"].replace("", "none"),
        }
    )


def _missing_frame(report: QualityReport) -> pd.DataFrame:
    m = report.missing_values
    return pd.DataFrame(
        {
            "empty": m["field"],
            "people": [
                f"{n:,} of {whole:,} ({share:.1%})"
                for n, whole, share in zip(
                    m["people_missing"], m["people"], m["people_share"], strict=True
                )
            ],
            "enrolments": [
                f"{n:,} of {whole:,} ({share:.1%})"
                for n, whole, share in zip(
                    m["enrolments_missing"], m["enrolments"], m["enrolments_share"], strict=True
                )
            ],
        }
    )


def _definitions_text() -> str:
    return "; ".join(
        f"{name} = {text}" + (" (the analysis's completion)" if name == ANALYSIS_COMPLETION else "")
        for name, text in COMPLETION_DEFINITIONS.items()
    )


def quality_text(report: QualityReport, *, limit: int = 50, header: str = "") -> str:
    """The report as plain text: sections with counts and the lists (at most ``limit`` rows
    each, 0 = all; reconciliation differences are always listed in full)."""
    how = (
        "inferred from the data; set them with --org-domain" if report.domains_inferred else "given"
    )
    lines = [
        header or f"Data quality of snapshot {report.snapshot_id}",
        f"{report.campaigns:,} campaigns, {report.enrolments:,} enrolments (campaign x person "
        f"rows) of {report.people:,} people.",
        f"Organisation domains ({how}): {', '.join(report.organisation_domains) or '(none)'}",
    ]
    if report.fetch_filter:
        lines.append(
            f"The snapshot was fetched with a filter ({report.fetch_filter}): it holds part of "
            "each campaign, so the vendor's counters cannot agree with it."
        )
    sections: list[tuple[str, str]] = [
        (
            "Reconciliation with the vendor's counters (completed = answered at least one "
            "question, the analysis's definition)",
            _table_text(_counters_frame(report.reconciliation), 0),
        ),
        (
            "Users counted as completed under each candidate definition, against numCompleted",
            _table_text(_definitions_frame(report.reconciliation), 0)
            + f"\n  Definitions: {_definitions_text()}.",
        ),
        (
            f"Differences ({len(report.differences)}, all listed)",
            _table_text(report.differences.drop(columns=["campaign_id"]), 0),
        ),
        ("Empty departments and names", _table_text(_missing_frame(report), 0)),
        (
            f"Likely aliases ({len(report.alias_pairs)} pairs)",
            _table_text(report.alias_pairs, limit),
        ),
        (
            f"Addresses outside the organisation domains ({len(report.outside_addresses)})",
            _table_text(report.outside_addresses, limit),
        ),
        (
            "User states (every state is counted in every figure; the analysis filters by "
            "user state only when a selection names one)",
            _table_text(report.user_states, 0),
        ),
        (
            f"Inactive users ({len(report.inactive_users)})",
            _table_text(report.inactive_users, limit),
        ),
        (
            f"Enrolled twice in one campaign ({len(report.double_enrolments)})",
            _table_text(report.double_enrolments.drop(columns=["campaign_id"]), limit),
        ),
        (
            f"Campaigns with no questions or more than {MAX_QUESTIONS_SEEN} "
            f"({len(report.question_counts)})",
            _table_text(report.question_counts.drop(columns=["campaign_id"]), 0),
        ),
        (
            f"Campaigns with group user count 0 although users were sent "
            f"({len(report.empty_groups)})",
            _table_text(report.empty_groups.drop(columns=["campaign_id"]), 0),
        ),
    ]
    for title, body in sections:
        lines += ["", title, body]
    by_severity = {
        s: [p for p in report.problems if p.severity == s] for s in (FAIL, WARNING, NOTE)
    }
    lines += [
        "",
        f"Result: {len(by_severity[FAIL])} failed reconciliation check(s), "
        f"{len(by_severity[WARNING])} warning(s), {len(by_severity[NOTE])} note(s).",
    ]
    lines += [f"  [{p.severity}] {_printable(p.message)}" for s in by_severity.values() for p in s]
    if not report.problems:
        lines.append(
            "  Nothing to report: the data is clean and agrees with the vendor's counters."
        )
    return "\n".join(lines)


# -- the notebook page and its report page ----------------------------------------------------


def _frame_html(frame: pd.DataFrame, *, scroll: bool = False) -> str:
    if frame.empty:
        return "<p><i>None.</i></p>"
    table = frame.to_html(index=False, na_rep="\u2014", escape=True, float_format="{:.3f}".format)
    if scroll:
        # A list of thousands of people scrolls inside the page instead of lengthening it.
        return f'<div style="max-height:480px;overflow:auto">{table}</div>'
    return table


def _record(
    campaign: str,
    metric: str,
    numerator: object,
    n: object,
    *,
    people: object = None,
    question: object = "",
    cell: object,
    hidden: bool,
) -> dict[str, Any]:
    """One reconciliation figure of a campaign, in the figure-record shape (see
    :mod:`awareness_analysis.views.figures`); a count with an n carries its share as rate."""
    numerator_value, n_value = figure_number(numerator), figure_number(n)
    rate = numerator_value / n_value if numerator_value is not None and n_value else None
    return {
        "view": _RECONCILIATION_CHART,
        "chart": _RECONCILIATION_CHART,
        "metric": metric,
        "campaign": campaign,
        "department": ALL,
        "question": question,
        "numerator": numerator_value,
        "n": n_value,
        "people": figure_number(people),
        "rate": figure_number(rate),
        "ci_low": None,
        "ci_high": None,
        "hidden": hidden,
        "cell": cell,
    }


class DataQuality:
    """Data quality and the reconciliation with the vendor's counters of an analysis.

    ``report`` holds the :class:`~awareness_analysis.data.quality.QualityReport` (the lists
    that name people emptied in a pseudonymised session and in a shared report); ``counts``
    the aggregate count of every finding (key, label, count, out of, whether it counts
    people). ``organisation_domains``: the organisation's mail domains (default: inferred).
    """

    title = "Data quality and reconciliation"

    def __init__(
        self,
        analysis: Analysis,
        *,
        organisation_domains: Collection[str] = (),
        autodraw: bool = True,
    ) -> None:
        self.analysis = analysis
        self.k = threshold(analysis.min_group_size)
        full = quality_of(analysis, organisation_domains=organisation_domains)
        self.counts = _counts(full)
        # A pseudonymised session or a shared report never holds the lists that name people.
        private = analysis.pseudonymise or analysis.report
        self.report = _without_people(full) if private else full
        options = [
            (label, name)
            for name, label in LIST_LABELS.items()
            if not (private and name in PERSONAL_LISTS)
        ]
        self.list_choice = w.Dropdown(
            options=options, value=options[0][1], description="List", style=LABEL_STYLE
        )
        self.summary = w.HTML()
        self.listing = w.HTML()
        self.list_choice.observe(self._on_change, names="value")
        self.widget = w.VBox(
            [
                w.HTML(f"<b>{html.escape(self.title)}</b>"),
                self.summary,
                self.list_choice,
                self.listing,
            ]
        )
        if autodraw and not analysis.report:
            self.redraw()

    def _on_change(self, change: dict[str, object]) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.summary.value = self.summary_html() + self.reconciliation_html()
        self.listing.value = self.list_html(str(self.list_choice.value))

    def list_html(self, name: str) -> str:
        """One full list of the report as an HTML table (scrolling when long)."""
        frame: pd.DataFrame = getattr(self.report, name)
        count = f"<p>{len(frame):,} row(s).</p>"
        return count + _frame_html(frame, scroll=True)

    # -- shared pieces ----------------------------------------------------------------------

    def _withheld(self, key: str, count: int, counts_people: bool) -> bool:
        """Whether a shared report shows "fewer than k" instead of the count: a count of 1 to
        k-1 people, or the personal addresses when the outside addresses minus them (the
        external ones) would be such a count."""
        if not (self.analysis.report and counts_people and self.k):
            return False
        if 0 < count < self.k:
            return True
        if key == "personal_addresses":
            outside = next(c for k, _, c, _, _ in self.counts if k == "outside_addresses")
            return 0 < outside - count < self.k
        return False

    def _count_text(self, key: str, count: int, counts_people: bool) -> str:
        if self._withheld(key, count, counts_people):
            return f"fewer than {self.k}"
        return f"{count:,}"

    def summary_html(self) -> str:
        """The findings as aggregate counts, then (outside a shared report) each problem."""
        r = self.report
        domains = ", ".join(r.organisation_domains) or "(none)"
        how = "inferred from the data" if r.domains_inferred else "given"
        rows = "".join(
            f"<tr><td>{html.escape(label)}</td><td>{self._count_text(key, count, people)}</td>"
            f"<td>{'' if whole is None else f'{whole:,}'}</td></tr>"
            for key, label, count, whole, people in self.counts
        )
        text = (
            f"<p>{r.campaigns:,} campaigns, {r.enrolments:,} enrolments (campaign x person rows) "
            f"of {r.people:,} people. Organisation domains ({html.escape(how)}): "
            f"{html.escape(domains)}.</p>"
        )
        if r.fetch_filter:
            text += (
                f"<p>The snapshot was fetched with a filter ({html.escape(r.fetch_filter)}): it "
                "holds part of each campaign, so the vendor's counters cannot agree with it.</p>"
            )
        text += (
            "<table><thead><tr><th>Finding</th><th>Count</th><th>Out of</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
        if not self.analysis.report:
            items = "".join(
                f"<li><b>{html.escape(p.severity)}</b>: {html.escape(p.message)}</li>"
                for p in r.problems
            )
            text += f"<ul>{items}</ul>" if items else "<p>Nothing to report.</p>"
        return text

    @functools.cached_property
    def _whole_view(self) -> View:
        """The report's view of every campaign: the cells its figures belong to."""
        return self.analysis.view(Selection())

    def _reconciliation_table(
        self,
    ) -> tuple[pd.DataFrame, list[dict[str, Any]], set[str], set[tuple[str, int]]]:
        """The reconciliation rows this page may show, their figure records, the ids of
        campaigns the plan hides and the (campaign, question) pairs it hides (in a report run;
        else every row, no records)."""
        r = self.report.reconciliation
        if not self.analysis.report:
            return r, [], set(), set()
        shown_ids = set(self.analysis.campaign_names)
        r = r[r["campaign_id"].isin(shown_ids)].reset_index(drop=True)
        view = self._whole_view
        rates = view.campaign_rates()
        completion = rates[rates["metric"] == "completion"]
        accuracy = view.question_accuracy()
        hidden: set[str] = set()
        cells: dict[str, object] = {}
        for row in completion.itertuples():
            cid = str(row.campaign_id)
            cells[cid] = getattr(row, "cell", None)
            if bool(row.suppressed):
                hidden.add(cid)
        question_cells = {
            (str(row.campaign_id), int(row.question)): (
                getattr(row, "cell", None),
                bool(row.suppressed),
                row.people,
            )
            for row in accuracy.itertuples()
        }
        records: list[dict[str, Any]] = []
        by_question = self.report.correct_by_question
        hidden |= {str(c) for c in r["campaign_id"]} - set(cells)
        hidden_questions = {
            (str(q.campaign_id), int(q.question))
            for q in by_question.itertuples()
            if question_cells.get((str(q.campaign_id), int(q.question)), (None, True))[1]
        }
        for row in r.itertuples():
            cid, name = str(row.campaign_id), str(row.campaign_name)
            cell, is_hidden = cells.get(cid), cid in hidden
            # A campaign's correct answers are the sum over its questions: with one question
            # hidden, the total minus the shown ones would give it.
            totals_hidden = is_hidden or any(c == cid for c, _ in hidden_questions)
            counts: list[tuple[str, object, object, object]] = [
                ("rows received", None, row.rows, row.people),
                ("numSent (vendor)", None, row.num_sent, None),
                ("numCompleted (vendor)", row.num_completed, row.rows, None),
                *(
                    (
                        f"completed: {text}",
                        getattr(row, f"completed_{definition}"),
                        row.rows,
                        row.people,
                    )
                    for definition, text in COMPLETION_DEFINITIONS.items()
                ),
                ("correct answers", row.correct_answers, None, row.people),
                ("numCorrectAnswers (vendor)", row.num_correct_answers, None, None),
            ]
            records += [
                _record(
                    name,
                    metric,
                    numerator,
                    n,
                    people=people,
                    cell=cell,
                    hidden=totals_hidden if "correct" in metric.lower() else is_hidden,
                )
                for metric, numerator, n, people in counts
            ]
            for q in by_question[by_question["campaign_id"] == cid].itertuples():
                q_cell, q_hidden, q_people = question_cells.get(
                    (cid, int(q.question)), (cell, True, None)
                )
                for metric, value, people in (
                    ("correct answers", q.correct, q_people),
                    ("numCorrectAnswers (vendor)", q.vendor, None),
                ):
                    records.append(
                        _record(
                            name,
                            metric,
                            value,
                            None,
                            people=people,
                            question=int(q.question),
                            cell=q_cell,
                            hidden=is_hidden or q_hidden,
                        )
                    )
        return r, records, hidden, hidden_questions

    def reconciliation_html(self) -> str:
        """The per-campaign reconciliation table and every difference (campaign-level counts
        only); in a report run, figures are logged and hidden campaigns blanked."""
        table, records, hidden, hidden_questions = self._reconciliation_table()
        counters, definitions = _counters_frame(table), _definitions_frame(table)
        differences = self.report.differences
        differences = differences[differences["campaign_id"].isin(set(table["campaign_id"]))]
        if hidden_questions:
            # No figure of a hidden question, nor the campaign totals that would give it.
            partly = {c for c, _ in hidden_questions}
            question = pd.to_numeric(differences["question"], errors="coerce")
            keep = [
                (c, int(q)) not in hidden_questions
                if pd.notna(q)
                else not (c in partly and "correct" in str(check))
                for c, q, check in zip(
                    differences["campaign_id"].astype(str),
                    question,
                    differences["check"],
                    strict=True,
                )
            ]
            differences = differences[pd.Series(keep, index=differences.index, dtype=bool)]
            counters = counters.astype(object)
            blank_totals = table["campaign_id"].astype(str).isin(partly).to_numpy()
            counters.loc[blank_totals, ["correct answers", "numCorrectAnswers"]] = None
        if hidden:
            blank = table["campaign_id"].isin(hidden).to_numpy()
            counters, definitions = counters.astype(object), definitions.astype(object)
            for frame in (counters, definitions):
                frame.loc[blank, frame.columns[1:]] = None
            counters.loc[blank, "status"] = f"hidden: fewer than {self.k} people"
            differences = differences[~differences["campaign_id"].isin(hidden)]
        meanings = "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(text)}"
            + (" (the analysis's completion rate)" if name == ANALYSIS_COMPLETION else "")
            + "</li>"
            for name, text in COMPLETION_DEFINITIONS.items()
        )
        text = (
            f"<h3>{html.escape(_RECONCILIATION_CHART)}</h3>"
            "<p>Per campaign: the rows received against <code>numSent</code>, the users who "
            "answered at least one question (the analysis's completion) against "
            "<code>numCompleted</code>, and the correct answers against "
            "<code>numCorrectAnswers</code> (per question where the snapshot recorded them). "
            "A campaign still running may differ by answers that arrived during the fetch.</p>"
            + _frame_html(counters)
            + "<h4>Which definition of completion matches numCompleted</h4>"
            f"<ul>{meanings}</ul>" + _frame_html(definitions)
        )
        if differences.empty:
            text += "<p>No differences: every campaign shown agrees with the vendor's counters.</p>"
        else:
            text += f"<h4>Differences ({len(differences)})</h4>" + _frame_html(
                differences.drop(columns=["campaign_id"])
            )
        context = self.analysis.context
        if context is not None:
            records += self._summary_records()
            publishable = [r for r in records if r["cell"] is not None]
            context.publish(publishable)
            text += data_table_html(publishable)
        return text

    def _summary_records(self) -> list[dict[str, Any]]:
        """The aggregate counts as figures of the whole report (the organisation's cell); a
        count of fewer than k people is not published."""
        attrs = self._whole_view.department_comparison("completion").attrs
        cell = attrs.get("org_cell")
        hidden = bool(attrs.get("org_suppressed"))
        records = []
        for key, label, count, whole, people in self.counts:
            if self._withheld(key, count, people):
                continue
            records.append(
                {
                    "view": _CHART,
                    "chart": _CHART,
                    "metric": label,
                    "campaign": ALL,
                    "department": ALL,
                    "question": "",
                    "numerator": count,
                    "n": whole,
                    # Every summary count is over the whole organisation's people.
                    "people": self.report.people,
                    "rate": count / whole if whole else None,
                    "ci_low": None,
                    "ci_high": None,
                    "hidden": hidden,
                    "cell": cell,
                }
            )
        return records

    def static_html(self) -> str:
        """The report page's body: aggregate counts and the reconciliation, no person."""
        return (
            self.summary_html()
            + self.reconciliation_html()
            + "<p><i>The lists behind these counts (aliases, outside addresses, inactive users, "
            "double enrolments) name people: they are in the notebook and in "
            "<code>awareness-analysis check</code>, never in a shared report.</i></p>"
        )

    def _ipython_display_(self) -> None:
        if self.analysis.report:
            display(HTML(self.static_html()))
        else:
            display(self.widget)
