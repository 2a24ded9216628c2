"""The training engine shared by every estimator; it knows nothing of scikit-learn.

``engine`` (:func:`~skae._train.engine.train`: the loop, as named steps), ``stopping``
(early stopping and the best weights), ``progress`` (the progress bar), ``interrupts``
(Ctrl-C between steps), ``devices`` (placement, out-of-memory), ``optim`` (Adam, AdamW,
SGD) and ``threads`` (how many CPU threads a call uses).
"""
