"""The POET error hierarchy: every error names the function, the stage and the value."""

from __future__ import annotations

from typing import Any


class POETError(Exception):
    """Base of every error POET raises on behalf of a decorated function."""

    stage: str = "poet"

    def __init__(self, message: str, *, function: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.function = function
        self.value = value


class POETConfigError(POETError, ValueError):
    """A decorator argument is invalid (raised at definition time)."""

    stage = "config"


class POETInputError(POETError, ValueError):
    """Perceive could not turn an argument into what the signature asks for."""

    stage = "perceive"

    def __init__(
        self,
        message: str,
        *,
        function: str = "",
        parameter: str = "",
        value: Any = None,
        expected: str = "",
        tried: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, function=function, value=value)
        self.parameter = parameter
        self.expected = expected
        self.tried = tried


class POETOutputError(POETError, ValueError):
    """Enforce found a result that breaks the return type or a domain rule."""

    stage = "enforce"

    def __init__(
        self, message: str, *, function: str = "", value: Any = None, rule: str = ""
    ) -> None:
        super().__init__(message, function=function, value=value)
        self.rule = rule


class POETTimeoutError(POETError, TimeoutError):
    """Operate gave control back to the caller because the time limit passed."""

    stage = "operate"

    def __init__(self, message: str, *, function: str = "", limit: float = 0.0) -> None:
        super().__init__(message, function=function, value=limit)
        self.limit = limit


class POETCircuitOpenError(POETError, RuntimeError):
    """The function's circuit breaker is open; the call was refused without running."""

    stage = "operate"


class POETFeedbackError(POETError, ValueError):
    """feedback() was given something that is not a POET result, or an unusable payload."""

    stage = "train"
