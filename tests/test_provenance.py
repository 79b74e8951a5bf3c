"""Every quote in graph/ stands verbatim on the page it cites, and every fact node has evidence."""

from __future__ import annotations

from collections import Counter

import pytest
from rdflib import RDF, Graph, URIRef

from lec_kg.namespaces import LEC
from tests.support import ROOT, SOURCE_TEXT, pages

GRAPH_FILES = sorted((ROOT / "graph").glob("*.ttl"))
ID = "https://w3id.org/lec-kg/id/"
CODE = ID + "code/"


@pytest.fixture(scope="session")
def facts() -> Graph:
    """All of graph/*.ttl in one rdflib graph."""
    g = Graph()
    for path in GRAPH_FILES:
        g.parse(path, format="turtle")
    return g


def test_source_has_ten_pages() -> None:
    """The source text is in the project (sources/), one line per page, and described there."""
    assert SOURCE_TEXT.parent == ROOT / "sources"
    assert sorted(pages()) == list(range(1, 11))
    assert SOURCE_TEXT.name in (ROOT / "sources" / "README.md").read_text(encoding="utf-8")


def test_every_quote_is_on_its_page(facts: Graph) -> None:
    """A quote that is not a verbatim substring of its page is a defect, listed with its node."""
    text = pages()
    misses = []
    passages = list(facts.subjects(RDF.type, LEC.SourcePassage))
    assert passages, "no source passages in graph/"
    for passage in passages:
        page = int(facts.value(passage, LEC.page))
        quote = str(facts.value(passage, LEC.quote))
        if quote not in text.get(page, ""):
            owner = next(facts.subjects(LEC.evidence, passage), passage)
            misses.append(f"{owner} p{page}: {quote!r}")
    assert not misses, "\n".join(misses)


def test_every_fact_node_has_evidence(facts: Graph) -> None:
    """Each thing under /id/ (code lists aside) carries at least one lec:evidence."""
    nodes = {s for s in facts.subjects() if isinstance(s, URIRef) and str(s).startswith(ID)}
    facts_only = (n for n in nodes if not str(n).startswith(CODE))
    missing = sorted(str(n) for n in facts_only if (n, LEC.evidence, None) not in facts)
    assert not missing, "\n".join(missing)


def test_every_referenced_thing_is_described(facts: Graph) -> None:
    """No dangling link: every /id/ IRI used as an object is the subject of some triple."""
    subjects = set(facts.subjects())
    dangling = Counter(
        str(o)
        for o in facts.objects()
        if isinstance(o, URIRef)
        and str(o).startswith(ID)
        and not str(o).startswith(CODE)
        and o not in subjects
    )
    assert not dangling, "\n".join(f"{iri} ({n}x)" for iri, n in sorted(dangling.items()))


@pytest.mark.parametrize("path", GRAPH_FILES, ids=lambda p: p.name)
def test_file_opens_with_a_description(path) -> None:
    """Each data file starts with a comment saying what it holds, its source and licence."""
    head = path.read_text(encoding="utf-8").split("@prefix")[0]
    assert head.lstrip().startswith("#"), f"{path.name} does not open with a comment"
    assert "CC BY 4.0" in head or "CC-BY-4.0" in head, f"{path.name} does not state its licence"
