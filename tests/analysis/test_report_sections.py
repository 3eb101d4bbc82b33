"""The report of a real run: every section the statistician expects, tables with header rows, legends
outside the axes, PDF columns at least as wide as their longest word."""

import copy
from html import unescape
from html.parser import HTMLParser

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from reportlab.lib.styles import getSampleStyleSheet

from studies.models import AnalysisRun, Role
from studies.reports import render_html, render_pdf
from studies.reports.content import report_sections
from studies.reports.figures import report_figure_objects
from studies.reports.pdf import PAGE_WIDTH, pdf_table
from studies.reports.sections import SECTION_ORDER, anova
from studies.services.demo_analysis import create_read_demo_study
from tests.analysis.conftest import run_started_analysis
from tests.conftest import create_user, kept_for_scope

NEW_SECTIONS = ("Study design and reading schedule", "OR analysis of variance and error terms",
                "DBM analysis (Dorfman-Berbaum-Metz)", "Reader-level intervals and arm intervals",
                "Fitted binormal ROC curves")


def _finished_run() -> int:
    statistician = create_user("stat", Role.STATISTICIAN)
    study = create_read_demo_study(coordinator=create_user("coord", Role.COORDINATOR), statistician=statistician,
                                   n_cases=40)
    run = run_started_analysis(actor=statistician, study=study, options={"seed": 1})
    assert run.status == "succeeded", run.error
    return run.pk


@pytest.fixture(scope="module")
def finished_run_id(django_db_setup, django_db_blocker) -> int:
    """One run for the module: its tests read it and render its report, and change nothing that outlives them."""
    yield from kept_for_scope(django_db_blocker, _finished_run)


@pytest.fixture
def finished_run(db, finished_run_id) -> AnalysisRun:
    return AnalysisRun.objects.get(pk=finished_run_id)


class _Tables(HTMLParser):
    """Per table: whether its first row is a header row of <th> cells."""

    def __init__(self):
        super().__init__()
        self.tables, self._first_row_cells = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(None)
        elif tag == "tr" and self.tables and self.tables[-1] is None:
            self._first_row_cells = []
        elif tag in ("th", "td") and self._first_row_cells is not None:
            self._first_row_cells.append(tag)

    def handle_endtag(self, tag):
        if tag == "tr" and self._first_row_cells is not None:
            self.tables[-1] = bool(self._first_row_cells) and set(self._first_row_cells) == {"th"}
            self._first_row_cells = None


def test_the_report_of_a_run_has_every_new_section_and_every_table_a_header_row(finished_run):
    html = render_html(finished_run)
    for title in NEW_SECTIONS:
        assert f"<h2>{title}</h2>" in html
    parser = _Tables()
    parser.feed(html)
    assert len(parser.tables) > 10 and all(parser.tables)
    assert "word-break: keep-all" in html


def test_differences_are_named_from_the_results_not_assumed(finished_run):
    results = finished_run.results
    labels = {arm["name"]: arm["label"] for arm in results["study"]["arms"]}
    first, second = results["primary"]["rrrc"]["differences"][0]["treatments"]
    html = render_html(finished_run)
    named = f"{labels[first]} − {labels[second]}"
    assert f"Differences: {named}." in html
    assert f"Subgroups (differences: {named})" in html
    assert f"Sensitivity and specificity by arm (difference: {named})" in html
    assert "first arm minus second" not in html


def test_the_dbm_section_prints_the_or_test_of_the_same_run(finished_run):
    dbm, test = finished_run.results["dbm"], finished_run.results["primary"]["rrrc"]["test"]
    assert dbm["identical_to_or"]
    assert dbm["f"] == pytest.approx(test["statistic"], rel=1e-10)
    assert dbm["df2"] == pytest.approx(test["df2"], rel=1e-10)
    assert f"{dbm['f']:.3f}" in render_html(finished_run)
    (dbm_difference,), (or_difference,) = dbm["differences"], finished_run.results["primary"]["rrrc"]["differences"]
    assert dbm_difference["treatments"] == or_difference["treatments"]
    for key in ("estimate", "se", "df", "p"):
        assert dbm_difference[key] == pytest.approx(or_difference[key], rel=1e-9)
    assert dbm_difference["ci"] == pytest.approx(or_difference["ci"], rel=1e-9)


def test_per_reader_intervals_and_binormal_fits_cover_every_reader_and_arm(finished_run):
    results = finished_run.results
    for arm, readers in results["primary"]["fom_table"].items():
        for reader, value in readers.items():
            interval = results["reader_intervals"]["by_arm"][arm][reader]
            assert interval["ci"][0] < value < interval["ci"][1] and interval["se"] > 0
            fit = results["binormal"]["by_arm"][arm][reader]
            assert fit["converged"] and fit["b"] > 0
            assert fit["auc"] == pytest.approx(value, abs=0.1)  # a smooth fit near the empirical area
            proper = results["binormal"]["proper_by_arm"][arm][reader]
            # 20 cases per class leave some proper fits flat near the optimum: the report flags those
            assert isinstance(proper["converged"], bool) and 0.5 <= proper["auc"] <= 1
            assert proper["auc"] == pytest.approx(value, abs=0.1) and proper["a"] >= 0


def test_a_negative_variance_estimate_is_explained_where_it_appears(finished_run):
    results = copy.deepcopy(finished_run.results)
    results["primary"]["var_components"]["var_TR"] = -0.0007
    section = anova.build(finished_run, results)
    note = next(p for p in section.paragraphs if p.startswith("var_TR is estimated as -0.000700"))
    assert "occur by chance when the true component is small" in note and "max(Cov2 − Cov3, 0)" in note
    results["primary"]["var_components"]["var_TR"] = 0.0007
    assert not any(p.startswith("var_TR is estimated") for p in anova.build(finished_run, results).paragraphs)


def test_every_legend_lies_outside_its_axes(finished_run):
    figures = report_figure_objects(finished_run.results)
    assert "binormal_roc" in figures
    checked = 0
    for figure in figures.values():
        renderer = FigureCanvasAgg(figure).get_renderer()
        figure.draw(renderer)
        for axes in figure.axes:
            legend = axes.get_legend()
            if legend is not None:
                assert not legend.get_window_extent(renderer).overlaps(axes.get_window_extent(renderer))
                checked += 1
    assert checked >= len(figures)


def test_the_pooled_curve_is_labelled_as_pooled(finished_run):
    axes = report_figure_objects(finished_run.results)["roc_curves"].axes[0]
    assert any(text.get_text().startswith("pooled ROC") for text in axes.get_legend().get_texts())


def test_pdf_tables_never_break_a_word(finished_run):
    assert render_pdf(finished_run).startswith(b"%PDF")
    body = getSampleStyleSheet()["BodyText"]
    checked = 0
    for section in report_sections(finished_run):
        for caption_table in section.tables:
            table = pdf_table(caption_table.header, caption_table.rows, body)
            table.wrap(PAGE_WIDTH, 10_000)
            for row in table._cellvalues:
                for cell in row:
                    paragraph = cell[0] if isinstance(cell, (list, tuple)) else cell
                    words = set(unescape(paragraph.text).split())
                    lines = [_line_words(line) for line in paragraph.blPara.lines]
                    assert all(word in words for line in lines for word in line), (caption_table.caption, lines)
                    checked += 1
    assert checked > 200


def _line_words(line) -> list[str]:
    """The words reportlab put on one line (simple lines are (width, words); others hold fragments)."""
    if isinstance(line, tuple):
        return line[1]
    return "".join(fragment.text for fragment in line.words).split()


def test_registering_a_section_is_one_name_in_the_order():
    assert SECTION_ORDER[:2] == ["summary", "schedule"] and SECTION_ORDER[-1] == "references"
    assert len(set(SECTION_ORDER)) == len(SECTION_ORDER)
