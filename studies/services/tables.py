"""Tables the console shows and offers as CSV: the monitoring dashboard's and the readiness page's."""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Table:
    """A titled table; ``name`` is its CSV file's name. Cells are plain values (text, numbers, dates, None)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]
    note: str = ""


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([csv_cell(value) for value in row] for row in table.rows)
    return out.getvalue()
