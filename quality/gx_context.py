"""One Great Expectations context per process, and one validation definition per resource.

Importing GX and building its context takes 2-4 s: `warm()` does it in a background thread, so
that it overlaps with opening and reading a delivery, and `context()` waits for it. A warm that
failed is built again in the caller, which then raises the error it would have raised without
warming (an ImportError, say), never hangs.

Each resource (and set of delivered columns) gets one expectation suite and one validation
definition, over one pandas dataframe asset of the resource, built once and reused for every
block. One lock covers the context: the thread that reads blocks ahead and the main thread may
both validate.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass

from catalog_schema import Resource
from quality.rules import BoundRule, bound_rules

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

DATASOURCE = "gdx"

_lock = threading.RLock()  # the context and everything in it
_started = threading.Lock()
_ready = threading.Event()
_warming: threading.Thread | None = None
_context = None
_definitions: dict[tuple[str, tuple[str, ...]], Definition] = {}
built = 0  # validation definitions built in this process (reused ones are not counted again)


@dataclass(frozen=True)
class Definition:
    """A resource's suite and validation definition for one set of columns."""

    resource: Resource
    columns: tuple[str, ...]
    rules: list[BoundRule]
    validation: object  # great_expectations.ValidationDefinition

    @property
    def suite(self):
        return self.validation.suite


def warm() -> None:
    """Import GX and build the context in a background thread (once per process)."""
    global _warming
    with _started:
        if _warming is None and _context is None:
            _warming = threading.Thread(target=_warm, name="gdx-gx-warm", daemon=True)
            _warming.start()


def _warm() -> None:
    try:
        _build()
    except Exception:  # noqa: BLE001 - context() builds again in its caller and raises there
        pass
    finally:
        _ready.set()


def _build():
    global _context
    with _lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            import quality.expectations  # noqa: F401 - registers the custom expectations

            logging.getLogger("great_expectations.data_context.types.base").setLevel(
                logging.WARNING
            )
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            context.data_sources.add_pandas(DATASOURCE)
            _context = context
        return _context


def context():
    """The process's GX context: waits for a warm under way; builds it here otherwise (or when
    the warm failed, raising what failed)."""
    if _context is not None:
        return _context
    with _started:
        warming = _warming
    if warming is not None:
        _ready.wait()
    return _build()


def definition(resource: Resource, columns: tuple[str, ...]) -> Definition:
    """The resource's validation definition for these columns, built on first use."""
    from quality.suite import expectation

    key = (resource.code, columns)
    found = _definitions.get(key)
    if found is not None and found.resource == resource:
        return found
    import great_expectations as gx

    gx_context = context()
    with _lock:
        found = _definitions.get(key)
        if found is not None and found.resource == resource:
            return found
        name = f"{resource.code} {hashlib.sha256(repr(columns).encode()).hexdigest()[:12]}"
        if found is not None:  # the declaration changed: its definition is built again
            gx_context.validation_definitions.delete(name)
            gx_context.suites.delete(name)
        source = gx_context.data_sources.get(DATASOURCE)
        try:
            asset = source.get_asset(resource.code)
        except LookupError:
            asset = source.add_dataframe_asset(resource.code)
        try:
            batch_definition = asset.get_batch_definition(resource.code)
        except KeyError:
            batch_definition = asset.add_batch_definition_whole_dataframe(resource.code)
        rules = bound_rules(resource, list(columns))
        suite = gx.ExpectationSuite(name=name)
        for rule in rules:
            suite.add_expectation(expectation(rule))
        suite = gx_context.suites.add(suite)
        validation = gx_context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        found = _definitions[key] = Definition(resource, columns, rules, validation)
        global built
        built += 1
        return found


def run(found: Definition, frame, partial: int):
    """Validate one block (a pandas frame) with the definition's suite, in SUMMARY format with
    every failing row's index (`partial_unexpected_index_list`, up to `partial` rows) and no
    index query. As ValidationDefinition.run, without storing each block's result in the
    context's in-memory results store, which nobody reads and which would grow with every
    block (and cost a JSON conversion of each)."""
    from great_expectations.validator.v1_validator import Validator

    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": partial,
        "return_unexpected_index_query": False,
    }
    with _lock:
        validation = found.validation
        validator = Validator(
            batch_definition=validation.batch_definition,
            batch_parameters={"dataframe": frame},
            result_format=result_format,
        )
        try:
            return validator.validate_expectation_suite(validation.suite)
        finally:  # the engine keeps every batch it loaded: drop this block's frame
            _forget_batches(validation)


def _forget_batches(validation) -> None:
    engine = validation.batch_definition.data_asset.datasource.get_execution_engine()
    manager = getattr(engine, "batch_manager", None)
    if manager is not None:
        manager.reset_batch_cache()
