"""Every relative link in README.md and docs/*.md resolves inside the repository (a clone has nothing else).

Checked: Markdown links and images (inline and reference-style), HTML ``href``/``src``, and ``#anchors`` into
Markdown files (GitHub's heading slugs). Code spans that name a path outside the repository (``../x``) or a
``docs/`` file that does not exist are caught too: the README once sent readers to ``../shared/DESIGN.md``.
Fenced code blocks are skipped. External (``http:``, ``mailto:``) links are not fetched.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
_HTML = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
_CODE = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    return _FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_prose(page.read_text())):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _targets(page: Path) -> list[str]:
    text = _prose(page.read_text())
    return _INLINE.findall(text) + _REFDEF.findall(text) + _HTML.findall(text)


def _problem(page: Path, target: str) -> str | None:
    """Why relative link ``target`` of ``page`` does not resolve inside the repository, else None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
        return None  # external
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    if not dest.is_relative_to(REPO):
        return f"{target} points outside the repository"
    if not dest.exists():
        return f"{target}: {dest.relative_to(REPO)} does not exist"
    if anchor and dest.suffix == ".md" and anchor.lower() not in _anchors(dest):
        return f"{target}: no heading with anchor #{anchor} in {dest.relative_to(REPO)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_relative_links_resolve_inside_the_repository(page):
    problems = [p for t in _targets(page) if (p := _problem(page, t))]
    assert problems == [], f"{page.relative_to(REPO)}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_paths_in_code_spans_exist(page):
    """``../anything`` leaves a clone; a ``docs/...`` page named in the text must be in the repository."""
    problems = []
    for span in _CODE.findall(_prose(page.read_text())):
        span = span.strip()
        if span.startswith("../") and "/" in span[3:] and " " not in span:
            problems.append(f"`{span}` points outside the repository")
        elif re.fullmatch(r"docs/[\w./-]+\.(md|png|rst|py)", span) and not (REPO / span).exists():
            problems.append(f"`{span}` does not exist")
    assert problems == [], f"{page.relative_to(REPO)}: " + "; ".join(problems)


def test_the_checker_catches_what_it_is_for(tmp_path):
    """The checks fail where they should: a link out of the repository, a missing file, a wrong anchor."""
    page = REPO / "README.md"
    assert _problem(page, "../shared/DESIGN.md") is not None
    assert _problem(page, "docs/no-such-page.md") is not None
    assert _problem(page, "docs/architecture.md") is None
    assert _problem(page, "https://example.org/x") is None
    assert _slug("`frontend.segments`") == "frontendsegments" and _slug("Top level") == "top-level"
    assert _INLINE.findall("see [the design](../shared/DESIGN.md) and ![x](docs/leaderboard.png)") == [
        "../shared/DESIGN.md", "docs/leaderboard.png"]
