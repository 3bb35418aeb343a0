"""The words every layer shares: outcome values, table names, labels, metrics and units.

Defined once here (this module imports nothing from the package), so the API client, the
frames, the analysis engine, the charts and the fake API cannot drift apart.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BEHAVIOUR_SOURCES",
    "BEHAVIOUR_TABLES",
    "DEPARTMENT_METRICS",
    "METRICS",
    "MIN_GROUP_SIZE_LABEL",
    "OUTCOMES",
    "PHISH_STATUSES",
    "PSEUDONYMISE",
    "RISK_GRADES",
    "SELECTION_HINT",
    "STATUS_LABELS",
    "STORE_ENV",
    "SUPPRESSED_LABEL",
    "TABLES",
    "UNASSIGNED_DEPARTMENT",
    "UNIT_ANSWERS",
    "UNIT_ENROLMENTS",
    "UNIT_PEOPLE",
    "USER_METRICS",
]

#: A user's outcome in a campaign, and an answer's result: ``sent`` = nothing answered yet.
#: The API spells them upper case (``SENT``, ``CORRECT``, ``INCORRECT``).
OUTCOMES: Final = ("sent", "correct", "incorrect")
#: How filters and tables name each outcome for people.
STATUS_LABELS: Final = {"sent": "not answered", "correct": "correct", "incorrect": "incorrect"}
#: How far a person went with a simulated phishing email, in order (also the phishing
#: user-data endpoint's ``filterBy`` status values).
PHISH_STATUSES: Final = ("sent", "opened", "clicked", "submitted")
#: SAFE risk grades, by rising risk (A is the lowest risk, F the highest).
RISK_GRADES: Final = ("A", "B", "C", "D", "F")

#: Tables of a snapshot, in the order they are written and exported.
TABLES: Final = ("campaigns", "users", "answers")
#: Optional extra tables a snapshot may hold (the behaviour endpoints), in the order they are
#: written and hashed.
BEHAVIOUR_TABLES: Final = (
    "phish_campaigns",
    "phish_templates",
    "phish_users",
    "phish_user_totals",
    "safe_scores",
    "safe_summary",
    "watchlist",
    "performance",
    "training_modules",
    "module_options",
)
#: What ``fetch --include`` accepts (besides ``all``): each source and the tables it fills.
BEHAVIOUR_SOURCES: Final = {
    "phishing": ("phish_campaigns", "phish_templates", "phish_users", "phish_user_totals"),
    "safe": ("safe_scores", "safe_summary"),
    "watchlist": ("watchlist",),
    "performance": ("performance",),
    "queue": ("training_modules", "module_options"),
}

#: Department shown for users whose department is empty or missing.
UNASSIGNED_DEPARTMENT: Final = "(unassigned)"
#: Department label of the groups combined by small-group suppression.
SUPPRESSED_LABEL: Final = "(suppressed)"
#: How controls name the suppression threshold k (the API parameter is ``min_group_size``);
#: notes and tooltips say "minimum group size" in lower case.
MIN_GROUP_SIZE_LABEL: Final = "Minimum group size"
#: How a dashboard's multi-select lists work, in one line under the controls.
SELECTION_HINT: Final = (
    "Ctrl-click (Cmd-click on a Mac) to pick several, Shift-click for a range; "
    "All picks every option, Clear empties the choice. An empty choice means all."
)

#: Rates counted per enrolment (campaign x user), in the order charts list them.
USER_METRICS: Final = ("acknowledgement", "completion", "all_correct")
#: Rate counted per answered question.
ACCURACY: Final = "accuracy"
#: Every metric a department comparison accepts.
DEPARTMENT_METRICS: Final = (*USER_METRICS, ACCURACY)
METRICS: Final = DEPARTMENT_METRICS

#: What a count counts. A person is a person: pooled views over several campaigns count
#: enrolments (one per campaign x person) or answers, and say so.
UNIT_PEOPLE: Final = "people"
UNIT_ENROLMENTS: Final = "enrolments"
UNIT_ANSWERS: Final = "answers"

#: The one name of the option that replaces emails and names with keyed pseudonyms
#: (``load_analysis(pseudonymise=...)``, the notebooks' parameter, ``report --pseudonymise``).
PSEUDONYMISE: Final = "pseudonymise"

#: Environment variable naming the store notebooks open when given no store path.
STORE_ENV: Final = "AWARENESS_STORE"
