"""The audit universe (frame) and its sample from a Spark DataFrame of claims with what was paid.

Reading and parsing millions of claims is the costly part, so it runs on the executors: each claim is
cut down there to the fields the frame reads (:func:`frame_fields`), and only those reach the driver,
which builds the frame with :func:`claimscrub.audit.frame.build_frame` and draws the sample with
:func:`claimscrub.audit.sample.draw_sample`, the single-machine functions themselves. The frame is
sorted by claim id, so it does not depend on how Spark partitioned the claims, and the same frame and
seed give the same sample. (The frame is one list with one hash, so it is built in one place; its
units are small: about 100 bytes each.) The claims are not shuffled on the way, so among claims that
share an id the first one read stays in the frame, as in ``claimscrub audit universe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from claimscrub.audit.frame import Frame, Scope, build_frame
from claimscrub.audit.sample import Selected, draw_sample
from claimscrub.inputs.base import InputItem
from claimscrub.spark.frames import as_items
from claimscrub.spark.partition import item_of

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_LINE_FIELDS = ("sequence", "from_date", "to_date", "paid_amount")


def frame_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What ``build_frame`` reads of a claim: ids, provider, dates and paid amounts (keys kept only when present)."""
    slim: dict[str, Any] = {k: data[k] for k in ("claim_id", "paid_amount") if k in data}
    for part, key in (("patient", "id"), ("billing_provider", "npi")):
        value = data.get(part)
        if isinstance(value, dict) and key in value:
            slim[part] = {key: value[key]}
    lines = data.get("lines")
    if isinstance(lines, list):
        slim["lines"] = [{k: ln[k] for k in _LINE_FIELDS if k in ln} if isinstance(ln, dict) else ln for ln in lines]
    return slim


def _slim_rows(rows: Iterable[Any]) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    for row in rows:
        item = item_of(row.asDict())
        data = None if item.data is None else orjson.dumps(frame_fields(item.data)).decode()
        yield item.source, item.claim_id, data, item.error


def frame_items(claims_df: DataFrame, claim_col: str = "claim") -> Iterator[InputItem]:
    """Each claim of the frame as an InputItem holding only what the frame reads, streamed to the driver."""
    slim = as_items(claims_df, claim_col).rdd.mapPartitions(_slim_rows)
    for source, claim_id, data, error in slim.toLocalIterator():
        if data is None:
            yield InputItem.failed(source, claim_id, error or "no claim data")
        else:
            yield InputItem(source, claim_id, orjson.loads(data))


def frame_from_dataframe(
    claims_df: DataFrame, unit: str = "claim", scope: Scope | None = None, claim_col: str = "claim"
) -> Frame:
    """The universe of the claims in ``claims_df``: equal to ``build_frame`` over the same claims."""
    return build_frame(frame_items(claims_df, claim_col), unit, scope or Scope())


def sample_from_dataframe(
    claims_df: DataFrame,
    *,
    size: int,
    seed: int,
    method: str = "srs",
    unit: str = "claim",
    scope: Scope | None = None,
    claim_col: str = "claim",
    **design: Any,
) -> tuple[Frame, dict[str, Any], list[Selected]]:
    """The frame, the sample design and the selected units (``design``: ``draw_sample``'s strata options)."""
    frame = frame_from_dataframe(claims_df, unit, scope, claim_col)
    paid = [u.paid_cents or 0 for u in frame.units]
    spec, selected, _ = draw_sample(paid, method=method, size=size, seed=seed, **design)
    return frame, spec, selected
