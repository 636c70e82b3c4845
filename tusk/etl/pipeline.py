"""A pipeline: one source and a list of steps, validated, previewed, counted, saved as JSON.

`lazy` builds the whole LazyFrame and refuses an invalid step; `validate` and `preview` walk
the steps with `collect_schema()`, mark every step that cannot run (with the reason) and go on
with the columns known so far, so one broken step does not hide the rest of the pipeline.
A full run (`running`, used by `row_count`, `head`, `collect` and the sinks) reads a query
source through a temporary Parquet file that lives as long as the block, so it stays lazy too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tusk.errors import BadInput, TuskError
from tusk.etl import sources
from tusk.etl.sources import QuerySource, Source
from tusk.etl.steps import Join, Rename, Step, StepError

VERSION = 1  # the pipeline JSON format this Tusk writes and the newest it reads
PREVIEW_ROWS = 100


class Pipeline(BaseModel):
    """A source and the steps applied to it, in order."""

    model_config = ConfigDict(extra="forbid")

    version: int = VERSION
    name: str = ""
    source: Source
    steps: list[Step] = Field(default_factory=list)

    def step_index(self, step_id: str) -> int:
        """The position of the step with this id (BadInput if there is none)."""
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise BadInput(f"This pipeline has no step {step_id!r}.")


@dataclass(frozen=True)
class Issue:
    """Why a step (or, with step_id None, the source) cannot run."""

    step_id: str | None
    message: str
    index: int | None = None  # the step's position, None for the source


@dataclass(frozen=True)
class Preview:
    """The first rows after a step, the schema there, and every problem found."""

    frame: pl.DataFrame
    schema: dict[str, str]
    issues: list[Issue] = field(default_factory=list)
    sampled: bool = False  # a query source: the steps ran over its first rows only
    note: str | None = None  # e.g. "0 rows" or a separator hint


@dataclass
class _Walk:
    lf: pl.LazyFrame
    schema: pl.Schema
    issues: list[Issue]
    hint: str | None  # e.g. the CSV looks like it uses another separator


# --- building -------------------------------------------------------------------------------


def lazy(pipeline: Pipeline, upto: int | None = None) -> pl.LazyFrame:
    """The pipeline as a LazyFrame, through step `upto` (an index into steps; -1: the source
    alone; None: every step). Disabled steps are skipped; an invalid step raises StepError.
    Outside `running`, a query source's whole result is read into memory."""
    return _walk(pipeline, upto, strict=True, preview_rows=None).lf


@contextmanager
def running(pipeline: Pipeline, upto: int | None = None) -> Iterator[pl.LazyFrame]:
    """The pipeline as a LazyFrame for a full run, valid inside the block: query sources are
    streamed into temporary Parquet files, removed when the block ends (also on an error)."""
    with sources.spooling():
        yield lazy(pipeline, upto)


def validate(pipeline: Pipeline) -> list[Issue]:
    """Every problem in the pipeline, each pointing at its step; later steps are checked
    against the columns known after the last step that worked."""
    try:
        walk = _walk(pipeline, None, strict=False, preview_rows=sources.PREVIEW_SOURCE_ROWS)
    except TuskError as exc:
        return [Issue(None, exc.message)]
    return walk.issues


def preview(pipeline: Pipeline, n: int = PREVIEW_ROWS, upto: int | None = None) -> Preview:
    """The first `n` rows after step `upto` (None: the last), computed lazily with
    `head(n).collect()`; problems come back as issues rather than exceptions."""
    n = max(int(n), 0)
    sampled = isinstance(pipeline.source, QuerySource) or any(
        isinstance(s, Join) and isinstance(s.right, QuerySource) for s in pipeline.steps
    )
    try:
        walk = _walk(pipeline, upto, strict=False, preview_rows=sources.PREVIEW_SOURCE_ROWS)
    except TuskError as exc:
        return Preview(pl.DataFrame(), {}, [Issue(None, exc.message)], sampled)
    shown = {name: str(dtype) for name, dtype in walk.schema.items()}
    try:
        frame = walk.lf.head(n).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        issues = [*walk.issues, _locate(pipeline, upto, exc, n)]
        return Preview(pl.DataFrame(schema=walk.schema), shown, issues, sampled, walk.hint)
    note = walk.hint
    if note is None and frame.height == 0:
        note = "0 rows: no row is left after these steps."
    return Preview(frame, shown, walk.issues, sampled, note)


def row_count(pipeline: Pipeline, upto: int | None = None) -> int:
    """How many rows the pipeline gives: a full run, so only on request."""
    with running(pipeline, upto) as lf:
        try:
            return int(lf.select(pl.len()).collect(engine="streaming").item())
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise run_error(pipeline, exc) from None


def head(pipeline: Pipeline, n: int = PREVIEW_ROWS) -> pl.DataFrame:
    """The first `n` rows of a full run (a query source is read whole, not sampled)."""
    with running(pipeline) as lf:
        try:
            return lf.head(max(int(n), 0)).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise run_error(pipeline, exc) from None


def collect(pipeline: Pipeline) -> pl.DataFrame:
    """The pipeline's whole result in memory (tests, small outputs; sinks stream instead)."""
    with running(pipeline) as lf:
        try:
            return lf.collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise run_error(pipeline, exc) from None


def run_error(pipeline: Pipeline, exc: BaseException) -> BadInput:
    """A failure while running the pipeline as one clear message."""
    if isinstance(exc, pl.exceptions.NoDataError):
        return sources.read_error(pipeline.source, exc)
    message = sources.scrub(pipeline.source, sources.polars_message(exc))
    return BadInput(f"Running the pipeline failed: {message}", "Pipeline failed")


def _walk(pipeline: Pipeline, upto: int | None, *, strict: bool, preview_rows: int | None) -> _Walk:
    """Apply the enabled steps through `upto`; strict raises on the first bad step, otherwise
    bad steps are skipped and reported."""
    if upto is not None and not -1 <= upto < len(pipeline.steps):
        raise BadInput(f"There is no step {upto + 1}: the pipeline has {len(pipeline.steps)}.")
    lf = sources.lazy(pipeline.source, preview_rows=preview_rows)
    schema = sources.schema(pipeline.source, lf)
    hint = sources.separator_hint(pipeline.source, list(schema))
    issues: list[Issue] = []
    gone: dict[str, str] = {}  # column → which earlier step removed or renamed it
    last = len(pipeline.steps) - 1 if upto is None else upto
    for i, step in enumerate(pipeline.steps[: last + 1]):
        if not step.enabled:
            continue
        try:
            new = step.apply(lf, schema, preview_rows=preview_rows)
            new_schema = new.collect_schema()
        except StepError as exc:
            message = _explain(exc, gone, hint)
        except (pl.exceptions.PolarsError, OSError) as exc:
            message = sources.polars_message(exc)
        else:
            _track(gone, step, i, schema, new_schema)
            lf, schema = new, new_schema
            continue
        if strict:
            raise StepError(f"Step {i + 1} ({step.kind}): {message}", step.id)
        issues.append(Issue(step.id, message, i))
    return _Walk(lf, schema, issues, hint)


def _explain(exc: StepError, gone: dict[str, str], hint: str | None) -> str:
    """The step's message, plus which earlier step took a missing column away."""
    notes = [gone[c] for c in exc.missing if c in gone]
    if exc.missing and hint:
        notes.append(hint)
    return " ".join([exc.message, *notes])


def _track(gone: dict[str, str], step: Step, i: int, before: pl.Schema, after: pl.Schema) -> None:
    """Remember the columns step i removed or renamed, to explain later missing columns."""
    for name in after:
        gone.pop(name, None)
    label = f"Step {i + 1} ({step.kind})"
    renamed = step.mapping if isinstance(step, Rename) else {}
    for name in before:
        if name in after:
            continue
        if name in renamed:
            gone[name] = f"{label} renamed {name!r} to {renamed[name]!r}."
        else:
            gone[name] = f"{label} removed {name!r}."


def _locate(pipeline: Pipeline, upto: int | None, exc: BaseException, n: int) -> Issue:
    """Which step a runtime failure belongs to: the first whose own preview fails."""
    last = len(pipeline.steps) - 1 if upto is None else upto
    for i in range(-1, last + 1):
        if i >= 0 and not pipeline.steps[i].enabled:
            continue
        try:
            walk = _walk(pipeline, i, strict=False, preview_rows=sources.PREVIEW_SOURCE_ROWS)
            walk.lf.head(max(n, 1)).collect()
        except (pl.exceptions.PolarsError, OSError) as inner:
            if i == -1:
                return Issue(None, sources.read_error(pipeline.source, inner).message)
            return Issue(pipeline.steps[i].id, _step_failure(pipeline, inner), i)
        except TuskError as inner:
            return Issue(None, inner.message)
    if last < 0 or isinstance(exc, pl.exceptions.NoDataError):
        return Issue(None, sources.read_error(pipeline.source, exc).message)
    return Issue(pipeline.steps[last].id, _step_failure(pipeline, exc), last)


def _step_failure(pipeline: Pipeline, exc: BaseException) -> str:
    message = sources.scrub(pipeline.source, sources.polars_message(exc))
    return f"This step failed while running: {message}"


# --- JSON -----------------------------------------------------------------------------------


def to_json(pipeline: Pipeline) -> str:
    """The pipeline as indented JSON, with its format version."""
    return pipeline.model_copy(update={"version": VERSION}).model_dump_json(indent=2) + "\n"


def from_json(text: str | bytes) -> Pipeline:
    """A pipeline from JSON; a newer format version or a malformed document is refused
    with a message that says what to do."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"This is not a pipeline: the JSON is invalid ({exc}).", "Bad pipeline"
        ) from None
    if not isinstance(data, dict):
        raise BadInput("This is not a pipeline: expected a JSON object.", "Bad pipeline")
    version = data.get("version", VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadInput(
            f"This pipeline has an unreadable format version {version!r}.", "Bad pipeline"
        )
    if version > VERSION:
        raise BadInput(
            f"This pipeline was saved by a newer Tusk (format version {version}); this Tusk "
            f"reads versions up to {VERSION}. Upgrade Tusk to open it.",
            "Pipeline from a newer Tusk",
        )
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        raise BadInput(
            f"This pipeline cannot be read: {_validation_message(exc)}", "Bad pipeline"
        ) from None


def _validation_message(exc: ValidationError) -> str:
    """Pydantic's first few errors as `where: what` pairs."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where or 'pipeline'}: {err.get('msg', 'invalid')}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
