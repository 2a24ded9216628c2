"""Tables, torch-free: reading and writing CSV and Parquet files (``formats``,
``dialects``, ``reading``, ``writing``), values as a model takes them (``values``), and
for ``skae fit`` the columns' roles (``columns``) and the preprocessing built from them
(``preprocessing``, which needs scikit-learn).

Nothing here imports torch or the estimators; only ``preprocessing`` imports
scikit-learn (and ``columns``, inside the streamed statistics).
"""
