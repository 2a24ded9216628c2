"""The detector's internals: its members trained in stacks, the scoring network, the
calibration, the neighbour term, the conformal thresholds, the bounded sample of rows seen,
the default ensemble.

``ensemble`` (training members as few stacked networks as pays), ``scorer`` (the members
and their weights as one scoring network), ``calibration`` (error scales, code
statistics, robust weights, the threshold), ``neighbors`` (the neighbour term: its
reference rows or centroids, and its module), ``conformal`` (held-out calibration scores,
p-values), ``reservoir`` (a uniform sample of the rows
``partial_fit`` has seen) and ``default_members`` (the default ensemble, sized from the
data). Members are used through the interface in :mod:`skae._estimators.member`.
"""
