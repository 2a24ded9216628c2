"""What the three estimators share: the base class (``base``), how an estimator trains
alone or in a detector's stack (``training``), the interface a detector's member
implements (``member``), input and output checks (``validation``) and fitted networks run
over many rows in chunks (``batches``)."""
