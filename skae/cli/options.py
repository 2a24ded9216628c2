"""Each command's options as one frozen dataclass, built from argparse's Namespace once.

The command modules take these, never a Namespace: library code does not know flag
spellings, tests set fields instead of patching module constants, and nothing mutates an
option after parsing.
"""

from __future__ import annotations

import dataclasses

from .._tables.dialects import dialect_for

# ``skae fit`` reads a file whole below this size; larger files are streamed.
STREAM_FILE_BYTES = 512 * 2**20
# Rows per chunk when ``skae fit`` streams without --chunk-rows.
DEFAULT_CHUNK_ROWS = 50_000
# Text columns with at most this many distinct values are one-hot encoded by ``skae fit``.
MAX_CATEGORIES = 20
# Rows ``skae score`` reads and scores at a time.
SCORE_CHUNK_ROWS = 100_000


def from_namespace(cls, namespace):
    """An options object of ``cls`` from the argparse Namespace's attributes of the same
    names (fields argparse does not set keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(
        **{
            k: tuple(v) if isinstance(v, list) else v
            for k, v in vars(namespace).items()
            if k in names
        }
    )


@dataclasses.dataclass(frozen=True)
class TableOptions:
    """How CSV files are read: ``sep`` and ``decimal`` given, or detected per file."""

    sep: str | None = None
    decimal: str | None = None

    def dialect(self, path):
        """The CSV dialect of ``path`` (None for Parquet)."""
        return dialect_for(path, sep=self.sep, decimal=self.decimal)


@dataclasses.dataclass(frozen=True)
class FitOptions(TableOptions):
    """``skae fit``: a table's columns -> preprocessing -> detector -> one ONNX graph."""

    data: str = ""
    output: str = ""
    contamination: float | str | None = None  # None: 0.1, unless false_alarm_rate
    false_alarm_rate: float | None = None
    novelty: str = "auto"  # "auto", "yes" or "no"
    no_training_rows: bool = False  # references="centroids"
    model: str = "ae"
    columns: tuple | None = None
    categorical: tuple = ()
    ignore: tuple = ()
    numeric: tuple = ()
    max_categories: int = MAX_CATEGORIES
    impute: str = "median"
    missing_indicator: bool = False
    max_iter: int | None = None
    chunk_rows: int | None = None
    epochs: int | None = None
    device: str = "auto"
    n_jobs: int | None = None
    seed: int = 0
    quiet: bool = False
    # not flags: when a file is streamed, and the chunks then
    stream_file_bytes: int = STREAM_FILE_BYTES
    default_chunk_rows: int = DEFAULT_CHUNK_ROWS

    @property
    def rows_per_chunk(self):
        """Rows per chunk when streaming: --chunk-rows, or the default."""
        return self.chunk_rows or self.default_chunk_rows


@dataclasses.dataclass(frozen=True)
class ScoreOptions(TableOptions):
    """``skae score``: a table scored with an exported model, written with its scores."""

    model: str = ""
    data: str = ""
    output: str = ""
    threshold: float | None = None
    chunk_size: int = SCORE_CHUNK_ROWS
    quiet: bool = False


@dataclasses.dataclass(frozen=True)
class ExportOptions(TableOptions):
    """``skae export``: a joblib-saved fitted estimator or Pipeline to ONNX."""

    model: str = ""
    output: str = ""
    no_feature_errors: bool = False
    sample: str | None = None


@dataclasses.dataclass(frozen=True)
class InfoOptions:
    """``skae info``: an exported model's metadata, inputs and outputs."""

    model: str = ""
    params: bool = False


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """``skae demo``: the main job end to end on bundled digits."""

    output: str = "skae-demo"
    quick: bool = False
    rare: int = 7
    seed: int = 0
