/**
 * The oracle is only a second opinion if it shares no code with what it judges: nothing it loads, directly or through
 * other modules, may come from the engine.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const SRC = fileURLToPath(new URL("../../../src/", import.meta.url));

/** Every project module `entry` imports, transitively (type-only imports included: they name engine types too). */
function moduleGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith(".")) visit(path.resolve(path.dirname(file), fileName));
    }
  };
  visit(entry);
  return seen;
}

describe("seed oracle independence", () => {
  it("loads no engine module, directly or indirectly", () => {
    const graph = moduleGraph(path.join(SRC, "seed", "oracle.ts"));
    assert.ok(graph.has(path.join(SRC, "seed", "plan.ts")), "the walk follows imports");
    const engine = [...graph].filter((file) => file.startsWith(path.join(SRC, "engine") + path.sep));
    assert.deepEqual(engine, []);
  });

  it("notices an engine module when one is imported", () => {
    const graph = moduleGraph(path.join(SRC, "engine", "classify.ts"));
    assert.ok(graph.has(path.join(SRC, "engine", "counters.ts")));
  });
});
