"""skae._tables.columns: column statistics gathered in chunks, and each column's role."""

import numpy as np
import pandas as pd
import pytest

from skae._tables.columns import ColumnsError, ColumnStats, choose_roles, model_frame


def stats_of(df, *, count_limit=20, chunks=1):
    stats = ColumnStats(count_limit=count_limit, sample_rows=0)
    for part in np.array_split(np.arange(len(df)), chunks):
        stats.update(df.iloc[part])
    return stats


@pytest.fixture
def table():
    rng = np.random.RandomState(0)
    n = 40
    return pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "hour": rng.randint(0, 24, size=n),
            "flag": rng.rand(n) > 0.5,
            "country": rng.choice(["FR", "DE", "IT"], size=n),
            "id": [f"u{i}" for i in range(n)],
            "constant_text": ["x"] * n,
            "when": pd.date_range("2026-01-01", periods=n, freq="h"),
            "empty": [np.nan] * n,
        }
    )


def test_each_column_gets_the_role_its_values_call_for(table):
    roles = choose_roles(stats_of(table))
    assert roles.numeric == ["amount", "hour", "flag"]
    assert roles.categorical == {"country": ["DE", "FR", "IT"]}
    assert set(roles.left_out) == {"id", "constant_text", "when", "empty"}
    assert "ID or free text" in roles.left_out["id"]
    assert roles.left_out["constant_text"] == "text with a single value"
    assert roles.left_out["when"].startswith("dates")
    assert roles.left_out["empty"] == "no values"
    assert roles.missing == {}
    assert roles.inputs == ["amount", "hour", "flag", "country"]


def test_the_roles_do_not_depend_on_the_chunking(table):
    one, many = choose_roles(stats_of(table)), choose_roles(stats_of(table, chunks=7))
    assert (one.numeric, one.categorical, one.left_out) == (
        many.numeric,
        many.categorical,
        many.left_out,
    )


def test_text_with_few_values_but_about_one_per_row_is_left_out():
    df = pd.DataFrame({"code": ["a", "b", "c", "d", "a"], "x": [1.0, 2, 3, 4, 5]})
    roles = choose_roles(stats_of(df))
    assert "code" in roles.left_out and "4 distinct values in 5 rows" in roles.left_out["code"]
    assert choose_roles(stats_of(df), categorical=["code"]).categorical == {
        "code": ["a", "b", "c", "d"]
    }


def test_more_categories_than_the_limit_leave_a_column_out_or_refuse_forcing_it(table):
    roles = choose_roles(stats_of(table, count_limit=2), max_categories=2)
    assert "more than 2 distinct values" in roles.left_out["country"]
    with pytest.raises(ColumnsError, match="raise --max-categories"):
        choose_roles(stats_of(table, count_limit=2), categorical=["country"], max_categories=2)


def test_missing_numbers_are_counted_and_refused_only_without_imputing(table):
    table.loc[[3, 7], "amount"] = np.nan
    assert choose_roles(stats_of(table)).missing == {"amount": 2}
    with pytest.raises(ColumnsError, match=r"missing values .*'amount': 2"):
        choose_roles(stats_of(table), impute=False)


def test_a_missing_text_value_is_counted_not_a_category(table):
    table.loc[[1, 2], "country"] = None
    stats = stats_of(table)
    assert choose_roles(stats).categorical["country"] == ["DE", "FR", "IT"]
    assert stats.columns["country"].counts["nan"] == 2


def test_columns_restricts_and_ignore_leaves_out(table):
    roles = choose_roles(stats_of(table), columns=["amount", "country"], ignore=["country"])
    assert roles.numeric == ["amount"] and roles.categorical == {}
    assert roles.left_out["country"] == "--ignore"
    assert roles.left_out["hour"] == "not in --columns"


def test_columns_naming_an_unusable_column_is_refused(table):
    with pytest.raises(ColumnsError, match="--columns names 'id', which cannot be used"):
        choose_roles(stats_of(table), columns=["amount", "id"])


@pytest.mark.parametrize("option", ["columns", "categorical", "ignore"])
def test_unknown_names_are_refused_naming_the_option(table, option):
    with pytest.raises(ColumnsError, match=f"--{option} names columns that are not in"):
        choose_roles(stats_of(table), **{option: ["nope"]})


def test_a_column_both_forced_and_ignored_is_refused(table):
    with pytest.raises(ColumnsError, match="both in --categorical and --ignore"):
        choose_roles(stats_of(table), categorical=["hour"], ignore=["hour"])


def test_infinite_values_are_refused_with_the_first_row(table):
    table.loc[5, "amount"] = np.inf
    with pytest.raises(ColumnsError, match="first at data row 6"):
        choose_roles(stats_of(table, chunks=3))


def test_values_whose_variance_overflows_are_refused(table):
    table["amount"] = table["amount"] * 1e200
    with pytest.raises(ColumnsError, match="too large to standardise"):
        choose_roles(stats_of(table))


def test_a_table_with_no_usable_column_is_refused():
    df = pd.DataFrame({"id": [f"u{i}" for i in range(10)], "empty": [np.nan] * 10})
    with pytest.raises(ColumnsError, match="no column skae fit can use"):
        choose_roles(stats_of(df))


def test_model_frame_gives_numbers_and_canonical_categories(table):
    roles = choose_roles(stats_of(table))
    frame = model_frame(table, roles)
    assert list(frame.columns) == roles.inputs
    assert frame["flag"].dtype == np.float64 and set(frame["flag"]) <= {0.0, 1.0}
    assert set(frame["country"]) <= {"DE", "FR", "IT"}


def test_values_beyond_float32_are_refused_naming_the_column(table):
    """The model computes in float32: such a column would make every row unscoreable."""
    import warnings

    table.loc[3, "amount"] = 5e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning on the way
        with pytest.raises(ColumnsError, match=r"'amount'.*beyond float32.*data row 4"):
            choose_roles(stats_of(table, chunks=2))


def test_a_categorical_dtype_counts_the_values_that_occur():
    """3 of 200 declared categories used: counted as 3, so one-hot encoded (and
    --categorical accepts it)."""
    declared = [f"c{i}" for i in range(200)]
    df = pd.DataFrame(
        {
            "kind": pd.Categorical(["c1", "c2", "c3"] * 20, categories=declared),
            "x": np.arange(60.0),
        }
    )
    assert choose_roles(stats_of(df)).categorical == {"kind": ["c1", "c2", "c3"]}
    assert choose_roles(stats_of(df), categorical=["kind"]).categorical["kind"] == [
        "c1",
        "c2",
        "c3",
    ]


@pytest.mark.parametrize("chunks", [1, 7])
def test_integer_columns_that_look_like_ids_are_left_out_and_others_kept(chunks):
    rng = np.random.RandomState(0)
    n = 200
    df = pd.DataFrame(
        {
            "customer_id": rng.permutation(n) + 5000,  # unique, named like an ID
            "CustomerID": rng.permutation(n),
            "orderId": rng.permutation(n),
            "row": np.arange(n),  # unique, in row order
            "countdown": np.arange(n)[::-1] * 3,
            "price_cents": rng.permutation(n) * 7 + 11,  # unique, no ID name, no order
            "quantity": rng.randint(0, 10, size=n),  # repeats
            "paid": rng.permutation(n),  # ends in "id", not an ID's name
            "x": rng.normal(size=n),
        }
    )
    roles = choose_roles(stats_of(df, chunks=chunks))
    ids = ["customer_id", "CustomerID", "orderId", "row", "countdown"]
    assert set(roles.left_out) == set(ids)
    assert all(roles.left_out[c].startswith("an ID (whole numbers") for c in ids)
    assert "named like one" in roles.left_out["customer_id"]
    assert "in row order" in roles.left_out["row"]
    assert roles.numeric == ["price_cents", "quantity", "paid", "x"]
    forced = choose_roles(stats_of(df, chunks=chunks), numeric=["customer_id"])
    assert "customer_id" in forced.numeric and "customer_id" not in forced.left_out


def test_a_nearly_unique_id_column_is_an_id_and_a_repeating_one_is_not():
    ids = np.arange(1000)
    nearly = pd.DataFrame({"user_id": np.r_[ids[:995], ids[:5]], "x": np.zeros(1000)})
    assert "nearly one per row" in choose_roles(stats_of(nearly)).left_out["user_id"]
    often = pd.DataFrame({"user_id": np.repeat(ids[:100], 10), "x": np.zeros(1000)})
    assert "user_id" in choose_roles(stats_of(often)).numeric


def test_numeric_refuses_text_and_conflicting_options(table):
    with pytest.raises(ColumnsError, match="--numeric names 'country', which is text"):
        choose_roles(stats_of(table), numeric=["country"])
    with pytest.raises(ColumnsError, match="both in --numeric and --ignore"):
        choose_roles(stats_of(table), numeric=["hour"], ignore=["hour"])
