"""The strictly typed value codec every boundary uses."""

from __future__ import annotations

import collections
import math

import pytest

from codelm.eval.sandbox._runtime import ProtocolError, Unsupported, decode_value, encode_value

pytestmark = pytest.mark.timeout(30)


def roundtrip(v):
    return decode_value(encode_value(v))


def test_plain_values_round_trip_with_exact_types():
    values = [None, True, False, 0, -7, 10 ** 5000, 1.5, -0.0, math.inf, "x\udcff", b"\x00\xff",
              bytearray(b"ab"), 1 + 2j, [1, [2, (3,)]], (1, "a"), {1: {2: [3]}, (1, 2): None}, {1, 2},
              frozenset({"a"}), [], (), {}, set()]
    for v in values:
        back = roundtrip(v)
        assert back == v and type(back) is type(v)
    assert math.isnan(roundtrip(math.nan))
    assert type(roundtrip(True)) is bool and type(roundtrip(1)) is int
    assert roundtrip([1, 1.0, True]) == [1, 1.0, True] and [type(x) for x in roundtrip([1, 1.0, True])] == [int, float, bool]


def test_subclasses_cross_as_their_base_value():
    class Liar(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    class Name(str):
        def __str__(self):
            return "forged"

    assert type(roundtrip(Liar(3))) is int and roundtrip(Liar(3)) == 3 and roundtrip(Liar(3)) != 4
    assert roundtrip(Name("real")) == "real" and type(roundtrip(Name("real"))) is str
    assert roundtrip(collections.Counter("aab")) == {"a": 2, "b": 1}
    assert type(roundtrip(collections.OrderedDict(a=1))) is dict
    Point = collections.namedtuple("Point", "x y")
    assert roundtrip(Point(1, 2)) == (1, 2) and type(roundtrip(Point(1, 2))) is tuple


def test_objects_need_a_handle_table():
    class Obj:
        pass

    with pytest.raises(Unsupported):
        encode_value(Obj())
    with pytest.raises(Unsupported):
        encode_value(iter([1]))
    assert encode_value([Obj()], lambda o: ["R", 7, type(o).__name__]) == ["l", [["R", 7, "Obj"]]]
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(Unsupported):
        encode_value(cyclic)
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(Unsupported):
        encode_value(deep)


@pytest.mark.parametrize("bad", [
    "x", [], ["i"], ["i", "12g"], ["i", 3], ["f", "nope"], ["s", 1], ["l", [["n"], "x"]], ["S", [["l", []]]],
    ["d", [[["l", []], ["n"]]]], ["d", [["n"]]], ["R", 1, "Obj"], ["zz", 1], ["b", 1],
])
def test_malformed_values_are_rejected(bad):
    with pytest.raises(ProtocolError):
        decode_value(bad)
