"""libcontainerd.jsonbytes: compact JSON, with the stdlib for what orjson refuses."""

from __future__ import annotations

import json

from libcontainerd.jsonbytes import dumps, loads


def test_compact_as_go_writes_it() -> None:
    assert dumps({"a": 1, "b": [1, "é"], 3: None}) == '{"a":1,"b":[1,"é"],"3":null}'.encode()
    assert dumps({"a": 1}, newline=True) == b'{"a":1}\n'


def test_an_int_beyond_64_bits_still_encodes() -> None:
    big = 2**70
    assert json.loads(dumps({"n": big})) == {"n": big}
    assert dumps([big], newline=True) == f"[{big}]\n".encode()


def test_what_dumps_wrote_reads_back_the_same() -> None:
    big = 2**70
    for document in ({"n": big}, {"n": 2**63 - 1, "f": 0.5, "s": "é"}, [1, [2, {"x": None}]]):
        assert loads(dumps(document)) == document
    assert isinstance(loads(dumps({"n": big}))["n"], int)
    # The run of digits anywhere: first, last, or after a minus sign (odd: no float
    # has that value).
    odd = big + 1
    for raw in (f"{odd}", f"[1,-{odd}]", f'{{"s":"1.5","n":{2**64 - 1},"b":{odd}}}'):
        assert loads(raw.encode()) == json.loads(raw)
    assert isinstance(loads(str(odd).encode()), int)


def test_sorted_keys_give_equal_values_equal_bytes() -> None:
    first = {"b": [1, {"y": 2, "x": (3, 4)}], "a": None}
    second = {"a": None, "b": [1, {"x": [3, 4], "y": 2}]}
    assert dumps(first, sort_keys=True) == dumps(second, sort_keys=True)
    assert dumps(first, sort_keys=True) == b'{"a":null,"b":[1,{"x":[3,4],"y":2}]}'
    assert dumps(first) != dumps(second)  # insertion order, as before
    big = {"z": 2**70, "a": 1}  # the stdlib's fallback sorts too
    assert dumps(big, sort_keys=True) == f'{{"a":1,"z":{2**70}}}'.encode()
    assert dumps({"b": 1, "a": 2}, newline=True, sort_keys=True) == b'{"a":2,"b":1}\n'
