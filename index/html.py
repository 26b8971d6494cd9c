"""The article in a saved web page: its headline and body text, without menus, scripts, ads or
comments, by trafilatura (a maintained extractor made for news pages). One paragraph a line, so
the chunker sees the page's paragraphs."""

from __future__ import annotations

import trafilatura


def html_text(page: str) -> str:
    """The article text of ``page`` (HTML), headline first; "" when there is none."""
    # favor_recall: a short article page must not lose paragraphs to the boilerplate filter.
    found = trafilatura.bare_extraction(
        page, favor_recall=True, include_comments=False, include_tables=True, with_metadata=True
    )
    text = (getattr(found, "text", None) or "").strip()
    title = (getattr(found, "title", None) or "").strip()
    if title and text and not text.startswith(title):
        text = f"{title}\n{text}"
    return text
