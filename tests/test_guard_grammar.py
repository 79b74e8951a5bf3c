"""The guard side by side with pyoxigraph's parser, on the W3C syntax tests and on thousands of
generated texts (seeded, so every run sees the same ones): queries and updates over the whole
lexical grammar, adversarial ones (glued keywords, escapes in every position, code hidden behind
comments and strings), random mutations of both, a keyword after every kind of token, and short
random runs of quotes, comments and brackets.

What must hold: no text the engine accepts that holds SERVICE or LOAD passes the guard; and the
guard does not refuse, as a syntax error, an ordinary text the engine accepts.

The engine is asked to parse, never to run: pyoxigraph 0.5 has no parse-only call, but it parses
a query before it checks the dataset options, so a query with two options that exclude each other
(`use_default_graph_as_union` and `default_graph`) is parsed and then refused with ValueError;
an update on a read-only store is parsed and then refused before its first operation. A loopback
listener that every generated SERVICE and LOAD names checks this: it must receive nothing.

Whether an accepted text holds SERVICE (or LOAD) is decided by the engine itself: it does when the
same text with every `service` spelled `servXce` no longer parses (the word was read as the
keyword, not as part of an IRI, a string, a name or a comment). rdflib's parser, an independent
one, confirms the texts the guard lets through that carry the letters.
"""

from __future__ import annotations

import gc
import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyoxigraph import DefaultGraph, Store

from lec_kg.errors import ForbiddenOperation, QuerySyntaxError
from lec_kg.guard import Limits, inspect
from tests.support import LoopbackListener

FIXTURES = Path(__file__).parent / "fixtures" / "sparql-syntax"
W3C_KINDS = {
    "positive-query": 213,
    "negative-query": 76,
    "positive-update": 42,
    "negative-update": 13,
}
W3C_BASE = "http://example.org/w3c/"
LIMITS = Limits(max_chars=1_000_000)
SEED = 20261201
# W3C positive tests the engine accepts and the guard refuses, each with the reason.
W3C_REFUSED: dict[str, str] = {}


class EngineParser:
    """pyoxigraph's verdict on a text, parsed but never evaluated."""

    def __init__(self, directory: Path) -> None:
        self._queries = Store()
        writable = Store(str(directory))
        del writable
        gc.collect()
        self._updates = Store.read_only(str(directory))

    def accepts(self, text: str, *, update: bool, base: str | None = None) -> bool:
        try:
            if update:
                self._updates.update(text, base_iri=base)
            else:
                self._queries.query(
                    text,
                    base_iri=base,
                    use_default_graph_as_union=True,
                    default_graph=DefaultGraph(),
                )
        except SyntaxError:
            return False
        except ValueError as exc:  # parsed; the dataset options are refused afterwards
            assert not update and "should not be set at the same time" in str(exc), exc
            return True
        except RuntimeError as exc:  # parsed; a read-only store takes no transaction
            assert update and "read-write" in str(exc), exc
            return True
        raise AssertionError(f"the engine ran {text!r} instead of only parsing it")

    def holds_forbidden(self, text: str, *, update: bool, base: str | None = None) -> bool:
        """True when the engine reads SERVICE or LOAD as a keyword in `text` (it accepts it)."""
        neutral = _neutralise(text)
        return neutral != text and not self.accepts(neutral, update=update, base=base)


def _neutralise(text: str) -> str:
    text = re.sub(r"(?i)(serv)i(ce)", lambda m: m.group(1) + "X" + m.group(2), text)
    return re.sub(r"(?i)(lo)a(d)", lambda m: m.group(1) + "X" + m.group(2), text)


def rdflib_holds_forbidden(text: str, *, update: bool) -> bool | None:
    """rdflib's reading: does the text hold SERVICE or LOAD (None when rdflib cannot parse it)?"""
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue

    try:
        tree = parseUpdate(text) if update else parseQuery(text)
    except Exception:  # noqa: BLE001 - any failure means rdflib cannot tell
        return None

    def names(node: object) -> Iterator[str]:
        if isinstance(node, CompValue):
            yield node.name
            for value in node.values():
                yield from names(value)
        elif isinstance(node, dict):
            for value in node.values():
                yield from names(value)
        elif isinstance(node, list | tuple) or hasattr(node, "asList"):
            for value in node:  # type: ignore[union-attr]
                yield from names(value)

    return any(name in ("ServiceGraphPattern", "Load") for name in names(tree))


def guard_verdict(text: str, *, update: bool) -> str:
    """'pass', 'forbidden' or 'syntax'."""
    try:
        inspect(text, LIMITS, update=update)
    except ForbiddenOperation:
        return "forbidden"
    except QuerySyntaxError:
        return "syntax"
    return "pass"


@pytest.fixture(scope="module")
def canary() -> Iterator[LoopbackListener]:
    listener = LoopbackListener()
    yield listener
    listener.close()
    assert listener.connections == 0, "the engine was asked to run a text, not to parse it"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, canary: LoopbackListener) -> EngineParser:
    parser = EngineParser(tmp_path_factory.mktemp("read-only-store"))
    endpoint = f"<http://127.0.0.1:{canary.port}/sparql>"
    assert parser.accepts(f"SELECT * {{ SERVICE {endpoint} {{ ?s ?p ?o }} }}", update=False)
    assert parser.accepts(f"LOAD {endpoint}", update=True)
    assert not parser.accepts("SELECT * {", update=False)
    assert not parser.accepts("LOAD", update=True)
    assert canary.connections == 0
    return parser


# ------------------------------------------------------------------ the W3C syntax tests


@dataclass(frozen=True)
class W3CTest:
    path: str
    kind: str
    text: str

    @property
    def update(self) -> bool:
        return self.kind.endswith("update")


def w3c_tests() -> list[W3CTest]:
    rows = (FIXTURES / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    found = []
    for row in rows:
        path, kind = row.split("\t")
        found.append(W3CTest(path, kind, (FIXTURES / path).read_text(encoding="utf-8")))
    return found


def test_every_w3c_syntax_test_is_there() -> None:
    tests = w3c_tests()
    counts = {kind: sum(t.kind == kind for t in tests) for kind in W3C_KINDS}
    assert counts == W3C_KINDS
    assert len({t.path for t in tests}) == sum(W3C_KINDS.values())


def test_the_guard_refuses_no_w3c_positive_test_the_engine_accepts(engine: EngineParser) -> None:
    accepted = [
        t
        for t in w3c_tests()
        if t.kind.startswith("positive") and engine.accepts(t.text, update=t.update, base=W3C_BASE)
    ]
    assert len(accepted) >= 240  # pyoxigraph refuses a handful (\u outside strings and IRIs)
    refused = {
        t.path: guard_verdict(t.text, update=t.update)
        for t in accepted
        if guard_verdict(t.text, update=t.update) == "syntax"
    }
    assert refused.keys() == W3C_REFUSED.keys(), refused


def test_no_w3c_text_the_engine_accepts_with_service_or_load_passes(
    engine: EngineParser,
) -> None:
    holding = [
        t
        for t in w3c_tests()
        if engine.accepts(t.text, update=t.update, base=W3C_BASE)
        and engine.holds_forbidden(t.text, update=t.update, base=W3C_BASE)
    ]
    assert len(holding) >= 5  # syntax-fed and the LOAD tests of syntax-update-1
    passed = [t.path for t in holding if guard_verdict(t.text, update=t.update) == "pass"]
    assert passed == []


def test_no_mutated_w3c_text_with_service_or_load_passes(
    engine: EngineParser, canary: LoopbackListener
) -> None:
    """The W3C tests cover syntax the generator does not: mutate each, often adding a SERVICE,
    a LOAD or the bare word somewhere."""
    rng = random.Random(SEED + 2)
    endpoint = f"<http://127.0.0.1:{canary.port}/>"
    inserts = [f" SERVICE {endpoint} {{ }} ", f" ; LOAD {endpoint} ", "SERVICE", "LOAD", endpoint]
    accepted = holding = 0
    leaks = []
    for test in w3c_tests():
        for _ in range(20):
            text = mutate(rng, test.text)
            if rng.random() < 0.5:
                at = rng.randrange(len(text) + 1)
                text = text[:at] + rng.choice(inserts) + text[at:]
            if not engine.accepts(text, update=test.update, base=W3C_BASE):
                continue
            accepted += 1
            if engine.holds_forbidden(text, update=test.update, base=W3C_BASE):
                holding += 1
                if guard_verdict(text, update=test.update) == "pass":
                    leaks.append(text)
    assert canary.connections == 0
    assert accepted >= 600 and holding >= 30
    assert leaks == []


# ------------------------------------------------------------------ generated texts


@dataclass
class Text:
    text: str
    update: bool
    kind: str  # "clean", "adversarial" or "mutated"
    claims: bool  # the generator put SERVICE or LOAD in keyword position


@dataclass
class Generator:
    """Random queries and updates over the whole lexical grammar; adversarial ones also glue
    tokens, put escapes where they do not belong and hide code behind comments and strings."""

    rng: random.Random
    port: int
    adversarial: bool
    holds: bool = False
    declared: list[str] = field(default_factory=list)
    fresh: int = 0  # blank node labels and BIND variables are new each time
    last_triple: str = "\0"

    def new_name(self) -> str:
        self.fresh += 1
        return f"n{self.fresh}"

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def ws(self) -> str:
        spaces = [" ", " ", " ", "\n", "\t", "  ", " # a comment\n", "\r\n", " #\n"]
        if self.adversarial:
            spaces += ["", "", " #\\u000A ", " # '\n", ' # """\n', " # <x\n", " # SERVICE <x> {\n"]
        return self.rng.choice(spaces)

    def kw(self, word: str) -> str:
        style = self.rng.random()
        text = word.lower() if style < 0.2 else word.title() if style < 0.3 else word
        if style > 0.9:
            text = "".join(c.upper() if self.maybe(0.5) else c.lower() for c in word)
        if self.adversarial and self.maybe(0.02):
            at = self.rng.randrange(len(text))
            text = text[:at] + f"\\u{ord(text[at]):04X}" + text[at + 1 :]
        return text

    def escape(self, chars: str, clean: str) -> str:
        out = []
        for c in chars:
            if c in clean and self.maybe(0.15):
                out.append(f"\\u{ord(c):04x}" if self.maybe(0.7) else f"\\U{ord(c):08X}")
            else:
                out.append(c)
        return "".join(out)

    def iri(self, fragment: bool = True) -> str:
        body = self.pick(
            "http://example.org/a",
            "http://example.org/SERVICE",
            "http://example.org/load?x=1",
            "urn:x:y",
            "http://www.w3.org/2002/07/owl#Class" if fragment else "http://example.org/b",
            "http://example.org/o'k#x" if fragment else "http://example.org/c",
            "http://example.org/é",
        )
        body = self.escape(body, "abcdefghiklmnopqrstuvwxyzSE/é")
        if self.adversarial and self.maybe(0.04):
            body += self.pick("\\u003E", "\\u0023x", "\\u0020", "\\u0022", "\\n", "\\u00")
        return f"<{body}>"

    def endpoint(self) -> str:
        url = f"http://127.0.0.1:{self.port}/"
        if "" in self.declared and self.maybe(0.3):
            return ":x"
        return "<" + self.escape(url + "sparql", "htpsarql") + ">"

    def string(self) -> str:
        content = self.pick(
            "plain",
            "SERVICE <http://x/> { }",
            "LOAD <http://x/>",
            "a # b",
            "it's",
            'say "hi"',
            "tab\\tnew\\nline\\\\",
            "\\u00e9t\\u00E9",
            "\\U0001F600",
            "<not an iri>",
            "} { ?x",
        )
        if self.adversarial and self.maybe(0.04):
            content += self.pick("\\u0022", "\\u0027", "\\q", "\\u12", "\\uD800", "\n")
        quote = self.pick("'", '"', "'''", '"""')
        if quote in ("'", "'''"):
            content = content.replace("'", "\\'")
        else:
            content = content.replace('"', '\\"')
        if quote in ("'''", '"""') and self.maybe(0.3):
            content += "\nsecond line"
        literal = quote + content + quote
        return literal + self.pick("", "", "@en", "@en-GB", "^^" + self.iri(fragment=False))

    def pname(self) -> str:
        prefix = self.rng.choice(self.declared) if self.declared else "ex"
        local = self.pick("a", "b1", "a.b", "a\\.b", "p%41", "x-y", "SERVICE", "load", "a:b", "_c")
        return f"{prefix}:{local}"

    def term(self, depth: int = 0) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return "?" + self.pick("s", "o", "x", "service", "load", "é", "_1")
        if roll < 0.45:
            return self.iri()
        if roll < 0.6 and self.declared:
            return self.pname()
        if roll < 0.75:
            return self.string()
        if roll < 0.82:
            return self.pick("1", "-2", "3.5", ".5", "1e3", "+4", "5.e2")
        if roll < 0.88:
            return self.pick("true", "false")
        if roll < 0.93:
            return self.pick(f"_:{self.new_name()}", "[]", "[ ]")
        if depth < 2 and roll < 0.97:  # a collection: `(<a#x> <b#y>)` the guard finds ambiguous
            items = [self.term(depth + 1) for _ in range(self.rng.randint(1, 3))]
            if not self.adversarial:
                items = [self.iri(fragment=False) if i[0] == "<" else i for i in items]
            inner = self.ws().join(items)
            return f"({self.ws()}{inner}{self.ws()})"
        return f"[{self.ws()}{self.verb()}{self.ws()}{self.term(depth + 1)}{self.ws()}]"

    def verb(self) -> str:
        return self.pick(
            "?p", "a", "<http://example.org/p>", self.pname() if self.declared else "?q"
        )

    def subject(self) -> str:
        roll = self.rng.random()
        if roll < 0.4:
            return "?" + self.pick("s", "x", "service", "é")
        if roll < 0.6:
            return self.iri()
        if roll < 0.75 and self.declared:
            return self.pname()
        if roll < 0.85:
            return self.pick(f"_:{self.new_name()}", "[]")
        return self.term(1) if self.maybe(0.5) else f"[{self.ws()}a{self.ws()}{self.term(2)}]"

    def triple(self) -> str:
        w = self.ws
        text = f"{self.subject()}{w()}{self.verb()}{w()}{self.term()}"
        if self.maybe(0.3):
            text += f"{w()};{w()}{self.verb()}{w()}{self.term()}"
        if self.maybe(0.2):
            text += f"{w()},{w()}{self.term()}"
        return text

    def operand(self) -> str:
        roll = self.rng.random()
        if roll < 0.35:
            return "?" + self.pick("s", "o", "x", "load")
        if roll < 0.5:
            return self.iri()
        if roll < 0.6 and self.declared:
            return self.pname()
        if roll < 0.8:
            return self.string()
        return self.pick("1", "3.5", "1e3", "true", "false")

    def expr(self) -> str:
        left, right = self.operand(), self.operand()
        op = self.pick("=", "!=", "<", ">", "<=", ">=", "&&", "||", "+", "*")
        gap = "" if self.maybe(0.3) and (self.adversarial or right[0] != "<") else " "
        roll = self.rng.random()
        if roll < 0.2:
            return f"{self.kw('STR')}({left}){gap}{op}{gap}{right}"
        if roll < 0.3:
            return f"{self.kw('REGEX')}({left},{self.ws()}{self.string()})"
        if roll < 0.4:
            return f"{self.kw('BOUND')}(?x)"
        return f"{left}{gap}{op}{gap}{right}"

    def group(self, depth: int = 0) -> str:
        parts = [self.element(depth) for _ in range(self.rng.randint(1, 4))]
        body = ""
        for i, (text, triple) in enumerate(parts):
            both = triple and i + 1 < len(parts) and parts[i + 1][1]  # two triples need a dot
            body += text + self.ws() + (". " if both else self.pick("", ".", " . ")) + self.ws()
        return "{" + self.ws() + body + "}"

    def element(self, depth: int) -> tuple[str, bool]:
        text = self.pattern(depth)
        return text, text is self.last_triple

    def pattern(self, depth: int) -> str:
        roll = self.rng.random()
        w = self.ws
        if roll < 0.35 or depth > 2:
            self.last_triple = self.triple()
            return self.last_triple
        if roll < 0.45:
            return f"{self.kw('FILTER')}{w()}({w()}{self.expr()}{w()})"
        if roll < 0.5:
            return f"{self.kw('BIND')}({self.expr()}{w()}{self.kw('AS')}{w()}?{self.new_name()})"
        if roll < 0.58:
            return f"{self.kw('OPTIONAL')}{w()}{self.group(depth + 1)}"
        if roll < 0.64:
            return f"{self.group(depth + 1)}{w()}{self.kw('UNION')}{w()}{self.group(depth + 1)}"
        if roll < 0.68:
            return f"{self.kw('MINUS')}{w()}{self.group(depth + 1)}"
        if roll < 0.73:
            return (
                f"{self.kw('GRAPH')}{w()}{self.pick('?g', self.iri())}{w()}{self.group(depth + 1)}"
            )
        if roll < 0.77:
            return (
                f"{self.kw('VALUES')}{w()}?v{w()}{{{w()}{self.iri()}{w()}{self.kw('UNDEF')}{w()}}}"
            )
        if roll < 0.9:
            self.holds = True
            silent = self.kw("SILENT") + self.ws() if self.maybe(0.3) else ""
            target = self.endpoint() if self.maybe(0.85) else "?service"
            return f"{self.kw('SERVICE')}{w()}{silent}{target}{w()}{self.group(depth + 1)}"
        return f"{{{w()}{self.kw('SELECT')}{w()}*{w()}{self.group(depth + 1)}{w()}}}"

    def prologue(self) -> str:
        out = []
        self.declared = []
        choices = [("ex", "http://example.org/ns#"), ("", f"http://127.0.0.1:{self.port}/")]
        choices += [("owl", "http://www.w3.org/2002/07/owl#"), ("lec", "https://w3id.org/lec-kg/")]
        if self.adversarial:
            choices += [("service", "http://example.org/s#"), ("SERVICEex", "http://example.org/")]
            choices += [("GRAPHex", "http://example.org/g#"), ("trueSERVICE", "http://x/")]
        for name, ns in choices:
            if self.maybe(0.5):
                self.declared.append(name)
                out.append(f"{self.kw('PREFIX')}{self.ws() or ' '}{name}:{self.ws()}<{ns}>")
        if self.maybe(0.15):
            out.append(f"{self.kw('BASE')} <http://example.org/base/>")
        return "".join(p + self.ws() for p in out)

    def query(self) -> str:
        self.holds = False
        w = self.ws
        head = self.prologue()
        form = self.rng.random()
        if form < 0.6:
            select = self.pick("*", "?s ?o", "?x", "(1 AS ?one)")
            head += f"{self.kw('SELECT')}{w()}{select}{w()}"
        elif form < 0.75:
            head += f"{self.kw('ASK')}{w()}"
        elif form < 0.9:
            head += f"{self.kw('CONSTRUCT')}{w()}{{{w()}?s ?p ?o{w()}}}{w()}"
        else:
            head += f"{self.kw('DESCRIBE')}{w()}?s{w()}"
        if self.maybe(0.2):
            head += f"{self.kw('FROM')}{w()}{self.iri(fragment=False)}{w()}"
        tail = ""
        if self.maybe(0.3):
            tail += f"{w()}{self.kw('ORDER')}{w()}{self.kw('BY')}{w()}?s"
        if self.maybe(0.4):
            tail += f"{w()}{self.kw('LIMIT')}{w()}{self.rng.randint(0, 500)}"
        return head + self.kw("WHERE") + w() + self.group() + tail

    def update(self) -> str:
        self.holds = False
        head = self.prologue()
        ops = [self.operation() for _ in range(self.rng.randint(1, 3))]
        return head + (self.ws() + ";" + self.ws()).join(ops)

    def operation(self) -> str:
        w = self.ws
        roll = self.rng.random()
        graph = self.iri(fragment=False)
        silent = self.kw("SILENT") + w() if self.maybe(0.3) else ""
        if roll < 0.25:
            self.holds = True
            into = (
                f"{w()}{self.kw('INTO')}{w()}{self.kw('GRAPH')}{w()}{graph}"
                if self.maybe(0.4)
                else ""
            )
            return f"{self.kw('LOAD')}{w()}{silent}{self.endpoint()}{into}"
        if roll < 0.4:
            triple = f"<http://example.org/s>{w()}<http://example.org/p>{w()}{self.string()}"
            return f"{self.kw('INSERT')}{w()}{self.kw('DATA')}{w()}{{{w()}{triple}{w()}}}"
        if roll < 0.65:
            with_graph = f"{self.kw('WITH')}{w()}{graph}{w()}" if self.maybe(0.3) else ""
            using = f"{w()}{self.kw('USING')}{w()}{graph}" if self.maybe(0.3) else ""
            return (
                f"{with_graph}{self.kw('DELETE')}{w()}{{{w()}?s ?p ?o{w()}}}{w()}"
                f"{self.kw('INSERT')}{w()}{{{w()}?s ?p ?o{w()}}}{using}{w()}"
                f"{self.kw('WHERE')}{w()}{self.group(1)}"
            )
        if roll < 0.8:
            target = self.pick("DEFAULT", "NAMED", "ALL", "GRAPH")
            tail = f"{w()}{graph}" if target == "GRAPH" else ""
            return f"{self.kw(self.pick('CLEAR', 'DROP'))}{w()}{silent}{self.kw(target)}{tail}"
        if roll < 0.9:
            return f"{self.kw('CREATE')}{w()}{silent}{self.kw('GRAPH')}{w()}{graph}"
        verb = self.kw(self.pick("ADD", "MOVE", "COPY"))
        return f"{verb}{w()}{silent}{self.kw('DEFAULT')}{w()}{self.kw('TO')}{w()}{graph}"


MUTATION_CHARS = "'\"#<>{}()\\ :.;,?$_@u0\n"
MUTATION_WORDS = ["SERVICE", "service ", "LOAD ", "\\u0053ERVICE", "SERV\\u0049CE", "true", "a"]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        roll = rng.random()
        if roll < 0.3 and text:
            text = text[:at] + text[at + 1 :]
        elif roll < 0.55:
            text = text[:at] + rng.choice(MUTATION_CHARS) + text[at:]
        elif roll < 0.7:
            text = text[:at] + rng.choice(MUTATION_WORDS) + text[at:]
        elif roll < 0.85:
            text = re.sub(r"[ \t]+", "", text, count=rng.randint(1, 3))
        else:
            end = min(len(text), at + rng.randint(1, 12))
            text = text[:at] + text[at:end] + text[at:]
    return text


def corpus(port: int) -> list[Text]:
    rng = random.Random(SEED)
    texts: list[Text] = []
    for adversarial, queries, updates in ((False, 1800, 700), (True, 1500, 600)):
        gen = Generator(rng, port, adversarial)
        kind = "adversarial" if adversarial else "clean"
        for _ in range(queries):
            texts.append(Text(gen.query(), False, kind, gen.holds))
        for _ in range(updates):
            texts.append(Text(gen.update(), True, kind, gen.holds))
    for base in rng.sample(texts, 2500):
        texts.append(Text(mutate(rng, base.text), base.update, "mutated", False))
    return texts


@dataclass
class Verdicts:
    text: Text
    accepted: bool
    holds: bool
    guard: str


@pytest.fixture(scope="module")
def verdicts(engine: EngineParser, canary: LoopbackListener) -> list[Verdicts]:
    found = []
    for t in corpus(canary.port):
        accepted = engine.accepts(t.text, update=t.update)
        holds = accepted and engine.holds_forbidden(t.text, update=t.update)
        found.append(Verdicts(t, accepted, holds, guard_verdict(t.text, update=t.update)))
    assert canary.connections == 0
    return found


def test_the_corpus_is_large_and_varied(verdicts: list[Verdicts]) -> None:
    def count(test: Callable[[Verdicts], bool]) -> int:
        return sum(1 for v in verdicts if test(v))

    assert len(verdicts) == 7100
    assert count(lambda v: v.accepted and v.text.kind == "clean") >= 1500
    assert count(lambda v: v.accepted and v.text.kind == "adversarial") >= 150
    assert count(lambda v: v.accepted and v.text.kind == "mutated") >= 300
    assert count(lambda v: v.holds and v.text.update) >= 150
    assert count(lambda v: v.holds and not v.text.update) >= 300
    assert count(lambda v: v.holds and v.text.kind != "clean") >= 100


def test_the_generator_and_the_engine_agree_on_what_holds_service_or_load(
    verdicts: list[Verdicts],
) -> None:
    clean = [v for v in verdicts if v.accepted and v.text.kind == "clean"]
    assert [v.text.text for v in clean if v.holds != v.text.claims] == []


def test_no_accepted_text_with_service_or_load_passes_the_guard(
    verdicts: list[Verdicts],
) -> None:
    leaks = [v.text.text for v in verdicts if v.holds and v.guard == "pass"]
    assert leaks == []


def test_rdflib_finds_no_service_or_load_in_what_the_guard_lets_through(
    verdicts: list[Verdicts],
) -> None:
    """rdflib takes milliseconds a text: every adversarial or mutated one, a sample of the rest."""
    letters = re.compile(r"(?i)service|load")
    through = [
        v for v in verdicts if v.accepted and v.guard == "pass" and letters.search(v.text.text)
    ]
    odd = [v for v in through if v.text.kind != "clean"]
    clean = [v for v in through if v.text.kind == "clean"]
    checked = odd + random.Random(SEED).sample(clean, 60)
    assert len(odd) >= 100
    found = [
        v.text.text for v in checked if rdflib_holds_forbidden(v.text.text, update=v.text.update)
    ]
    assert found == []


def test_clean_texts_the_engine_accepts_are_not_refused_as_syntax_errors(
    verdicts: list[Verdicts],
) -> None:
    clean = [v for v in verdicts if v.accepted and v.text.kind == "clean"]
    refused = [v.text.text for v in clean if v.guard == "syntax"]
    assert refused == []
    assert all(v.guard == ("forbidden" if v.holds else "pass") for v in clean)


# ------------------------------------------------------------------ token boundaries

BOUNDARY_TOKENS = [
    "ex:a", "ex:a.", "ex:a\\.", "ex:a%41", "ex:a-", "ex:", ":", ":a", "?v", "$v", "_:b", "_:b.",
    '"x"', "'x'", '"""x"""', "'''x'''", '"x"@en', '"x"@en-', '"x"^^ex:t', "1", "1.", "1.5",
    "1e5", "1E+5", ".5", "-1", "true", "false", "[]", "()", "<http://x/a>", "<http://x/a#b>",
]  # fmt: skip
BOUNDARY_JOINS = ["", " ", ".", ":", "-", "_", "\\.", "%41", "\u00b7", "0", "#\n", "#\r"]


def boundary_texts(port: int) -> Iterator[tuple[str, bool]]:
    """A keyword right after every kind of token, with every joining character between."""
    prologue = f"PREFIX ex: <http://x/> PREFIX : <http://127.0.0.1:{port}/> "
    endpoint = f"<http://127.0.0.1:{port}/s>"
    for token in BOUNDARY_TOKENS:
        for join in BOUNDARY_JOINS:
            for keyword in ("SERVICE", "service", "SERVICESILENT", "SERVICE:x", "SERVICEex:x"):
                for before in ("?s ?p ", "FILTER(?x = ", "?s ex:p "):
                    close = ")" if before.startswith("FILTER") else ""
                    target = "" if ":" in keyword else f" {endpoint}"
                    text = f"{before}{token}{close}{join}{keyword}{target} {{ ?a ?b ?c }}"
                    yield f"{prologue}SELECT * {{ {text} }}", False
            for keyword in ("LOAD", "load", "LOADSILENT", "LOAD:x", "LOADex:x"):
                target = "" if ":" in keyword else f" {endpoint}"
                update = f"INSERT DATA {{ <http://x/s> ex:p {token} }} ;{join}{keyword}{target}"
                yield prologue + update, True


def test_no_keyword_hides_behind_a_token_boundary(
    engine: EngineParser, canary: LoopbackListener
) -> None:
    holding = leaks = 0
    for text, update in boundary_texts(canary.port):
        if engine.accepts(text, update=update) and engine.holds_forbidden(text, update=update):
            holding += 1
            if guard_verdict(text, update=update) == "pass":
                leaks += 1
                print("passes the guard:", text)
    assert canary.connections == 0
    assert holding >= 1500
    assert leaks == 0


SOUP = [
    "'", "'", '"', '"', "'''", '"""', "\\", "\\'", '\\"', "#", "<", ">", "<<", "(", ")", "{", "}",
    "\n", "\r", " ", " ", "a", "?x", "ex:a", ":", ".", ";", ",", "=", "\\u0022", "\\u0027",
    "\\u003E", "\\u000A", "#x\n", "SERVICE <{e}> { }", "SERVICE", "LOAD <{e}>", "true", "1",
    "FILTER(?x", "<http://x/a#b>", "<a:b'c>",
]  # fmt: skip


def soup_texts(port: int, count: int) -> Iterator[tuple[str, bool]]:
    """Short random runs of the characters and fragments that switch the lexer's state."""
    rng = random.Random(SEED + 1)
    endpoint = f"http://127.0.0.1:{port}/s"
    pieces = [p.replace("{e}", endpoint) for p in SOUP]
    for i in range(count):
        middle = "".join(rng.choice(pieces) for _ in range(rng.randint(2, 9)))
        if i % 4 == 3:
            yield f"PREFIX ex: <http://x/> INSERT DATA {{ <http://x/s> ex:p 1 }} ;{middle}", True
        elif i % 4 == 2:
            yield f"PREFIX ex: <http://x/> SELECT * {{ ?s ?p ?o . {middle} }}", False
        else:
            yield f"PREFIX ex: <http://x/> SELECT * {{ ?s ?p {middle} }}", False


def test_no_keyword_hides_in_a_soup_of_quotes_comments_and_brackets(
    engine: EngineParser, canary: LoopbackListener
) -> None:
    accepted = holding = 0
    leaks = []
    for text, update in soup_texts(canary.port, 60_000):
        if not engine.accepts(text, update=update):
            continue
        accepted += 1
        if engine.holds_forbidden(text, update=update):
            holding += 1
            if guard_verdict(text, update=update) == "pass":
                leaks.append(text)
    assert canary.connections == 0
    assert accepted >= 800 and holding >= 40
    assert leaks == []


def test_service_and_load_are_the_only_ways_out() -> None:
    """Run for real on a store: SERVICE reaches a loopback listener (so it would see a request),
    while FROM, USING, WITH, GRAPH and the graph management operations naming the same URL
    never do: they only name graphs of the store, which is why the guard refuses only the two."""
    listener = LoopbackListener()
    url = f"<http://127.0.0.1:{listener.port}/g>"
    store = Store()
    try:
        for query in (
            f"SELECT * FROM {url} {{ ?s ?p ?o }}",
            f"SELECT * FROM NAMED {url} {{ GRAPH {url} {{ ?s ?p ?o }} }}",
            f"DESCRIBE {url}",
        ):
            list(store.query(query))  # type: ignore[call-overload]
        for update in (
            f"WITH {url} INSERT {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
            f"INSERT {{ ?s ?p ?o }} USING {url} USING NAMED {url} WHERE {{ ?s ?p ?o }}",
            f"CREATE GRAPH {url} ; ADD {url} TO DEFAULT ; COPY DEFAULT TO {url}",
            f"MOVE SILENT {url} TO DEFAULT ; CLEAR SILENT GRAPH {url} ; DROP SILENT GRAPH {url}",
        ):
            store.update(update)
        assert listener.connections == 0
        with pytest.raises(OSError):
            list(store.query(f"SELECT * {{ SERVICE {url} {{ ?s ?p ?o }} }}"))
        for _ in range(50):  # the listener counts on its own thread
            if listener.connections:
                break
            threading.Event().wait(0.1)
        assert listener.connections >= 1
    finally:
        listener.close()
