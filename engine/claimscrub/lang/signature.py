"""A rule-language function's typed signature: what lint checks a call against and the evaluator calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claimscrub.lang.types import Type

VARIADIC = object()


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple  # parameter types; a trailing VARIADIC repeats the last one
    returns: Type
    impl: Callable[..., Any]
    doc: str
    needs_context: bool = False  # impl(ctx, *args): tables / date of service
    min_args: int | None = None

    def arity_ok(self, n: int) -> bool:
        if self.params and self.params[-1] is VARIADIC:
            return n >= (self.min_args if self.min_args is not None else len(self.params) - 1)
        return (self.min_args if self.min_args is not None else len(self.params)) <= n <= len(self.params)

    def param_type(self, i: int) -> Type:
        if self.params and self.params[-1] is VARIADIC and i >= len(self.params) - 2:
            return self.params[-2]
        return self.params[i]
