"""Rendering the report templates: Jinja2 with autoescape on, so every value from a claim is escaped.

The page is one self-contained file: the CSS is inlined from ``templates/report.css`` and the
charts are inline SVG (marked safe: matplotlib writes them, never claim data, and claim-derived
labels in them are escaped by matplotlib's SVG writer).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from claimscrub import __version__
from claimscrub.report.text import label, money_text, num_text, pct_text

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment():
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money_text, pct=pct_text, num=num_text, label=label, svg=Markup)
    env.globals.update(version=__version__, css=Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")))
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
