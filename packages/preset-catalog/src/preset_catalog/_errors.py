"""The catalog's exceptions and its typed findings.

Two kinds of bad news, kept apart on purpose:

- Exceptions, for a question that has no answer: an unknown name (with did-you-mean suggestions),
  a data file that does not validate, a node count that cannot be estimated::

      CatalogError
      ├── UnknownNameError      (also a LookupError)
      ├── CatalogDataError
      └── NodeEstimateError     (carries a Violation)

- :class:`Violation` values, for a question whose answer is "no, because ...": a fit check or a
  tuning-config validation returns every violation it finds, each with a stable ``code`` (safe to
  branch on, to use as a condition reason or a metric label), a human ``message`` and the ``field``
  of the Workspace (or training config) it is about, so an admission webhook can report them all at
  once, as Kaito's does.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = [
    "CatalogDataError",
    "CatalogError",
    "NodeEstimateError",
    "UnknownNameError",
    "Violation",
    "ViolationCode",
]


class ViolationCode(enum.StrEnum):
    """Stable identifiers of every finding; CamelCase values, usable as condition reasons."""

    # check_fit
    INSUFFICIENT_TOTAL_GPU_MEMORY = "InsufficientTotalGPUMemory"
    INSUFFICIENT_PER_GPU_MEMORY = "InsufficientPerGPUMemory"
    INSUFFICIENT_GPU_COUNT = "InsufficientGPUCount"
    TUNING_METHOD_NOT_SUPPORTED = "TuningMethodNotSupported"
    MULTI_NODE_NOT_SUPPORTED = "MultiNodeNotSupported"
    RUNTIME_NOT_SUPPORTED = "RuntimeNotSupported"
    ADAPTERS_NOT_SUPPORTED = "AdaptersNotSupported"
    PRESET_DEPRECATED = "PresetDeprecated"
    # estimate_node_count
    GPU_TOO_SMALL_FOR_RUNTIME = "GPUTooSmallForRuntime"
    MAX_MODEL_LEN_EXCEEDS_CONTEXT_WINDOW = "MaxModelLenExceedsContextWindow"
    # validate_tuning_config / validate_tuning_configmap_data
    UNSUPPORTED_TUNING_METHOD = "UnsupportedTuningMethod"
    MISSING_CONFIG_KEY = "MissingConfigKey"
    INVALID_YAML = "InvalidYAML"
    INVALID_STRUCTURE = "InvalidStructure"
    UNRECOGNIZED_SECTION = "UnrecognizedSection"
    INVALID_VALUE_TYPE = "InvalidValueType"
    CONFLICTING_QUANTIZATION = "ConflictingQuantization"
    QUANTIZATION_NOT_ALLOWED = "QuantizationNotAllowed"
    QUANTIZATION_REQUIRED = "QuantizationRequired"
    INVALID_OUTPUT_DIR = "InvalidOutputDir"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Violation:
    """One reason a request cannot be honoured."""

    code: ViolationCode
    message: str
    field: str
    """Path of the offending field, e.g. ``resource.instanceType`` or
    ``training_config.TrainingArguments.output_dir``."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class CatalogError(Exception):
    """Base class of every exception this package raises on purpose."""


class UnknownNameError(CatalogError, LookupError):
    """A preset or instance type name that the catalog does not know."""

    def __init__(self, *, kind: str, name: str, suggestions: tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = suggestions
        hint = (
            f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
            if suggestions
            else "; `python -m preset_catalog list` shows every name"
        )
        super().__init__(f"unknown {kind} {name!r}{hint}")


class CatalogDataError(CatalogError):
    """A data file (or an exported catalog) does not match the schema."""


class NodeEstimateError(CatalogError):
    """The node count cannot be estimated: the preset cannot run on that instance type."""

    def __init__(self, violation: Violation) -> None:
        self.violation = violation
        super().__init__(violation.message)
