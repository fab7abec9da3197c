"""The document as one self-contained HTML file (styles, data, chart specifications and the Vega
scripts inside; nothing is fetched when it is opened) and as a PDF made from the same HTML
(WeasyPrint, with every chart rendered to SVG by vl-convert and every data table printed)."""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from esmonitor.errors import UserInputError
from esmonitor.report import charts
from esmonitor.report.document import NUMERIC, DataTable, Document, Figure, Paragraph, Quotes, TableRef
from esmonitor.report.i18n import Language


@lru_cache(maxsize=1)
def _css() -> str:
    """The stylesheet, with the report's font inside it: DejaVu Sans, regular and bold, cut to the
    Latin characters English and French need (``fonts/``, under the DejaVu fonts licence), so
    the HTML looks the same everywhere without fetching anything, and the PDF uses the same."""
    root = resources.files("esmonitor.report")
    faces = []
    for weight, name in (("normal", "dejavu-sans.woff2"), ("bold", "dejavu-sans-bold.woff2")):
        data = base64.b64encode((root / "fonts" / name).read_bytes()).decode("ascii")
        faces.append(f'@font-face {{ font-family: "DejaVu Sans"; font-style: normal; font-weight: {weight}; '
                     f'src: url(data:font/woff2;base64,{data}) format("woff2"); }}')
    return "\n".join(faces) + "\n" + (root / "templates" / "report.css").read_text("utf-8")


@lru_cache(maxsize=1)
def _bundle() -> str:
    return charts.javascript()


def _json(data: Any) -> Markup:
    """JSON safe inside a <script> element."""
    text = json.dumps(data, ensure_ascii=False, default=str, allow_nan=False)
    return Markup(text.replace("</", "<\\/").replace("<!--", "<\\!--"))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class Renderer:
    def __init__(self, doc: Document, print_: bool) -> None:
        self.doc, self.print = doc, print_
        self.L = Language(doc.lang)
        self._ = self.L.gettext
        self.charted = {f.table_id for f in doc.figures.values()}

    def block(self, b: Any) -> Markup:
        if isinstance(b, Paragraph):
            return Markup('<p class="{}">{}</p>\n').format(b.kind, b.text)
        if isinstance(b, Figure):
            return self.figure(b)
        if isinstance(b, TableRef):
            return self.table(self.doc.tables[b.table_id])
        if isinstance(b, Quotes):
            items = Markup("").join(
                Markup("<li><p class=\"theme\">{}</p>{}</li>").format(
                    label, Markup("").join(Markup("<blockquote><p>{}</p></blockquote>").format(q) for q in quotes))
                for label, quotes in b.items)
            return Markup('<div class="quotes"><h3>{}</h3><ul>{}</ul></div>\n').format(b.title, items)
        raise TypeError(f"unknown block {type(b).__name__}")

    def figure(self, f: Figure) -> Markup:
        svg = base64.b64encode(f.svg.encode("utf-8")).decode("ascii")
        image = Markup('<img class="chart-static" src="data:image/svg+xml;base64,{}" alt="{}">').format(svg, f.alt)
        live = "" if self.print else Markup('<div class="chart-live"></div>')
        link = Markup('<p class="figure-link"><a href="#table-{}">{}: {}</a></p>').format(
            f.table_id, self._("Data behind this chart"), self.doc.tables[f.table_id].title)
        caption = Markup('<span class="headline">{}</span> <span class="chart-title">{}</span>').format(
            f.headline, f.title) if f.headline else f.title
        return Markup('<figure id="figure-{}"><figcaption>{}</figcaption><div class="chart" data-chart="{}">'
                      '{}{}</div>{}</figure>\n').format(f.id, caption, f.id, image, live, link)

    def table(self, t: DataTable) -> Markup:
        _ = self._
        head = Markup("").join(Markup('<th scope="col" class="{}">{}</th>').format(
            "num" if c.kind in NUMERIC else "txt", c.label) for c in t.columns)
        rows = []
        withheld = False
        for r in t.rows:
            cells = []
            for i, c in enumerate(t.columns):
                text = t.cell(self.L, r, c)
                cls = "num" if c.kind in NUMERIC else "txt"
                if text is None:
                    withheld = True
                    text = Markup('—<span class="visually-hidden"> {}</span>').format(_("suppressed or not available"))
                tag = "th" if i == 0 else "td"
                scope = ' scope="row"' if i == 0 else ""
                cells.append(Markup('<{}{} class="{}">{}</{}>').format(Markup(tag), Markup(scope), cls, text,
                                                                       Markup(tag)))
            rows.append(Markup("<tr>{}</tr>").format(Markup("").join(cells)))
        note = Markup('<p class="source">{}: {}</p>').format(_("Source"), t.source)
        if withheld:
            note += Markup('<p class="source">{}</p>').format(
                _("— : figure suppressed to protect people (fewer than {k}, or it would reveal such a figure), "
                  "or not available.").format(k=self.L.number(self.doc.meta["min_count"])))
        body = Markup('<div class="table-wrap"><table><caption>{}</caption><thead><tr>{}</tr></thead>'
                      '<tbody>{}</tbody></table></div>{}').format(t.title, head, Markup("\n").join(rows), note)
        if self.print or t.id not in self.charted:
            return Markup('<div class="data-table" id="table-{}">{}</div>\n').format(t.id, body)
        return Markup('<details class="data-table" id="table-{}"><summary>{}: {}</summary>{}</details>\n').format(
            t.id, _("Data table"), t.title, body)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("esmonitor.report", "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    return env


def render_html(doc: Document, *, print_: bool = False, alternate: dict[str, str] | None = None) -> str:
    """The report as HTML: interactive and self-contained, or (``print_``) for the PDF."""
    for f in doc.figures.values():
        if not f.svg:
            f.svg = charts.to_svg(f.spec)
    L = Language(doc.lang)
    env = _environment()
    env.install_gettext_callables(L.gettext, lambda s, p, n: L.gettext(s if n == 1 else p),  # type: ignore[attr-defined]
                                  newstyle=False)
    r = Renderer(doc, print_)
    return env.get_template("report.html").render(
        doc=doc, print=print_, block=r.block, css=Markup(_css()), alternate=alternate,
        data_json=_json(_clean(doc.data())),
        specs_json="" if print_ else _json({k: f.spec for k, f in doc.figures.items()}),
        bundle="" if print_ else Markup(_bundle().replace("</script", "<\\/script")))


def render_pdf(doc: Document, path: Path) -> None:
    import logging

    try:
        from weasyprint import HTML
    except OSError as err:  # WeasyPrint loads Pango when imported
        raise UserInputError(f"cannot make the PDF: the Pango library is missing ({err})",
                             hint="install Debian's libpango-1.0-0 and libpangoft2-1.0-0, or ask for "
                                  "--format html") from err
    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # screen-only CSS it skips is not a problem
    HTML(string=render_html(doc, print_=True)).write_pdf(path)
