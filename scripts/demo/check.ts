/**
 * The demo's pure decisions: from when a run's outcome is fixed (so the seed's expectation applies to it), and how a
 * run's counters compare with that expectation.
 */
import type { RunCounters } from "../../src/api/run-result.ts";
import { WRITER_MARGIN_SECONDS } from "../../src/engine/classify.ts";

export interface UploadWindow {
  readonly startMs: number;
  readonly endMs: number;
}

export interface FixedOutcomeInput {
  readonly graceSeconds: number;
  /** How far the objects' times were set back after the upload (0 when they keep their upload times). */
  readonly agedSeconds: number;
  /** The most the engine may subtract for the S3 server's clock skew (it measures a bound of about 1 s locally). */
  readonly skewAllowanceSeconds: number;
}

/**
 * The first second at which a GC run sees every seeded object as older than its cutoff. From then on the outcome no
 * longer depends on the run's "now": every unreferenced chunk is removable and nothing is pending (the demo's
 * datastore has no running backup). The engine's cutoff is min(now − grace, now − 300 s) − skew when no backup runs;
 * S3 times are whole seconds, so the last upload counts as its second rounded up, plus one second for the strict
 * comparison.
 */
export function outcomeFixedFrom(waves: readonly (UploadWindow | undefined)[], input: FixedOutcomeInput): number {
  const ends = waves.filter((w): w is UploadWindow => w !== undefined).map((w) => w.endMs);
  if (ends.length === 0) throw new Error("the seed report records no upload");
  const lastUpload = Math.ceil(Math.max(...ends) / 1000) - input.agedSeconds;
  return lastUpload + Math.max(input.graceSeconds, WRITER_MARGIN_SECONDS) + input.skewAllowanceSeconds + 1;
}

export interface CounterMismatch {
  readonly counter: string;
  readonly actual: number | undefined;
  readonly expected: number | undefined;
}

/** Every counter whose value differs, including one missing on either side. Empty when the run matches. */
export function counterMismatches(
  actual: Readonly<Partial<Record<string, number>>> | undefined,
  expected: Readonly<RunCounters>,
): CounterMismatch[] {
  const got = actual ?? {};
  const names = [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
  const exp = expected as Readonly<Record<string, number>>;
  return names
    .filter((name) => got[name] !== exp[name])
    .map((name) => ({ counter: name, actual: got[name], expected: exp[name] }));
}

/** Two columns, name and value, with the expectation beside it when it differs. */
export function formatCounters(
  actual: Readonly<Partial<Record<string, number>>>,
  expected: Readonly<RunCounters>,
): string {
  const exp = expected as Readonly<Record<string, number>>;
  const names = Object.keys(expected);
  const width = Math.max(...names.map((n) => n.length));
  return names
    .map((name) => {
      const value = actual[name];
      const mark = value === exp[name] ? "" : `   <-- expected ${exp[name]}`;
      return `  ${name.padEnd(width)}  ${String(value ?? "-").padStart(10)}${mark}`;
    })
    .join("\n");
}

/** The metric lines of one GarbageCollection in a Prometheus exposition text. */
export function metricLinesFor(exposition: string, namespace: string, name: string): string[] {
  const labels = `namespace="${namespace}",name="${name}"`;
  return exposition.split("\n").filter((line) => line.startsWith("chunkgc_") && line.includes(labels));
}

/** What the resource's status records about a finished run (the fields the demo checks). */
export interface RecordedRun {
  readonly jobName?: string;
  readonly result?: string;
  readonly message?: string;
  readonly dryRun?: boolean;
  readonly startTime?: string;
  readonly counters?: Readonly<Record<string, number>>;
}

export interface RunExpectation {
  readonly dryRun: boolean;
  readonly counters: Readonly<RunCounters>;
  /** {@link outcomeFixedFrom}: a run that started earlier may legitimately find less. */
  readonly fixedFrom: number;
}

/** Everything wrong with a recorded run, in words; empty when the demo may go on. */
export function runProblems(run: RecordedRun, want: RunExpectation): string[] {
  const problems: string[] = [];
  const name = run.jobName ?? "the run";
  if (run.result !== "Succeeded") problems.push(`${name} ${run.result ?? "has no result"}: ${run.message ?? ""}`);
  if (run.dryRun !== want.dryRun) problems.push(`${name} has dryRun ${run.dryRun}, expected ${want.dryRun}`);
  const started = run.startTime ? Date.parse(run.startTime) / 1000 : Number.NaN;
  if (!(started >= want.fixedFrom)) {
    problems.push(`${name} started at ${run.startTime}, before every seeded object was past the cutoff`);
  }
  const mismatches = counterMismatches(run.counters, want.counters);
  if (mismatches.length > 0) {
    const list = mismatches.map((m) => `${m.counter} ${m.actual} != ${m.expected}`).join(", ");
    problems.push(`counters differ from the seed's expectation: ${list}`);
  }
  return problems;
}

/** A dry run deletes nothing; a real run deletes exactly the removed chunks and .bad copies. */
export function bucketProblem(
  chunkObjects: { readonly before: number; readonly after: number },
  want: { readonly dryRun: boolean; readonly counters: Readonly<RunCounters> },
): string | undefined {
  const expected = want.dryRun ? 0 : want.counters.removedChunks + want.counters.removedBad;
  const lost = chunkObjects.before - chunkObjects.after;
  return lost === expected ? undefined : `the bucket lost ${lost} chunk objects, expected ${expected}`;
}
