"""Text drawn on a PDF's pages with its boxes (from pypdf's text visitor and the DejaVu
metrics the documents embed), for the layout tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONTS = Path(__file__).resolve().parent.parent / "app" / "static" / "fonts"
for _name, _file in (("DejaVuT", "DejaVuSans.ttf"), ("DejaVuT-Bold", "DejaVuSans-Bold.ttf")):
    pdfmetrics.registerFont(TTFont(_name, str(FONTS / _file)))


@dataclass
class Box:
    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, slack: float = 0.3) -> bool:
        return (
            self.page == other.page
            and self.x0 + slack < other.x1
            and other.x0 + slack < self.x1
            and self.y0 + slack < other.y1
            and other.y0 + slack < self.y1
        )


def _multiply(a, b):
    return [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]


def text_boxes(pdf: bytes) -> list[Box]:
    """Every piece of text drawn, with the box it covers (baseline to cap height, with
    descenders), in page coordinates."""
    boxes: list[Box] = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):

        def visit(text, cm, tm, font, size, number=number):
            if not text or not text.strip() or font is None:
                return
            matrix = _multiply(tm, cm)
            scale = (matrix[0] ** 2 + matrix[1] ** 2) ** 0.5
            height = size * scale
            bold = "Bold" in str(font.get("/BaseFont", ""))
            width = pdfmetrics.stringWidth(
                text.rstrip("\n"), "DejaVuT-Bold" if bold else "DejaVuT", height
            )
            x, y = matrix[4], matrix[5]
            boxes.append(
                Box(number, text.strip(), x, y - 0.22 * height, x + width, y + 0.76 * height)
            )

        page.extract_text(visitor_text=visit)
    return boxes


def overlapping(pdf: bytes) -> list[tuple[str, str]]:
    boxes = text_boxes(pdf)
    return [(a.text, b.text) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def page_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
