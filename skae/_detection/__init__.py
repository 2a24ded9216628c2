"""The detector's internals: its members trained in stacks, the scoring network, the
calibration, the neighbour term, the conformal thresholds, the bounded sample of rows seen,
the default ensemble.

``ensemble`` (training members as few stacked networks as pays), ``scorer`` (the members
and their weights as one scoring network), ``calibration`` (error scales, code
statistics, robust weights, the threshold), ``conformal`` (the false-alarm threshold and
p-values), ``calibration_sample`` (which rows are held out, for how long, and the
training sample), ``reservoir`` (a uniform sample of the rows ``partial_fit`` has seen),
``neighbors`` (the neighbour term: its reference rows or centroids, and its module),
``members`` (validating, making and seeding the members) and ``default_members`` (the
default ensemble, sized from the data). Members are used through the interface in
:mod:`skae._estimators.member`.
"""
