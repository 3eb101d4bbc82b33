"""PDF layout of a report with reportlab's platypus (pure Python, from PyPI)."""

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from .elements import Section

PAGE_WIDTH = A4[0] - 3 * cm
TABLE_STYLE = TableStyle([
    ("FONTSIZE", (0, 0), (-1, -1), 7),
    ("LEADING", (0, 0), (-1, -1), 8.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#7a8696")),
    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d0d6de")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])


def render_pdf_document(title: str, sections: list[Section], figures: dict[str, bytes]) -> bytes:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=7, leading=8.5)
    story = [Paragraph(escape(title), styles["Title"])]
    for section in sections:
        story.append(Paragraph(escape(section.title), styles["Heading2"]))
        story += [Paragraph(escape(text), styles["BodyText"]) for text in section.paragraphs]
        for table in section.tables:
            story.append(KeepTogether([
                Paragraph(f"<i>{escape(table.caption)}</i>", styles["BodyText"]),
                _table(table.header, table.rows, cell),
                Spacer(1, 0.3 * cm),
            ]))
        for name, caption in section.figures:
            if name in figures:
                story.append(KeepTogether([_image(figures[name]), Paragraph(f"<i>{escape(caption)}</i>",
                                                                             styles["BodyText"])]))
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm,
                                 topMargin=1.5 * cm, bottomMargin=1.5 * cm, title=title, author="MRMC platform")
    document.build(story)
    return out.getvalue()


def _table(header: list[str], rows: list[list[str]], style) -> Table:
    data = [[Paragraph(escape(str(value)), style) for value in row] for row in [header, *rows]]
    table = Table(data, colWidths=[PAGE_WIDTH / len(header)] * len(header), repeatRows=1)
    table.setStyle(TABLE_STYLE)
    return table


def _image(png: bytes) -> Image:
    image = Image(io.BytesIO(png))
    scale = min(1.0, PAGE_WIDTH / image.drawWidth, 9 * cm / image.drawHeight)
    image.drawWidth *= scale
    image.drawHeight *= scale
    return image
