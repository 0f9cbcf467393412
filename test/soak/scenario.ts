/**
 * What one soak round does, drawn by fast-check from the round's seed: the datastore it starts from (namespaces,
 * groups with fixed or dynamic indexes, chunks shared inside and across groups, `.bad` copies, protected, running
 * and abandoned snapshots, junk keys) and the GC runs over it, each with its faults, its process events (SIGKILL,
 * SIGSTOP, a stop past the lock lease, a racing second GC) and what the PBS-like writer does meanwhile.
 */
import fc from "fast-check";
import { FAULT_KINDS, type FaultKind } from "./fault-proxy.ts";

export type BackupKind = "vm" | "ct" | "host";

export interface SnapshotShape {
  /** New chunks this snapshot adds to its group. */
  readonly newChunks: number;
  /** Fraction of the previous snapshot's chunks it reuses (dedup inside the group). */
  readonly reuse: number;
  /** How many chunks of the shared pool (referenced by several groups) it also references. */
  readonly shared: number;
  readonly protected: boolean;
}

export interface GroupShape {
  readonly kind: BackupKind;
  readonly namespaceDepth: number;
  readonly snapshots: readonly SnapshotShape[];
}

export type BadCopyShape = { readonly of: "referenced" | "garbage"; readonly goodCopy: boolean; readonly pick: number };

export interface DatastoreShape {
  readonly namespaceDepth: number;
  readonly groups: readonly GroupShape[];
  readonly sharedPool: number;
  readonly garbageChunks: number;
  readonly badCopies: readonly BadCopyShape[];
  /** Manifest-less directories days old: with an index (still marked) or without. */
  readonly abandoned: readonly { readonly withIndex: boolean; readonly pick: number }[];
  /** A backup started minutes ago that never finishes during the round: it holds the cutoff back. */
  readonly longRunning: boolean;
  readonly junk: boolean;
  /** `.in-use` names a PBS host (not acknowledged): the engine must delete nothing. */
  readonly inUse: boolean;
}

export type WriterOp =
  | { readonly type: "start"; readonly pick: number; readonly newChunks: number; readonly reuse: number }
  | { readonly type: "finish"; readonly pick: number }
  | { readonly type: "prune"; readonly pick: number }
  /** Prune the dedup base of a backup running now (refused unless the engine can know it, see writer.ts). */
  | { readonly type: "prune-base"; readonly pick: number }
  | { readonly type: "attach" };

export type ProcessEvent =
  | { readonly type: "none" }
  | { readonly type: "kill"; readonly atRequest: number }
  | { readonly type: "stop"; readonly atRequest: number; readonly forMs: number }
  /** Stopped past the lock lease; a second GC takes the lock over; the first wakes during or after it. */
  | { readonly type: "stop-past-lease"; readonly atRequest: number; readonly wakeDuringTakeover: boolean };

export interface RunShape {
  readonly cli: boolean;
  readonly dryRun: boolean;
  readonly faultRate: number;
  readonly faultKinds: readonly FaultKind[];
  readonly event: ProcessEvent;
  /** A second GC started concurrently (both race for the lock). */
  readonly racer: boolean;
  /**
   * Wait past the grace before this run, then prune the dedup base of a running backup: the marks of the previous
   * run no longer keep a chunk young, so the base's chunks survive only through the engine's index cache.
   */
  readonly pause: boolean;
  /** Writer operations, each at a fraction (0…1) of the expected run duration. */
  readonly ops: readonly { readonly at: number; readonly op: WriterOp }[];
  readonly deleteBatchSize: number;
  readonly roundSize: number;
}

export interface RoundScenario {
  readonly datastore: DatastoreShape;
  /** Backups the writer starts before the first run (their base chunks are old, their own chunks new). */
  readonly startBackups: readonly { readonly pick: number; readonly newChunks: number; readonly reuse: number }[];
  readonly runs: readonly RunShape[];
}

const weighted = (trueWeight: number, falseWeight: number) =>
  fc.oneof(
    { arbitrary: fc.constant(true), weight: trueWeight },
    { arbitrary: fc.constant(false), weight: falseWeight },
  );

const snapshotShapeArb: fc.Arbitrary<SnapshotShape> = fc.record({
  newChunks: fc.integer({ min: 1, max: 6 }),
  reuse: fc.double({ min: 0, max: 1, noNaN: true }),
  shared: fc.integer({ min: 0, max: 2 }),
  protected: weighted(1, 4),
});

const groupArb: fc.Arbitrary<GroupShape> = fc.record({
  kind: fc.constantFrom<BackupKind>("vm", "ct", "host"),
  namespaceDepth: fc.integer({ min: 0, max: 2 }),
  snapshots: fc.array(snapshotShapeArb, { minLength: 1, maxLength: 4 }),
});

export const datastoreArb: fc.Arbitrary<DatastoreShape> = fc.record({
  namespaceDepth: fc.integer({ min: 0, max: 2 }),
  groups: fc.array(groupArb, { minLength: 1, maxLength: 4 }),
  sharedPool: fc.integer({ min: 0, max: 4 }),
  garbageChunks: fc.integer({ min: 0, max: 40 }),
  badCopies: fc.array(
    fc.record({
      of: fc.constantFrom<"referenced" | "garbage">("referenced", "garbage"),
      goodCopy: fc.boolean(),
      pick: fc.nat(),
    }),
    { maxLength: 3 },
  ),
  abandoned: fc.array(fc.record({ withIndex: fc.boolean(), pick: fc.nat() }), { maxLength: 2 }),
  longRunning: weighted(1, 12),
  junk: weighted(1, 1),
  inUse: weighted(1, 15),
});

const writerOpArb: fc.Arbitrary<WriterOp> = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant("start" as const),
      pick: fc.nat(),
      newChunks: fc.integer({ min: 1, max: 5 }),
      reuse: fc.double({ min: 0.2, max: 1, noNaN: true }),
    }),
    weight: 18,
  },
  { arbitrary: fc.record({ type: fc.constant("finish" as const), pick: fc.nat() }), weight: 18 },
  { arbitrary: fc.record({ type: fc.constant("prune" as const), pick: fc.nat() }), weight: 16 },
  { arbitrary: fc.record({ type: fc.constant("prune-base" as const), pick: fc.nat() }), weight: 12 },
  { arbitrary: fc.record({ type: fc.constant("attach" as const) }), weight: 1 },
);

const eventArb: fc.Arbitrary<ProcessEvent> = fc.oneof(
  { arbitrary: fc.constant({ type: "none" as const }), weight: 24 },
  {
    arbitrary: fc.record({ type: fc.constant("kill" as const), atRequest: fc.integer({ min: 1, max: 60 }) }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      type: fc.constant("stop" as const),
      atRequest: fc.integer({ min: 1, max: 60 }),
      forMs: fc.integer({ min: 100, max: 2500 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      type: fc.constant("stop-past-lease" as const),
      // 0: at its first DeleteObjects, so that batches are still to go when it wakes.
      atRequest: fc.oneof(
        { arbitrary: fc.constant(0), weight: 2 },
        { arbitrary: fc.integer({ min: 3, max: 40 }), weight: 1 },
      ),
      wakeDuringTakeover: fc.boolean(),
    }),
    weight: 2,
  },
);

const faultKindsArb = fc.subarray([...FAULT_KINDS], { minLength: 1 });

const runArb: fc.Arbitrary<RunShape> = fc
  .record({
    cli: weighted(1, 9),
    dryRun: weighted(1, 12),
    faulty: weighted(3, 1),
    faultRate: fc.double({ min: 0.01, max: 0.2, noNaN: true }),
    faultKinds: faultKindsArb,
    event: eventArb,
    racer: weighted(1, 10),
    pause: weighted(1, 3),
    ops: fc.array(fc.record({ at: fc.double({ min: 0, max: 1.2, noNaN: true }), op: writerOpArb }), { maxLength: 5 }),
    deleteBatchSize: fc.constantFrom(1, 3, 10, 100, 1000),
    roundSize: fc.constantFrom(1, 5, 20, 50_000),
  })
  .map(({ faulty, faultRate, ...run }) => ({
    ...run,
    // A process event needs a real process; everything else may run in-process (much faster).
    cli: run.cli || run.event.type !== "none",
    faultRate: faulty ? faultRate : 0,
    faultKinds: faulty ? run.faultKinds : [],
  }));

/** A clean run: no faults, nothing else happening, fresh caches: its counters must equal the oracle's exactly. */
const cleanRunArb: fc.Arbitrary<RunShape> = fc.record({
  cli: weighted(1, 6),
  dryRun: weighted(1, 8),
  faultRate: fc.constant(0),
  faultKinds: fc.constant([]),
  event: fc.constant({ type: "none" as const }),
  racer: fc.constant(false),
  pause: fc.constant(false),
  ops: fc.constant([]),
  deleteBatchSize: fc.constantFrom(1, 7, 100, 1000),
  roundSize: fc.constantFrom(1, 5, 50_000),
});

export const roundArb: fc.Arbitrary<RoundScenario> = fc.record({
  datastore: datastoreArb,
  startBackups: fc.array(
    fc.record({
      pick: fc.nat(),
      newChunks: fc.integer({ min: 1, max: 4 }),
      reuse: fc.double({ min: 0.2, max: 1, noNaN: true }),
    }),
    { maxLength: 2 },
  ),
  runs: fc
    .tuple(weighted(1, 3), cleanRunArb, fc.array(runArb, { minLength: 1, maxLength: 3 }))
    .map(([cleanFirst, clean, rest]) => (cleanFirst ? [clean, ...rest.slice(0, 2)] : rest)),
});

/** The round's scenario: the same seed gives the same scenario (replay with `--seed`). */
export function scenarioFor(seed: number): RoundScenario {
  const [scenario] = fc.sample(roundArb, { seed, numRuns: 1 });
  if (!scenario) throw new Error(`fast-check produced no scenario for seed ${seed}`);
  return scenario;
}

/** True when the run's counters can be compared with the oracle exactly. */
export function isCleanRun(run: RunShape, index: number): boolean {
  return index === 0 && run.faultRate === 0 && run.event.type === "none" && !run.racer && run.ops.length === 0;
}
