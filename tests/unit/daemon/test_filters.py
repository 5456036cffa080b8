"""The filters query parameter."""

import pytest

from daemon.errors import InvalidParameter
from daemon.filters import Filters


def test_modern_form() -> None:
    f = Filters.parse('{"name":{"x":true},"status":{"exited":true,"created":true}}')
    assert f.get("name") == ["x"]
    assert f.get("status") == ["created", "exited"]
    assert f.get("label") == []
    assert f.contains("status") and not f.contains("label")
    assert len(f) == 2


def test_legacy_form() -> None:
    f = Filters.parse('{"container":["abc"],"type":["container"]}')
    assert f.get("container") == ["abc"]
    assert f.get("type") == ["container"]


@pytest.mark.parametrize("raw", [None, "", "null", "{}"])
def test_empty(raw: str | None) -> None:
    f = Filters.parse(raw)
    assert len(f) == 0
    assert f.match("name", "anything")


@pytest.mark.parametrize(
    "raw", ["{", "[]", '"x"', '{"a":"b"}', '{"a":{"b":"yes"}}', '{"a":["x"],"b":{"y":true}}']
)
def test_invalid_json_is_invalid_parameter(raw: str) -> None:
    with pytest.raises(InvalidParameter, match=r"^invalid filter$"):
        Filters.parse(raw)


def test_from_query() -> None:
    assert Filters.from_query({"filters": '{"id":{"abc":true}}'}).get("id") == ["abc"]
    assert len(Filters.from_query({})) == 0


def test_validate_unknown_key() -> None:
    f = Filters.parse('{"name":{"x":true},"foo":{"y":true}}')
    with pytest.raises(InvalidParameter, match=r"^Invalid filter 'foo'$"):
        f.validate({"name", "status", "label"})
    f.validate(["name", "foo"])


def test_match_exact_and_regex() -> None:
    f = Filters({"name": ["^web-[0-9]+$", "db"]})
    assert f.match("name", "db")
    assert f.match("name", "web-12")
    assert f.match("name", "mydb2")  # unanchored, like Go's regexp.MatchString
    assert not f.match("name", "cache")
    assert Filters({"name": ["(["]}).match("name", "([") is True  # exact beats bad regex
    assert not Filters({"name": ["(["]}).match("name", "x")


def test_exact_fuzzy_and_unique() -> None:
    f = Filters({"id": ["abc"]})
    assert f.exact_match("id", "abc") and not f.exact_match("id", "abcdef")
    assert f.fuzzy_match("id", "abcdef") and not f.fuzzy_match("id", "xabc")
    assert f.unique_exact_match("id", "abc")
    assert not Filters({"id": ["a", "b"]}).unique_exact_match("id", "a")
    assert Filters().exact_match("id", "whatever")


def test_match_kv_for_labels() -> None:
    labels = {"com.example.role": "web", "tier": ""}
    assert Filters({"label": ["com.example.role"]}).match_kv("label", labels)
    assert Filters({"label": ["com.example.role=web"]}).match_kv("label", labels)
    assert Filters({"label": ["tier="]}).match_kv("label", labels)
    assert not Filters({"label": ["com.example.role=db"]}).match_kv("label", labels)
    assert not Filters({"label": ["missing"]}).match_kv("label", labels)
    both = Filters({"label": ["com.example.role=web", "tier"]})
    assert both.match_kv("label", labels)
    assert not both.match_kv("label", {"com.example.role": "web"})
    assert not both.match_kv("label", None)
    assert Filters().match_kv("label", None)


def test_get_bool() -> None:
    assert Filters.parse('{"dangling":{"true":true}}').get_bool("dangling", False) is True
    assert Filters.parse('{"dangling":{"0":true}}').get_bool("dangling", True) is False
    assert Filters().get_bool("dangling", True) is True
    with pytest.raises(InvalidParameter, match="Invalid filter 'dangling'"):
        Filters.parse('{"dangling":{"maybe":true}}').get_bool("dangling", False)
    with pytest.raises(InvalidParameter):
        Filters.parse('{"dangling":{"true":true,"false":true}}').get_bool("dangling", False)


def test_add_and_round_trip() -> None:
    f = Filters()
    f.add("type", "container")
    f.add("type", "image")
    assert f.to_json() == '{"type":{"container":true,"image":true}}'
    assert Filters.parse(f.to_json()).get("type") == ["container", "image"]
