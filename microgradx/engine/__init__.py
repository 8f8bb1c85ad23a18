"""The engine: `Value`, `Op` and the backward driver. The files a learner reads, in this order:

``value.py`` (a node of the graph), ``op.py`` (an op: forward and derivative side by side),
``optable.py`` (the table from op names to ops), ``autograd.py`` (topological order, then
each node's backward once). ``errors.py`` holds the checks that make every error name its op.
``lanes.py`` helps write an op once for floats and lane arrays; ``anomaly.py`` is the
checking mode that names the first op to produce NaN or inf; ``parameter.py`` holds
`Parameter`, a Value a model trains, and `ParameterStore`, the flat arrays a training loop
may keep parameters in.
"""
