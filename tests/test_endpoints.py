"""Request building and validation for the campaign endpoints: no HTTP involved."""

from __future__ import annotations

import pytest

from awareness_analysis.api.endpoints import UserDataFilter, UserDataQuery, parse_search


def test_plain_query_body_puts_campaign_in_data_id() -> None:
    assert UserDataQuery("camp-1").request_data() == {"id": "camp-1"}


def test_full_query_body() -> None:
    query = UserDataQuery(
        "camp-1",
        UserDataFilter("customAttribute", "Leeds", ("sent", "incorrect"), ("attr-1", "attr-2")),
    )
    assert query.request_data() == {
        "id": "camp-1",
        "searchBy": {"fieldName": "customAttribute", "value": "Leeds"},
        "filterBy": [
            {"fieldName": "status", "value": "sent"},
            {"fieldName": "status", "value": "incorrect"},
        ],
        "attributeIds": ["attr-1", "attr-2"],
    }


@pytest.mark.parametrize("field", ["name", "email", "department"])
def test_search_fields(field: str) -> None:
    body = UserDataQuery("c", UserDataFilter(field, "x")).request_data()
    assert body["searchBy"] == {"fieldName": field, "value": "x"}


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"search_field": "title", "search_value": "x"}, "'title' is not supported"),
        ({"search_field": "name", "search_value": "  "}, "value for name is empty"),
        ({"search_field": "name"}, "both a field and a value"),
        ({"search_value": "x"}, "both a field and a value"),
        ({"statuses": ("done",)}, "'done' is not supported"),
        ({"statuses": ("sent", "sent")}, "repeats"),
        ({"attribute_ids": ("a", "b", "c", "d")}, "at most 3"),
        ({"attribute_ids": ("a", "")}, "empty id"),
        ({"search_field": "customAttribute", "search_value": "x"}, "requires attributeIds"),
    ],
)
def test_invalid_filters_raise_value_error_naming_the_field(
    kwargs: dict[str, object], pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        UserDataFilter(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("campaign_id", ["", "   "])
def test_empty_campaign_id(campaign_id: str) -> None:
    with pytest.raises(ValueError, match="campaign_id is empty"):
        UserDataQuery(campaign_id)


def test_filter_parameters_for_manifest() -> None:
    f = UserDataFilter("department", "Finance", ("correct",))
    assert f.parameters() == {
        "search": {"field": "department", "value": "Finance"},
        "statuses": ["correct"],
        "attribute_ids": [],
    }
    assert UserDataFilter().is_empty and not f.is_empty


def test_parse_search() -> None:
    assert parse_search("department=Finance & Legal") == ("department", "Finance & Legal")
    assert parse_search("email=a=b") == ("email", "a=b")
    for bad in ("department", "=x", "name=", " = "):
        with pytest.raises(ValueError, match="FIELD=VALUE"):
            parse_search(bad)
