"""A helper computing a constant at import time, wrongly."""

import math


def scale(x):
    """log(x): raises ValueError (math domain error) for x <= 0."""
    return math.log(x)


SCALE = scale(-1.0)  # the bug, deep in a helper module
