"""A validated search space: branches of model families, counted, enumerated or sampled."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from nas_sr.models.registry import ConfigError, canonical_config, family_names, get_family
from nas_sr.space.errors import FieldError, Loc, SpaceError, show
from nas_sr.space.params import Fixed, FloatRange, Param, parse_param
from nas_sr.space.schema import SpaceSpec, validate

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

    from nas_sr.models.base import Family

#: Branches with at most this many configurations have each one checked by their family.
EXHAUSTIVE_CHECK_LIMIT = 200_000
#: Values per hyper-parameter (evenly spread) in the pairwise check of larger branches.
PAIR_VALUES = 32


@dataclass(frozen=True)
class Branch:
    """One family and the values of each of its hyper-parameters (in the family's order)."""

    name: str
    family: str
    params: Mapping[str, Param]

    def domains(self) -> list[Sequence[Any] | None]:
        """Each hyper-parameter's values (``None`` for a continuous range)."""
        return [param.values() for param in self.params.values()]

    def size(self) -> int | None:
        """Configurations per scale, or ``None`` when a range is continuous."""
        sizes = [len(values) for values in self.domains() if values is not None]
        return math.prod(sizes) if len(sizes) == len(self.params) else None

    def describe(self) -> str:
        """``"kernel_size in [3, 5]; channels = 4"``: each hyper-parameter's values."""
        parts = [f"{k} {'=' if isinstance(p, Fixed) else 'in'} {p.describe()}" for k, p in self.params.items()]
        return "; ".join(parts) or "-"


@dataclass(frozen=True)
class SearchSpace:
    """Model configurations to search: each branch's at each scale, in one colour mode.

    >>> space = SearchSpace.from_dict({
    ...     "name": "tiny", "scales": [2, 3],
    ...     "branches": [{"family": "esr-tm", "params": {"kernel_size": [3, 5], "channels": 4}},
    ...                  {"family": "bicubic"}]})
    >>> space.count()
    6
    >>> next(space.enumerate())
    {'channels': 4, 'color': 'y', 'family': 'esr-tm', 'kernel_size': 3, 'scale': 2}
    """

    name: str
    description: str
    scales: tuple[int, ...]
    color: str
    branches: tuple[Branch, ...]
    source: str = "<dict>"
    #: The validated file, for the sections that other parts of the project read.
    spec: SpaceSpec | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> SearchSpace:
        """Validate a parsed search-space file; raises :class:`SpaceError` naming ``source``."""
        try:
            spec: SpaceSpec = validate(SpaceSpec, data)
            branches = tuple(_branch(spec, i) for i in range(len(spec.branches)))
        except FieldError as exc:
            raise SpaceError(f"{source}: {exc}") from None
        return cls(spec.name, spec.description, tuple(spec.scales), spec.color, branches, source, spec)

    def count(self) -> int:
        """The number of distinct configurations (configurations in several branches count once)."""
        per_scale = 0
        for family in dict.fromkeys(b.family for b in self.branches):
            group = [self._domains(i) for i, b in enumerate(self.branches) if b.family == family]
            per_scale += _union_size(group)
        return per_scale * len(self.scales)

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """Every configuration once, canonical, by branch, then scale, then values in file order."""
        shared = {b.family for b in self.branches if sum(c.family == b.family for c in self.branches) > 1}
        seen: set[tuple] = set()
        all_domains = [self._domains(i) for i in range(len(self.branches))]  # fail before yielding
        for i, (branch, domains) in enumerate(zip(self.branches, all_domains)):
            for scale in self.scales:
                for values in itertools.product(*domains):
                    if branch.family in shared:
                        if (scale, values) in seen:
                            continue
                        seen.add((scale, values))
                    yield self._config(i, scale, dict(zip(branch.params, values)))

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """Sample one canonical configuration with an Optuna trial.

        The branch is the categorical ``"branch"``, then ``"scale"`` (when there are several),
        then each hyper-parameter that is not fixed, as ``"<branch>.<hyper-parameter>"``.
        """
        names = [b.name for b in self.branches]
        index = names.index(trial.suggest_categorical("branch", names))
        branch, scale = self.branches[index], self.scales[0]
        if len(self.scales) > 1:
            scale = trial.suggest_categorical("scale", list(self.scales))
        values = {key: param.suggest(trial, f"{branch.name}.{key}") for key, param in branch.params.items()}
        return self._config(index, scale, values)

    def summary(self) -> str:
        """A human-readable description: scales, colour, each branch with its count, the total."""
        lines = [f"search space {self.name} ({self.source})"]
        lines += [f"  {self.description}"] if self.description else []
        lines.append(f"scales: {', '.join(map(str, self.scales))}; color: {self.color}")
        width = max(len(b.name) for b in self.branches)
        for branch in self.branches:
            size = branch.size()
            per_scale = "continuous" if size is None else f"{size} per scale"
            lines.append(f"  {branch.name:<{width}}  {branch.family}, {per_scale}: {branch.describe()}")
        if any(b.size() is None for b in self.branches):
            lines.append("total: infinite (continuous ranges)")
        else:
            total, listed = self.count(), sum(b.size() or 0 for b in self.branches) * len(self.scales)
            repeats = f" ({listed - total} in several branches counted once)" if listed > total else ""
            lines.append(f"total: {total} configurations{repeats}")
        return "\n".join(lines)

    def _domains(self, index: int) -> list[Sequence[Any]]:
        branch = self.branches[index]
        for key, param in branch.params.items():
            if param.values() is None:
                raise SpaceError(
                    f"{self.source}: branches[{index}].params.{key}: a continuous range cannot be "
                    f"counted or enumerated; give it a step or a list (got {param.describe()})"
                )
        return [values for values in branch.domains() if values is not None]

    def _config(self, index: int, scale: int, values: dict[str, Any]) -> dict[str, Any]:
        config = {"family": self.branches[index].family, "scale": scale, "color": self.color, **values}
        try:
            return canonical_config(config)
        except ConfigError as exc:  # a combination too deep in a large branch to be checked on loading
            got = show({"scale": scale, **values})
            raise SpaceError(f"{self.source}: branches[{index}].params: {exc} (got {got})") from None


def _branch(spec: SpaceSpec, index: int) -> Branch:
    """Branch ``index`` of ``spec``, checked against the model registry."""
    raw, loc = spec.branches[index], ("branches", index)
    if raw.family not in family_names():
        known = ", ".join(family_names())
        raise FieldError((*loc, "family"), f"unknown model family (known: {known})", raw.family)
    family = get_family(raw.family)
    name = raw.name or family.name
    for other in range(index):
        if (spec.branches[other].name or spec.branches[other].family) == name:
            hint = "" if raw.name else "; names default to the family: name the branches of one family"
            raise FieldError((*loc, "name"), f"duplicate branch name (also branches[{other}]{hint})", name)
    for scale in spec.scales:
        if scale not in family.scales:
            only = ", ".join(map(str, family.scales))
            raise FieldError(("scales",), f"{family.name} (branches[{index}]) has no scale {scale} (only {only})",
                             spec.scales)
    if spec.color not in family.colors:
        only = ", ".join(family.colors)
        raise FieldError(("color",), f"{family.name} (branches[{index}]) works in {only} only", spec.color)
    branch = Branch(name, family.name, _params(family, raw.params, (*loc, "params")))
    _check_combinations(branch, spec, loc)
    return branch


def _params(family: Family, raw: Mapping[str, Any], loc: Loc) -> dict[str, Param]:
    """Each hyper-parameter of ``family``, in its order, from the ``params`` of a branch."""
    expected = ", ".join(family.hyperparameters) or "none"
    for key, value in raw.items():
        if key not in family.hyperparameters:
            raise FieldError((*loc, key), f"not a hyper-parameter of {family.name} (expected: {expected})",
                             value)
    missing = [key for key in family.hyperparameters if key not in raw and key not in family.defaults]
    if missing:
        raise FieldError(loc, f"missing {', '.join(missing)} ({family.name} needs: {expected})", raw)
    return {
        key: parse_param(raw[key], kind, family.minimum.get(key, 1), (*loc, key))
        if key in raw else Fixed(family.defaults[key], default=True)
        for key, kind in family.hyperparameters.items()
    }


def _check_combinations(branch: Branch, spec: SpaceSpec, loc: Loc) -> None:
    """Ask the family about every configuration of a branch; when there are too many, about the
    corners and about every pair of values of every two hyper-parameters (the others at their
    first value), which finds any rule between two hyper-parameters (e.g. divisibility)."""
    family = get_family(branch.family)
    size = branch.size()
    for scale in spec.scales:
        if size is not None and size * len(spec.scales) <= EXHAUSTIVE_CHECK_LIMIT:
            configs = itertools.product(*[list(values or ()) for values in branch.domains()])
        else:
            configs = itertools.chain(
                itertools.product(*[list(dict.fromkeys(_corners(p))) for p in branch.params.values()]),
                _pairs(list(branch.params.values())))
        for n, values in enumerate(configs):
            hyper = dict(zip(branch.params, values))
            config = {"family": family.name, "scale": scale, "color": spec.color, **hyper}
            try:  # all the registry's rules for the first configuration, the family's check for all
                problems = family.check(canonical_config(config) if n == 0 else config)
            except ConfigError as exc:
                problems = [str(exc).removeprefix(f"{family.name}: ")]
            if problems:
                text = "; ".join(problems)
                # The values the message names first: the rest may be cut off in the one line.
                named = {k: v for k, v in hyper.items() if f"{k}=" in text}
                got = {"scale": scale, **named, **hyper}
                raise FieldError((*loc, "params"), f"{family.name}: {text}", got)


def _pairs(params: list[Param]) -> Iterator[tuple[Any, ...]]:
    """Every pair of values of every two hyper-parameters, the others at their first value."""
    domains = [_sample_values(param) for param in params]
    base = tuple(values[0] for values in domains)
    for i, j in itertools.combinations(range(len(params)), 2):
        for a, b in itertools.product(domains[i], domains[j]):
            values = list(base)
            values[i], values[j] = a, b
            yield tuple(values)


def _sample_values(param: Param) -> list[Any]:
    """The values of a parameter; at most :data:`PAIR_VALUES` of a long range, spread evenly
    with both ends; the ends of a continuous range."""
    values = param.values()
    if values is None:
        return _corners(param)
    if len(values) <= PAIR_VALUES:
        return list(values)
    picks = {round(i * (len(values) - 1) / (PAIR_VALUES - 1)) for i in range(PAIR_VALUES)}
    return [values[i] for i in sorted(picks)]


def _corners(param: Param) -> list[Any]:
    if isinstance(param, FloatRange) and param.step is None:
        return [param.low, param.high]
    values = param.values() or ()
    return [values[0], values[-1]]


def _union_size(groups: list[list[Sequence[Any]]]) -> int:
    """The size of a union of product sets, each given by its per-position values (inclusion-exclusion).

    >>> _union_size([[[1, 2], [3]], [[2, 5], [3]]])
    3
    """
    total = 0
    for k in range(1, len(groups) + 1):
        for subset in itertools.combinations(groups, k):
            sizes = (len(set(values[0]).intersection(*values[1:])) if k > 1 else len(values[0])
                     for values in zip(*subset))
            total += (-1) ** (k + 1) * math.prod(sizes)
    return total
