"""Search spaces: YAML files of model families (branches) and the values of their hyper-parameters.

>>> space = SearchSpace.from_dict({"name": "demo", "scales": [2],
...                                "branches": [{"family": "espcn", "params": {"width1": 0, "width2": [3, 9]}}]})
>>> space.count(), [c["width2"] for c in space.enumerate()]
(2, [3, 9])

See :mod:`nas_sr.space.schema` for the file format and ``search_spaces/`` for examples.
"""

from nas_sr.space.errors import SpaceError
from nas_sr.space.loader import load_space
from nas_sr.space.params import Choice, FloatRange, Fixed, IntRange, Param
from nas_sr.space.space import Branch, SearchSpace

__all__ = [
    "Branch",
    "Choice",
    "Fixed",
    "FloatRange",
    "IntRange",
    "Param",
    "SearchSpace",
    "SpaceError",
    "load_space",
]
