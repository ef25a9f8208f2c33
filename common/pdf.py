"""PDFs with WeasyPrint, safely: documents may hold text people typed (HR's letter templates,
team and model names), so rendering never fetches anything, and text put into CSS is escaped for
CSS (HTML escaping does not apply inside <style>)."""

import logging

from django.utils.safestring import SafeString, mark_safe


def no_fetch():
    """WeasyPrint's URL fetcher for every Allot PDF: `data:` URLs only. No files from this
    machine (`file:///.../.env`) and no network requests (internal services), whatever a
    template asks for; a refused resource is left out of the PDF with a warning."""
    # WeasyPrint takes over a second to import (Pango, fonts): only the processes that render pay.
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


def pdf_from_html(html: str, *, fonts=None) -> bytes:
    """The PDF of `html`. `fonts` (from font_cache()) lets a batch of documents share the fonts
    WeasyPrint loaded for the first one: measured about a quarter faster per statement."""
    # WeasyPrint logs a line per page at INFO; the callers report their own progress.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    from weasyprint import HTML  # imported here for the same reason as in no_fetch

    options = {"font_config": fonts} if fonts is not None else {}
    return HTML(string=html, url_fetcher=no_fetch()).write_pdf(**options)


def font_cache():
    """A font configuration one batch of PDFs shares, in one thread (never across threads)."""
    from weasyprint.text.fonts import FontConfiguration  # imported here as in no_fetch

    return FontConfiguration()


def css_string(text: str) -> SafeString:
    """A CSS string literal for a PDF's running header (inside <style>, where HTML escaping
    does not apply): quotes and backslashes escaped, '<' written as a CSS escape."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    return mark_safe(f'"{" ".join(escaped.split())}"')  # nosec B308 B703  # noqa: S308 - escaped for CSS above
