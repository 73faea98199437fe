"""What the office's Word documents share: A4 paper, Chinese fonts, tables, and the pages' own words.

Labels come from the pages' translation catalogues (``dashboards/static/i18n``), so an export names an
action, a stage or a zone exactly as the screen does, in the reader's language, and never shows an internal
key. Documents are built in a worker thread (python-docx and matplotlib are CPU work).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from command_center.text import xml_safe

Language = Literal["zh-CN", "en"]
BODY_FONT = ("Times New Roman", "SimSun")  # (Latin, East Asian): 宋体 body text
HEADING_FONT = ("Arial", "SimHei")  # 黑体 headings


@cache
def catalogue(language: Language) -> dict[str, str]:
    text = (files("dashboards") / "static" / "i18n" / f"{language}.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def label(key: str, language: Language, fallback: str | None = None, /, **values: object) -> str:
    """A catalogue entry (``zh-CN`` falls back to itself, ``en`` to Chinese), with ``{name}`` filled in."""
    text = (
        catalogue(language).get(key)
        or catalogue("zh-CN").get(key)
        or (fallback if fallback is not None else key)
    )
    for name, value in values.items():
        text = text.replace(f"{{{name}}}", str(value))
    return text


def bilingual(key: str, fallback: str = "") -> str:
    """ "电话报告 Phone report": for charts, read by people of either language."""
    zh, en = label(key, "zh-CN", fallback), label(key, "en", fallback)
    return zh if zh == en else f"{zh} {en}"


def action_label(action: str, language: Language) -> str:
    """A timeline action in words: a stage change names the stage; an unknown drill kind is an inject."""
    if action.startswith("stage."):
        return f"{label('incident.move_to', language)} {label(f'stage.{action[6:]}', language)}"
    key = f"action.{action}"
    if key in catalogue("zh-CN"):
        return label(key, language)
    if action.startswith("drill."):
        return label("action.drill.inject", language)
    return label("action.other", language, fallback=action)


def _font(style: Any, fonts: tuple[str, str], size: float, bold: bool = False) -> None:
    style.font.name = fonts[0]
    style.font.size = Pt(size)
    style.font.bold = bold
    fonts_element = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts_element.set(qn("w:eastAsia"), fonts[1])


def new_document() -> Any:
    """An A4 portrait document with 宋体 body text and 黑体 headings."""
    document = Document()
    for section in document.sections:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = Cm(21.0), Cm(29.7)
        section.top_margin = section.bottom_margin = Cm(2.5)
        section.left_margin = section.right_margin = Cm(2.2)
    _font(document.styles["Normal"], BODY_FONT, 10.5)
    for name, size in (("Title", 18.0), ("Heading 1", 16.0), ("Heading 2", 13.0)):
        _font(document.styles[name], HEADING_FONT, size, bold=True)
    return document


def table(document: Any, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Any:
    grid = document.add_table(rows=1, cols=len(header))
    grid.style = "Table Grid"
    for cell, title in zip(grid.rows[0].cells, header, strict=True):
        cell.text = title
        for run in cell.paragraphs[0].runs:
            run.font.bold = True
    for values in rows:
        for cell, value in zip(grid.add_row().cells, values, strict=True):
            cell.text = xml_safe(value)  # rows stored before control characters were refused still export
    return grid


def save(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
