/**
 * Code cites the project's documents by heading (`docs/gc-semantics.md#recheck-before-delete`): every such citation
 * must name a document and a heading that exist, and Markdown links between the documents must resolve too. A renamed
 * or deleted heading fails here, naming the file and line that still cite it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { describe, it } from "node:test";
import { citationsIn, headingAnchors, markdownLinks, oldSpecCitationsIn } from "./doc-links.ts";

const ROOT = join(import.meta.dirname, "..", "..", "..");
/** Where code cites documents. */
const CODE_DIRS = ["src", "test", "bench", "scripts"];
const CODE_FILE = /\.(ts|js|mjs|cjs|sh)$/;
/** This test's own folder: its examples are about citations, not citations. */
const SELF = relative(ROOT, import.meta.dirname);
const SKIPPED_DIRS = new Set(["node_modules", ".cluster"]);

function filesUnder(dir: string, accept: (path: string) => boolean): string[] {
  const absolute = join(ROOT, dir);
  if (!existsSync(absolute)) return [];
  return readdirSync(absolute, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .filter((path) => !path.split(sep).some((part) => SKIPPED_DIRS.has(part)))
    .filter((path) => path !== SELF && !path.startsWith(`${SELF}${sep}`))
    .filter(accept)
    .sort();
}

const codeFiles = CODE_DIRS.flatMap((dir) => filesUnder(dir, (path) => CODE_FILE.test(path)));
const markdownFiles = [
  ...["README.md", "CONTRIBUTING.md"].filter((path) => existsSync(join(ROOT, path))),
  ...filesUnder("docs", (path) => path.endsWith(".md")),
];

const anchorCache = new Map<string, Set<string> | undefined>();
/** The heading anchors of a repository-relative Markdown file, or undefined when there is no such file. */
function anchorsOf(doc: string): Set<string> | undefined {
  if (!anchorCache.has(doc)) {
    const path = join(ROOT, doc);
    anchorCache.set(doc, existsSync(path) ? headingAnchors(readFileSync(path, "utf8")) : undefined);
  }
  return anchorCache.get(doc);
}

/** Why `doc#anchor` does not resolve, or undefined when it does. */
function problemWith(doc: string, anchor: string | undefined): string | undefined {
  const anchors = anchorsOf(doc);
  if (!anchors) return `${doc} does not exist`;
  if (anchor !== undefined && !anchors.has(anchor)) return `${doc} has no heading #${anchor}`;
  return undefined;
}

describe("document citations", () => {
  it("finds the citations it checks (the code does cite the docs)", () => {
    const cited = codeFiles.flatMap((file) => citationsIn(readFileSync(join(ROOT, file), "utf8")));
    assert.ok(
      cited.some((citation) => citation.doc === "docs/gc-semantics.md" && citation.anchor),
      "no citation of a docs/gc-semantics.md heading found: is the scan looking in the right place?",
    );
    assert.ok(cited.some((citation) => citation.doc === "docs/datastore-format.md" && citation.anchor));
  });

  it("every docs/…md#heading cited in src/, test/, bench/ and scripts/ exists", () => {
    const broken: string[] = [];
    for (const file of codeFiles) {
      for (const citation of citationsIn(readFileSync(join(ROOT, file), "utf8"))) {
        const problem = problemWith(citation.doc, citation.anchor);
        if (problem) broken.push(`${file}:${citation.line} cites ${citation.text}: ${problem}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it("no code cites the specification by its old section numbers", () => {
    const old: string[] = [];
    for (const file of codeFiles) {
      for (const found of oldSpecCitationsIn(readFileSync(join(ROOT, file), "utf8"))) {
        old.push(`${file}:${found.line}: ${found.text}`);
      }
    }
    assert.deepEqual(old, [], "cite docs/datastore-format.md or docs/gc-semantics.md by heading instead");
  });

  it("links between the project's Markdown documents resolve, anchors included", () => {
    const broken: string[] = [];
    for (const file of markdownFiles) {
      for (const link of markdownLinks(readFileSync(join(ROOT, file), "utf8"))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link.href)) continue; // https:, mailto:, …
        const [target = "", anchor] = link.href.split("#", 2);
        if (target !== "" && !target.endsWith(".md")) continue; // a source file or folder: not a document
        const doc = target === "" ? file : normalize(join(dirname(file), decodeURIComponent(target)));
        const problem = problemWith(doc, anchor === undefined || anchor === "" ? undefined : anchor);
        if (problem) broken.push(`${file}:${link.line} links ${link.href}: ${problem}`);
      }
    }
    assert.deepEqual(broken, []);
  });
});

describe("the citation checker itself", () => {
  const doc =
    "# Title\n\n## Recheck before delete\n\n```\n## Not a heading\n```\n\n## `.in-use` marker\n\n## Mark\n\n## Mark\n";

  it("makes GitHub's anchors: lower case, punctuation dropped, code spans as text, duplicates numbered", () => {
    assert.deepEqual(
      [...headingAnchors(doc)].sort(),
      ["in-use-marker", "mark", "mark-1", "recheck-before-delete", "title"].sort(),
    );
  });

  it("finds citations with and without a heading, and their lines", () => {
    const source = "// see docs/gc-semantics.md#recheck-before-delete\nconst x = 1; // docs/install.md\n";
    assert.deepEqual(citationsIn(source), [
      {
        doc: "docs/gc-semantics.md",
        anchor: "recheck-before-delete",
        line: 1,
        text: "docs/gc-semantics.md#recheck-before-delete",
      },
      { doc: "docs/install.md", line: 2, text: "docs/install.md" },
    ]);
  });

  it("reports old numbered citations", () => {
    // Assembled from pieces so that a search of the tree for old citations does not find this test.
    const spec = "spec";
    const source = [
      `/** Header (${spec} A.2). */`,
      `// per ${spec} part C`,
      "// specification changed",
      `// ${spec} Changes`,
    ];
    assert.deepEqual(
      oldSpecCitationsIn(source.join("\n")).map((found) => found.line),
      [1, 2],
    );
  });

  it("finds links outside code", () => {
    const links = markdownLinks(
      "See [a](a.md#x) and `[b](b.md)`.\n\n```\n[c](c.md)\n```\n\n| t |\n| - |\n| [d](#d) |\n",
    );
    assert.deepEqual(
      links.map((link) => link.href),
      ["a.md#x", "#d"],
    );
  });
});
