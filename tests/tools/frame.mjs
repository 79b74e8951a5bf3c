// Frame a flat JSON-LD document with a frame, with jsonld.js, and read two framed documents
// back, for tests/test_framing.py:
//   node frame.mjs FLAT FRAME MINE
// prints {"theirs": <FLAT framed with FRAME by jsonld.js>, "expanded": [<theirs expanded>,
// <MINE expanded>], "nquads": [<theirs as N-Quads>, <MINE as N-Quads>]}. Nothing is fetched:
// a remote context or frame is refused.
import { readFileSync } from "node:fs";
import jsonld from "jsonld";

const [flat, frame, mine] = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, "utf8")));
const documentLoader = async (url) => {
  throw new Error(`refusing to fetch ${url}: a frame and its input carry their context`);
};
const options = { documentLoader };
const theirs = await jsonld.frame(flat, frame, options);
const out = { theirs, expanded: [], nquads: [] };
for (const doc of [theirs, mine]) {
  out.expanded.push(await jsonld.expand(doc, options));
  out.nquads.push(await jsonld.toRDF(doc, { ...options, format: "application/n-quads" }));
}
process.stdout.write(JSON.stringify(out));
