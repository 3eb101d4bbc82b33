"""PDF layout of a report with reportlab's platypus (pure Python, from PyPI)."""

import io
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.fonts import addMapping
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from .elements import Section

PAGE_WIDTH = A4[0] - 3 * cm
# DejaVu Sans (shipped with matplotlib) has the statistics' signs that the PDF base fonts lack: − × Φ √ χ² ∞ ±
FONT_DIRECTORY = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT, BOLD_FONT = "DejaVuSans", "DejaVuSans-Bold"
CELL_FONT, CELL_SIZES = FONT, (7.0, 6.5, 6.0, 5.5)
CELL_PADDING = 13  # reportlab's default 6 pt left and right, and 1 pt so that a word of exactly the width fits
TABLE_STYLE = TableStyle([
    ("FONTSIZE", (0, 0), (-1, -1), 7),
    ("LEADING", (0, 0), (-1, -1), 8.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#7a8696")),
    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#d0d6de")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])


def _register_fonts() -> None:
    faces = {(0, 0): FONT, (1, 0): BOLD_FONT, (0, 1): "DejaVuSans-Oblique", (1, 1): "DejaVuSans-BoldOblique"}
    for (bold, italic), name in faces.items():
        registerFont(TTFont(name, FONT_DIRECTORY / f"{name}.ttf"))
        addMapping(FONT, bold, italic, name)


_register_fonts()


def _styles() -> dict:
    sample = getSampleStyleSheet()
    return {"Title": sample["Title"].clone("title", fontName=BOLD_FONT),
            "Heading2": sample["Heading2"].clone("heading", fontName=BOLD_FONT),
            "BodyText": sample["BodyText"].clone("body", fontName=FONT, fontSize=9, leading=11.5)}


def render_pdf_document(title: str, sections: list[Section], figures: dict[str, bytes]) -> bytes:
    styles = _styles()
    story = [Paragraph(escape(title), styles["Title"])]
    for section in sections:
        story.append(Paragraph(escape(section.title), styles["Heading2"]))
        story += [Paragraph(escape(text), styles["BodyText"]) for text in section.paragraphs]
        for table in section.tables:
            story.append(KeepTogether([
                Paragraph(f"<i>{escape(table.caption)}</i>", styles["BodyText"]),
                pdf_table(table.header, table.rows, styles["BodyText"]),
                Spacer(1, 0.3 * cm),
            ]))
        for name, caption in section.figures:
            if name in figures:
                story.append(KeepTogether([_image(figures[name]), Paragraph(f"<i>{escape(caption)}</i>",
                                                                             styles["BodyText"])]))
    out = io.BytesIO()
    # invariant: no clock time or random document id, so that the same results give the same bytes (a
    # submission package is rebuilt byte for byte); the PDF's creation date is then reportlab's fixed one
    document = SimpleDocTemplate(out, pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm,
                                 topMargin=1.5 * cm, bottomMargin=1.5 * cm, title=title, author="MRMC platform",
                                 invariant=True)
    document.build(story)
    return out.getvalue()


def pdf_table(header: list[str], rows: list[list[str]], body_style) -> Table:
    """A table whose columns are at least as wide as their longest word, so no word is ever broken."""
    texts = [[str(value) for value in row] for row in [header, *rows]]
    size, widths = column_widths(texts)
    style = body_style.clone("cell", fontName=CELL_FONT, fontSize=size, leading=size + 1.5)
    table = Table([[Paragraph(escape(text), style) for text in row] for row in texts], colWidths=widths,
                  repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([*TABLE_STYLE.getCommands(), ("FONTSIZE", (0, 0), (-1, -1), size)]))
    return table


def column_widths(texts: list[list[str]]) -> tuple[float, list[float]]:
    """Font size and column widths: each column gets its longest word, the rest of the page goes to the
    columns in proportion to how much longer their longest cell is (the smallest font that fits is used)."""
    for size in CELL_SIZES:
        columns = list(zip(*texts, strict=True))
        words = [max(stringWidth(word, CELL_FONT, size) for text in column for word in text.split() or [""])
                 + CELL_PADDING for column in columns]
        if sum(words) <= PAGE_WIDTH or size == CELL_SIZES[-1]:
            break
    lines = [max(stringWidth(text, CELL_FONT, size) for text in column) + CELL_PADDING for column in columns]
    spare = max(PAGE_WIDTH - sum(words), 0.0)
    wanted = [line - word for line, word in zip(lines, words, strict=True)]
    share = min(1.0, spare / sum(wanted)) if sum(wanted) else 0.0
    return size, [word + share * extra for word, extra in zip(words, wanted, strict=True)]


def _image(png: bytes) -> Image:
    image = Image(io.BytesIO(png))
    scale = min(1.0, PAGE_WIDTH / image.drawWidth, 9 * cm / image.drawHeight)
    image.drawWidth *= scale
    image.drawHeight *= scale
    return image
