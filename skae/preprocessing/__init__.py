"""Preprocessing for outlier detection: the encoders ``skae fit`` puts before its detector.

:class:`CategoryEncoder` one-hot encodes text columns and standardises them, with an
output of its own for categories never seen at fit, standardised as a category seen once,
so that a new category stands out (scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``
encodes it as all zeros, which once standardised looks like an average row). Put it in a
``ColumnTransformer`` next to the number columns' scaler; the Pipeline exports to ONNX
with :func:`skae.onnx.to_onnx` (one input per column from a DataFrame sample), and the
graph encodes exactly as Python does.

Needs scikit-learn and pandas (the ``train`` extra), not torch.
"""

from .._tables.categories import CategoryEncoder

__all__ = ["CategoryEncoder"]
