/**
 * The demo's decisions: from which second the seed's expectation applies to a run, how counters are compared, and
 * which metric lines belong to the demo's resource.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bucketProblem,
  counterMismatches,
  metricLinesFor,
  outcomeFixedFrom,
  runProblems,
} from "../../../scripts/demo/check.ts";
import { emptyRunCounters } from "../../../src/api/run-result.ts";

describe("outcomeFixedFrom", () => {
  const plain = { graceSeconds: 600, agedSeconds: 0, skewAllowanceSeconds: 0 };

  test("the last upload's second rounded up, the grace, one second for the strict cutoff", () => {
    const waves = [{ startMs: 1_000_000_000, endMs: 1_000_004_200 }, undefined];
    assert.equal(outcomeFixedFrom(waves, plain), 1_000_005 + 600 + 1);
  });

  test("the engine's 300 s margin below now applies when the grace is shorter", () => {
    const waves = [{ startMs: 0, endMs: 10_000 }];
    assert.equal(outcomeFixedFrom(waves, { ...plain, graceSeconds: 60 }), 10 + 300 + 1);
  });

  test("objects aged after the upload and the clock-skew allowance move it", () => {
    const waves = [{ startMs: 0, endMs: 100_000_000 }];
    assert.equal(
      outcomeFixedFrom(waves, { graceSeconds: 87_900, agedSeconds: 90_000, skewAllowanceSeconds: 5 }),
      100_000 - 90_000 + 87_900 + 5 + 1,
    );
  });

  test("the latest wave counts, whatever its position", () => {
    const late = { startMs: 2_000_000, endMs: 2_000_000 };
    const early = { startMs: 1_000_000, endMs: 1_500_000 };
    assert.equal(outcomeFixedFrom([late, early], plain), 2000 + 600 + 1);
    assert.equal(outcomeFixedFrom([early, late], plain), 2000 + 600 + 1);
  });

  test("a report without uploads is an error, not a time in 1970", () => {
    assert.throws(() => outcomeFixedFrom([undefined], plain), /no upload/);
  });
});

describe("counterMismatches", () => {
  const expected = { ...emptyRunCounters(), removedChunks: 5, diskChunks: 7 };

  test("equal counters: none", () => {
    assert.deepEqual(counterMismatches({ ...expected }, expected), []);
  });

  test("each differing counter is named with both values", () => {
    assert.deepEqual(counterMismatches({ ...expected, removedChunks: 4, pendingChunks: 1 }, expected), [
      { counter: "pendingChunks", actual: 1, expected: 0 },
      { counter: "removedChunks", actual: 4, expected: 5 },
    ]);
  });

  test("a counter missing from the run, or one the seed does not know, is a mismatch", () => {
    const { diskChunks: _, ...withoutDisk } = expected;
    assert.deepEqual(counterMismatches(withoutDisk, expected), [
      { counter: "diskChunks", actual: undefined, expected: 7 },
    ]);
    assert.deepEqual(counterMismatches({ ...expected, surprise: 0 }, expected), [
      { counter: "surprise", actual: 0, expected: undefined },
    ]);
  });

  test("no counters at all: every counter differs", () => {
    assert.equal(counterMismatches(undefined, expected).length, Object.keys(expected).length);
  });
});

describe("metricLinesFor", () => {
  test("only chunkgc samples of that namespace and name", () => {
    const text = [
      "# HELP chunkgc_runs_total Runs",
      'chunkgc_runs_total{namespace="pbs-demo",name="pbs-demo",result="Succeeded"} 2',
      'chunkgc_runs_total{namespace="other",name="pbs-demo",result="Succeeded"} 1',
      'chunkgc_runs_total{namespace="pbs-demo",name="pbs-demo-2",result="Succeeded"} 1',
      'process_cpu_seconds_total{namespace="pbs-demo",name="pbs-demo"} 3',
      'chunkgc_last_run_removed_chunks{namespace="pbs-demo",name="pbs-demo"} 1203',
    ].join("\n");
    assert.deepEqual(metricLinesFor(text, "pbs-demo", "pbs-demo"), [
      'chunkgc_runs_total{namespace="pbs-demo",name="pbs-demo",result="Succeeded"} 2',
      'chunkgc_last_run_removed_chunks{namespace="pbs-demo",name="pbs-demo"} 1203',
    ]);
  });
});

describe("runProblems: what makes the demo fail", () => {
  const counters = { ...emptyRunCounters(), removedChunks: 200, diskChunks: 500, removedBad: 5 };
  const want = { dryRun: false, counters, fixedFrom: 1_000 };
  const good = {
    jobName: "pbs-demo-g2",
    result: "Succeeded",
    dryRun: false,
    startTime: new Date(1_000_000).toISOString(),
    counters: { ...counters },
  };

  test("a successful run with the expected counters, after the cutoff: nothing", () => {
    assert.deepEqual(runProblems(good, want), []);
  });

  test("a failed run", () => {
    assert.match(runProblems({ ...good, result: "Failed", message: "boom" }, want).join(), /pbs-demo-g2 Failed: boom/);
  });

  test("a run of the other mode (a dry run where a real run was asked for)", () => {
    assert.match(runProblems({ ...good, dryRun: true }, want).join(), /dryRun true, expected false/);
  });

  test("a run that started before every object was past the cutoff, or with no start time", () => {
    assert.match(runProblems({ ...good, startTime: new Date(999_000).toISOString() }, want).join(), /before/);
    assert.match(runProblems({ ...good, startTime: undefined }, want).join(), /before/);
  });

  test("one counter off", () => {
    const problems = runProblems({ ...good, counters: { ...counters, removedBad: 4 } }, want);
    assert.deepEqual(problems, ["counters differ from the seed's expectation: removedBad 4 != 5"]);
  });

  test("no counters at all", () => {
    assert.match(runProblems({ ...good, counters: undefined }, want).join(), /counters differ/);
  });
});

describe("bucketProblem", () => {
  const counters = { ...emptyRunCounters(), removedChunks: 200, removedBad: 5 };

  test("a dry run deletes nothing", () => {
    assert.equal(bucketProblem({ before: 900, after: 900 }, { dryRun: true, counters }), undefined);
    assert.match(bucketProblem({ before: 900, after: 899 }, { dryRun: true, counters }) ?? "", /lost 1 .* expected 0/);
  });

  test("a real run deletes exactly the removed chunks and .bad copies", () => {
    assert.equal(bucketProblem({ before: 900, after: 695 }, { dryRun: false, counters }), undefined);
    assert.match(bucketProblem({ before: 900, after: 700 }, { dryRun: false, counters }) ?? "", /lost 200/);
    assert.match(bucketProblem({ before: 900, after: 694 }, { dryRun: false, counters }) ?? "", /lost 206/);
  });
});
