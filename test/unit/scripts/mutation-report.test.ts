import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  belowThreshold,
  type MutantStatus,
  type MutationReport,
  markdownTable,
  moduleScores,
  touchedModules,
} from "../../../scripts/mutation-report.ts";

const mutants = (counts: Partial<Record<MutantStatus, number>>) =>
  Object.entries(counts).flatMap(([status, n]) =>
    Array.from({ length: n }, () => ({ status: status as MutantStatus })),
  );

describe("mutation scores per module", () => {
  const report: MutationReport = {
    files: {
      "src/engine/sweep.ts": {
        mutants: mutants({ Killed: 80, Timeout: 5, Survived: 10, NoCoverage: 5, RuntimeError: 3 }),
      },
      "src/engine/classify.ts": { mutants: mutants({ Killed: 50, Survived: 1, Ignored: 4 }) },
      "src/operator/status.ts": { mutants: mutants({ Killed: 10, Survived: 10 }) },
      "src/engine/mark.ts": { mutants: mutants({ Killed: 84, Survived: 16 }) },
    },
  };
  const scores = moduleScores(report);

  test("detected of valid mutants: errors and ignored ones do not count", () => {
    const byFile = Object.fromEntries(scores.map((s) => [s.file, s]));
    assert.equal(byFile["src/engine/sweep.ts"]!.score, 85);
    assert.equal(byFile["src/engine/sweep.ts"]!.errors, 3);
    assert.equal(byFile["src/engine/classify.ts"]!.score, 98.03);
    assert.equal(byFile["src/operator/status.ts"]!.score, 50);
  });

  test("only deletion-deciding modules below 85 % fail the gate", () => {
    assert.deepEqual(
      belowThreshold(scores).map((s) => s.file),
      ["src/engine/mark.ts"],
    );
  });

  test("the table lists every module, sorted", () => {
    const lines = markdownTable(scores).split("\n");
    assert.equal(lines.length, 2 + 4);
    assert.match(lines[2]!, /^\| `src\/engine\/classify.ts` \| 98.03 % \| 50 \| 0 \| 1 \| 0 \| 0 \|$/);
  });
});

describe("modules a change touches", () => {
  const modules = ["src/engine/sweep.ts", "src/engine/mark.ts", "src/operator/status.ts"];
  test("the module's source, or a test named after it", () => {
    assert.deepEqual(touchedModules(modules, ["src/engine/sweep.ts"]), ["src/engine/sweep.ts"]);
    assert.deepEqual(touchedModules(modules, ["test/integration/engine/mark-indexes.test.ts"]), ["src/engine/mark.ts"]);
    assert.deepEqual(touchedModules(modules, ["test/unit/operator/status.test.ts"]), ["src/operator/status.ts"]);
  });
  test("not an unrelated file; a longer module's test counts too (one run too many, never one too few)", () => {
    assert.deepEqual(touchedModules(modules, ["README.md", "test/unit/engine/marker-cache.test.ts"]), []);
    assert.deepEqual(touchedModules(modules, ["src/engine/mark-table.ts"]), []);
    assert.deepEqual(touchedModules(modules, ["test/unit/engine/mark-table.test.ts"]), ["src/engine/mark.ts"]);
  });
});
