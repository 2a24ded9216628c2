"""skae._tables.values: numbers and categories as a model takes them."""

import numpy as np
import pandas as pd
import pytest

from skae._tables.values import RowsError, as_number, as_text, is_missing


def test_as_number_parses_text_booleans_and_missing_markers():
    column = pd.Series(["1.5", "", "NA", "true", "False", None, "-2"], name="c")
    np.testing.assert_array_equal(as_number(column), [1.5, np.nan, np.nan, 1.0, 0.0, np.nan, -2.0])


def test_as_number_names_the_column_and_the_first_bad_value():
    with pytest.raises(RowsError, match="column 'c' is not numeric: it holds 'abc'") as info:
        as_number(pd.Series(["1", "2", "abc", "x"], name="c"))
    assert info.value.position == 2


def test_as_number_takes_nullable_and_boolean_dtypes():
    column = pd.Series([1, None, 3], dtype="Int64")
    np.testing.assert_array_equal(as_number(column), [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(as_number(pd.Series([True, False])), [1.0, 0.0])


def test_as_text_gives_one_canonical_text_per_value():
    column = pd.Series([1, 1.0, "1.0", " 1 ", "b", None, "NA", np.nan], dtype=object)
    assert list(as_text(column)) == ["1", "1", "1", "1", "b", "nan", "nan", "nan"]


def test_is_missing_knows_the_markers():
    values = np.array(["", "null", "x", None, np.nan, " NA "], dtype=object)
    assert list(is_missing(values)) == [True, True, False, True, True, True]


def test_bytes_categories_are_their_utf8_text():
    column = pd.Series([b"FR", "FR", b"DE", None], dtype=object)
    assert as_text(column).tolist() == ["FR", "FR", "DE", "nan"]


def test_complex_numbers_are_refused_naming_the_column():
    with pytest.raises(ValueError, match="column 'z' holds complex numbers"):
        as_number(pd.Series([1 + 2j, 3.0]), "z")
