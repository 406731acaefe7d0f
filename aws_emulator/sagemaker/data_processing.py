"""A transform job's DataProcessing: InputFilter, JoinSource and OutputFilter, for records one a line.

As *Associate Prediction Results with Input Records* describes them: the InputFilter picks what of each
input record the model gets, JoinSource Input puts the record (unfiltered) beside its answer, and the
OutputFilter picks what of the joined record (or of the answer alone) is written.

- CSV records are JSON arrays of their fields: `$`, `$[i,j,…]` (negative from the end) and `$[a:b]` (either
  bound may be left out). The guide's worked example reads the slice's end as inclusive ("`$[1:4]` specifies
  the second through fifth columns"), and so does this. A joined CSV record is the input's fields followed
  by the answer's.
- JSON Lines records are objects: `$`, `$.a.b` and `$['a','b']` (several children of the root). A joined
  record is the input object with `SageMakerOutput` added, or `{"SageMakerInput": …, "SageMakerOutput": …}`
  when the input is not an object.

What runs here, and why only this: the records must be lines (`SplitType` Line) of `text/csv` or
`application/jsonlines`, and so must the answers when they are joined or filtered (one answer line per
input line is what pairs them). The wildcard `*` is not read. Anything else is refused by name.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import pandas as pd

from aws_emulator.algorithms import ClientError

CSV, JSONLINES = "text/csv", "application/jsonlines"
_INDICES = re.compile(r"\$\[\s*(-?\d+(?:\s*,\s*-?\d+)*)\s*\]")
_SLICE = re.compile(r"\$\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\]")
_DOTTED = re.compile(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_NAMES = re.compile(r"\$\[\s*('[^']*'(?:\s*,\s*'[^']*')*)\s*\]")


class RecordsMismatch(Exception):
    """The answer does not pair with the input one line to one line; the message says how."""


@dataclass(frozen=True)
class DataProcessing:
    media: str  # text/csv or application/jsonlines, of the input records
    input_filter: str
    output_filter: str
    join: bool

    @classmethod
    def of(cls, request: dict) -> DataProcessing | None:
        """The job's DataProcessing, or None when it asks for nothing (the defaults `$`, `$`, None).

        Raises ClientError naming what the emulator does not run."""
        processing = request.get("DataProcessing") or {}
        asked = cls(
            media=_media(request["TransformInput"].get("ContentType")),
            input_filter=processing.get("InputFilter", "$") or "$",
            output_filter=processing.get("OutputFilter", "$") or "$",
            join=processing.get("JoinSource", "None") == "Input",
        )
        if (asked.input_filter, asked.output_filter, asked.join) == ("$", "$", False):
            return None
        if asked.media not in (CSV, JSONLINES):
            raise ClientError(
                f"DataProcessing needs ContentType {CSV} or {JSONLINES} here, not {asked.media or 'none'}"
            )
        if request["TransformInput"].get("SplitType") != "Line":
            raise ClientError("DataProcessing needs SplitType Line: each record is one line")
        answers = _media(request.get("TransformOutput", {}).get("Accept"))
        if (asked.join or asked.output_filter != "$") and answers not in (CSV, JSONLINES):
            raise ClientError(
                f"DataProcessing's JoinSource and OutputFilter need Accept {CSV} or {JSONLINES} here, "
                f"not {answers or 'none'}: one answer line pairs with one input line"
            )
        if asked.join and answers != asked.media:
            raise ClientError(f"JoinSource Input joins {asked.media} records with {answers} answers: use one type")
        for name, path in (("InputFilter", asked.input_filter), ("OutputFilter", asked.output_filter)):
            _check_path(name, path, asked.media if name == "InputFilter" or asked.join else answers)
        return asked

    def filter_input(self, payload: bytes) -> bytes:
        """The records of one request as the model gets them."""
        return _select(payload, self.input_filter, self.media)

    def join_and_filter(self, payload: bytes, answer: bytes, answer_media: str) -> bytes:
        """The lines written for one request: each answer line, joined with its input record when asked,
        through the OutputFilter."""
        if not self.join and self.output_filter == "$":
            return answer
        if not self.join:
            return _select(answer, self.output_filter, answer_media)
        inputs = [line for line in payload.splitlines() if line.strip()]
        outputs = [line for line in answer.splitlines() if line.strip()]
        if len(inputs) != len(outputs):
            raise RecordsMismatch(f"{len(inputs)} input records but {len(outputs)} answer lines to join them with")
        if self.media == CSV:
            joined = b"".join(i + b"," + o + b"\n" for i, o in zip(inputs, outputs, strict=True))
        else:
            joined = "".join(
                json.dumps(_joined(json.loads(i), json.loads(o))) + "\n" for i, o in zip(inputs, outputs, strict=True)
            ).encode()
        return _select(joined, self.output_filter, self.media)


def _select(lines: bytes, path: str, media: str) -> bytes:
    """Each record of `lines` through `path`, one a line."""
    if path == "$":
        return lines
    if media == CSV:
        # Fields as text, so the input's own spelling of each is kept (and an ID may be any text).
        frame = pd.read_csv(io.BytesIO(lines), header=None, dtype=str, keep_default_na=False)
        picked = frame.iloc[:, _columns(path, frame.shape[1])]
        return picked.to_csv(header=False, index=False, lineterminator="\n").encode()
    records = [json.loads(line) for line in lines.splitlines() if line.strip()]
    return "".join(json.dumps(_pick(record, path)) + "\n" for record in records).encode()


def _columns(path: str, width: int) -> list[int]:
    """The column indices `$[i,j]` or `$[a:b]` (end inclusive) picks of `width` columns."""
    indices = _INDICES.fullmatch(path)
    if indices:
        picked = [int(i) for i in indices.group(1).split(",")]
        return [i + width if i < 0 else i for i in picked]
    start, end = _SLICE.fullmatch(path).groups()
    first = int(start) if start else 0
    last = int(end) if end else width - 1
    first, last = (first + width if first < 0 else first), (last + width if last < 0 else last)
    return list(range(first, min(last, width - 1) + 1))


def _pick(record: object, path: str) -> object:
    """`$.a.b` or `$['a','b']` of one JSON record."""
    names = _NAMES.fullmatch(path)
    if names:
        keys = [key.strip()[1:-1] for key in names.group(1).split(",")]
        return {key: record[key] for key in keys if isinstance(record, dict) and key in record}
    for key in _DOTTED.fullmatch(path).group(1).split(".")[1:]:
        record = record.get(key) if isinstance(record, dict) else None
    return record


def _joined(record: object, answer: object) -> dict:
    if isinstance(record, dict):
        return {**record, "SageMakerOutput": answer}
    return {"SageMakerInput": record, "SageMakerOutput": answer}


def _check_path(name: str, path: str, media: str) -> None:
    forms = (_INDICES, _SLICE) if media == CSV else (_DOTTED, _NAMES)
    if path != "$" and not any(form.fullmatch(path) for form in forms):
        shown = "$, $[i,j] or $[a:b]" if media == CSV else "$, $.name or $['a','b']"
        raise ClientError(f"DataProcessing {name} {path!r} is not one the emulator reads for {media} ({shown})")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()
