"""Data made safe to put in a log line: `printable(value)`.

Log messages quote data that came from outside: county names, S3 keys and input keys, run ids from a
trigger's params, names and messages in requests. A newline in any of them would start a line of its
own in the task log, one that reads like the scheduler's or the task's; a carriage return, an ANSI
escape or a right-to-left override can hide or reorder what a terminal shows. `printable` escapes, as
`repr` does, every character that `str.isprintable` refuses (Unicode Cc, Cf, Zl, Zp, Zs other than the
space, Cs, Co, Cn) and the backslash that starts an escape, and leaves the rest as it was: `Doña Ana`
stays `Doña Ana`, `Doña\nAna` becomes `Doña\\nAna`, one line.

The standard library only, so that every package (the DAG's, the emulator's) can use it.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(value: object) -> str:
    """`str(value)` with each non-printable character and each backslash escaped as `repr` escapes them
    (`\\n`, `\\t`, `\\x1b`, `\\u2028`, `\\\\`); printable text, non-ASCII letters included, unchanged."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and "\\" not in text:  # the usual case, checked at C speed
        return text
    return "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in text)  # a quote is printable
