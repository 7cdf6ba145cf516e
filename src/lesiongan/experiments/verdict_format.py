"""Formatting shared by the verdict renderers: numbers, intervals, differences, tables."""

from __future__ import annotations

from typing import Any

DASH = "–"


def num(v: float | None, signed: bool = False) -> str:
    if v is None:
        return DASH
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def interval(m: dict[str, Any] | None) -> str:
    if not m or m.get("mean") is None:
        return DASH
    if m.get("ci_low") is None or m.get("ci_high") is None:
        return num(m["mean"])
    return f"{num(m['mean'])} [{num(m['ci_low'])}, {num(m['ci_high'])}]"


def difference(d: dict[str, Any] | None) -> str:
    if not d or d.get("diff") is None:
        return DASH
    if d.get("ci_low") is None or d.get("ci_high") is None:
        return num(d["diff"], True)
    return f"{num(d['diff'], True)} [{num(d['ci_low'], True)}, {num(d['ci_high'], True)}]"


def with_floor(value: float | None, floor: float | None) -> str:
    if value is None:
        return DASH
    return num(value) if floor is None else f"{num(value)} ({num(floor)})"


def cas_text(cas: dict[str, Any] | None) -> str:
    if not cas or cas.get("cas") is None:
        return DASH
    if cas.get("ci_low") is None or cas.get("ci_high") is None:
        return num(cas["cas"])
    return f"{num(cas['cas'])} [{num(cas['ci_low'])}, {num(cas['ci_high'])}]"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
