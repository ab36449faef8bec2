"""netcalc.jsontext.dumps must be the standard library's json.dumps(…, indent=…), byte for byte:
on generated values (every JSON type, nesting, non-ASCII and escaped strings, non-string keys,
NaN and infinities, tuples, subclasses) and on every bundled spec's report."""

from __future__ import annotations

import json
import math
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc import jsontext, report
from netcalc.analysis import analyze_file

ROOT = pathlib.Path(__file__).resolve().parent.parent

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text())
keys = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                      | st.dictionaries(keys, inner, max_size=5), max_leaves=40)


@settings(max_examples=300)
@given(values, st.integers(min_value=0, max_value=4), st.booleans())
def test_equals_the_standard_library(value, indent, ensure_ascii):
    assert jsontext.dumps(value, indent, ensure_ascii) == json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


class Count(int):
    pass


class Name(str):
    pass


def test_subclasses_and_special_floats():
    value = {"n": Count(3), Name("k"): [Name("é\n\"x"), Count(0), True, False, None, math.nan, -math.inf],
             1.5: {}, 2: [], None: [[]], False: ()}
    for ascii_only in (True, False):
        assert jsontext.dumps(value, 2, ascii_only) == json.dumps(value, indent=2, ensure_ascii=ascii_only)


def test_not_json_is_refused_like_the_standard_library():
    for bad in ({"a": {1, 2}}, [object()], {(1, 2): 3}):
        with pytest.raises(TypeError):
            json.dumps(bad, indent=2)
        with pytest.raises(TypeError):
            jsontext.dumps(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_report(path):
    data = report.to_dict(analyze_file(path))
    assert jsontext.dumps(data) == json.dumps(data, indent=2)


def test_remembered_texts_never_cross_equal_values_of_other_types():
    # the writer remembers lists' and dicts' key texts; 1 == True == 1.0, but their texts differ
    value = [{1: [1, 1]}, {True: [True, True]}, {1.0: [1.0, 1.0]}, {"1": ["1"]}, [0.0], [-0.0],
             {"a": 1}, {"a": 1, "b": [1]}, {"b": 1, "a": 2}]
    assert jsontext.dumps(value) == json.dumps(value, indent=2)
