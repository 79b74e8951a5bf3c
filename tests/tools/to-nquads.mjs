// Parse an RDF file with an independent parser and print it as N-Quads on stdout:
//   node to-nquads.mjs jsonld FILE   (jsonld.js; a remote context is refused, never fetched)
//   node to-nquads.mjs n3 FILE       (N3.js: Turtle, TriG, N-Triples, N-Quads)
// Used by tests/test_exports.py for the round-trip test.
import { readFileSync } from "node:fs";
import jsonld from "jsonld";
import N3 from "n3";

const [parser, file] = process.argv.slice(2);
const text = readFileSync(file, "utf8");

if (parser === "jsonld") {
  const refuse = async (url) => {
    throw new Error(`refusing to fetch ${url}: a dump must carry its context`);
  };
  const nquads = await jsonld.toRDF(JSON.parse(text), {
    format: "application/n-quads",
    documentLoader: refuse,
    safe: true,
  });
  process.stdout.write(nquads);
} else if (parser === "n3") {
  const quads = new N3.Parser().parse(text);
  const writer = new N3.Writer({ format: "N-Quads" });
  process.stdout.write(writer.quadsToString(quads));
} else {
  process.stderr.write(`unknown parser ${parser}\n`);
  process.exit(2);
}
