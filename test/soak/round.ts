/**
 * One soak round: its datastore is uploaded ahead of time (so that it is old enough to be garbage when the round
 * plays), then the writer starts backups, then each GC run goes with its faults, its process event, a possible
 * racing GC and the writer's operations; after every run the oracle checks the invariant, and a clean run's
 * counters are compared with the oracle's exactly.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { S3TestServer } from "../support/s3-servers.ts";
import type { BucketIo } from "./bucket.ts";
import { putAll } from "./bucket.ts";
import { emptyFaultCounts, type FaultCounts, NO_FAULTS, type SoakProxy, startSoakProxy } from "./fault-proxy.ts";
import {
  type ChildControl,
  type GcOutcome,
  type GcSpec,
  GRACE_SECONDS,
  LOCK_LEASE_SECONDS,
  MAX_BACKUP_SECONDS,
  runCli,
  runInProcess,
} from "./gc-runner.ts";
import { buildDatastore, RoundModel } from "./model.ts";
import {
  checkInvariant,
  expectedCounters,
  type IndexRead,
  listStore,
  readIndexes,
  type StoreListing,
  type Violation,
} from "./oracle.ts";
import { isCleanRun, type RoundScenario, type RunShape, scenarioFor } from "./scenario.ts";
import { emptyWriterStats, PbsWriter, type WriterStats } from "./writer.ts";

export interface Figures {
  rounds: number;
  runs: number;
  results: Record<string, number>;
  faults: FaultCounts;
  kills: number;
  stops: number;
  stopsPastLease: number;
  racers: number;
  pauses: number;
  chunksDeleted: number;
  cleanRunsCompared: number;
  cleanRunsAmbiguous: number;
  cleanRunsFailed: number;
  writer: WriterStats;
  violations: number;
  failedSeeds: number[];
}

export function emptyFigures(): Figures {
  return {
    rounds: 0,
    runs: 0,
    results: {},
    faults: emptyFaultCounts(),
    kills: 0,
    stops: 0,
    stopsPastLease: 0,
    racers: 0,
    pauses: 0,
    chunksDeleted: 0,
    cleanRunsCompared: 0,
    cleanRunsAmbiguous: 0,
    cleanRunsFailed: 0,
    writer: emptyWriterStats(),
    violations: 0,
    failedSeeds: [],
  };
}

export interface SoakContext {
  readonly server: S3TestServer;
  readonly io: BucketIo;
  readonly workDir: string;
  readonly figures: Figures;
  /** Expected run durations (ms) by mode, learned as the soak goes: writer operations land inside runs. */
  readonly expectedMs: { inProcess: number; cli: number };
  report(line: string): void;
}

export interface PreparedRound {
  readonly seed: number;
  readonly scenario: RoundScenario;
  readonly model: RoundModel;
  /** When its last object was uploaded. */
  readonly uploadedAtMs: number;
}

/** Objects must be older than grace + the writer margin (300 s) + slack, so that they are garbage while backups run. */
export const DEFAULT_AGE_SECONDS = GRACE_SECONDS + 300 + 25;

export async function prepareRound(ctx: SoakContext, seed: number, store: string): Promise<PreparedRound> {
  const scenario = scenarioFor(seed);
  const model = new RoundModel(store, seed);
  const referenceTime = Math.floor(Date.now() / 1000) + DEFAULT_AGE_SECONDS;
  const objects = buildDatastore(model, scenario.datastore, referenceTime);
  await putAll(ctx.io, objects);
  return { seed, scenario, model, uploadedAtMs: Date.now() };
}

export interface RunRecord {
  readonly run: number;
  readonly shape: RunShape;
  readonly outcome: GcOutcome;
  readonly violations: Violation[];
}

function deleteRequestsAfter(proxy: SoakProxy, fromMs: number): number {
  return proxy.log.filter((entry) => entry.method === "POST" && /[?&]delete/.test(entry.path) && entry.atMs >= fromMs)
    .length;
}

/** The engine had taken the lock: it had started listing the datastore's content (mark follows the lock). */
function heldLockBefore(proxy: SoakProxy, store: string, atMs: number): boolean {
  const marker = `prefix=${encodeURIComponent(`${store}/.cnt/`)}`;
  return proxy.log.some((entry) => entry.atMs < atMs && entry.method === "GET" && entry.path.includes(marker));
}

export async function playRound(ctx: SoakContext, prepared: PreparedRound): Promise<RunRecord[]> {
  const { scenario, model, seed } = prepared;
  const figures = ctx.figures;
  const writer = new PbsWriter(model, ctx.io, figures.writer);
  const cacheDir = mkdtempSync(join(ctx.workDir, "cache-"));
  // One proxy, one address for the whole round: the engine keys its caches by endpoint.
  const proxy = await startSoakProxy(ctx.server.endpoint, NO_FAULTS, seed);
  const records: RunRecord[] = [];
  try {
    for (const backup of scenario.startBackups) await writer.start(backup.pick, backup.newChunks, backup.reuse);
    for (const [i, shape] of scenario.runs.entries()) {
      records.push(await playRun(ctx, prepared, writer, proxy, cacheDir, i, shape));
    }
  } finally {
    await proxy.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
  figures.rounds += 1;
  const violations = records.flatMap((record) => record.violations);
  if (violations.length > 0) {
    figures.violations += violations.length;
    figures.failedSeeds.push(seed);
  }
  return records;
}

async function playRun(
  ctx: SoakContext,
  prepared: PreparedRound,
  writer: PbsWriter,
  proxy: SoakProxy,
  cacheDir: string,
  i: number,
  shape: RunShape,
): Promise<RunRecord> {
  const { model, seed } = prepared;
  const figures = ctx.figures;
  if (shape.pause && i > 0) {
    figures.pauses += 1;
    await delay((GRACE_SECONDS + 5) * 1000);
  }
  // An attached datastore reports what it would delete: compared as a dry run is not, so left out.
  const clean = isCleanRun(shape, i) && !model.inUse;
  const before = await listStore(ctx.io, model.store);
  const indexesBefore: IndexRead[] | undefined = clean ? await readIndexes(ctx.io, before.content) : undefined;
  const deleteNothing = shape.dryRun || model.inUse;
  const runningDuring = writer.beginRun();
  // The base of a running backup pruned while no GC ran: the engine can only know it from its index cache.
  if (shape.pause && i > 0) await writer.pruneBase(seed + i);
  const plan = shape.faultRate > 0 ? { rate: shape.faultRate, kinds: shape.faultKinds, slowMs: 800 } : NO_FAULTS;
  proxy.reset(plan, (seed * 131 + i * 7) >>> 0);
  const extraProxies: SoakProxy[] = [];
  // A racer or a taker talks through a proxy of its own (whose log is its own) but shares the round's caches.
  const spec = (p: SoakProxy, owner: string): GcSpec => ({
    server: ctx.server,
    proxy: p,
    identityEndpoint: proxy.endpoint,
    bucket: ctx.io.bucket,
    store: model.store,
    cacheDir,
    dryRun: shape.dryRun,
    deleteBatchSize: shape.deleteBatchSize,
    roundSize: shape.roundSize,
    owner,
  });
  const violations: Violation[] = [];
  const expected = shape.cli ? ctx.expectedMs.cli : ctx.expectedMs.inProcess;
  const startedAt = Date.now();

  // The writer's operations, one after the other, each no earlier than its share of the expected run time.
  const ops = (async () => {
    for (const { at, op } of [...shape.ops].sort((a, b) => a.at - b.at)) {
      const wait = startedAt + at * expected - Date.now();
      if (wait > 0) await delay(wait);
      await writer.apply(op);
    }
  })();

  // A racing GC (in-process, its own proxy, the same caches): one of the two waits for the lock.
  const racer = shape.racer
    ? (async () => {
        figures.racers += 1;
        await delay(Math.floor(((seed % 97) / 97) * expected * 0.5));
        const p = await startSoakProxy(ctx.server.endpoint, NO_FAULTS, seed + 1);
        extraProxies.push(p);
        return runInProcess(spec(p, `racer-${seed}-${i}`));
      })()
    : undefined;

  let outcome: GcOutcome;
  const event = shape.event;
  if (!shape.cli) {
    outcome = await runInProcess(spec(proxy, `soak-${seed}-${i}`));
  } else {
    let control: ChildControl | undefined;
    let takeover: Promise<GcOutcome> | undefined;
    let lateWindow: { from: number; held: boolean } | undefined;
    if (event.type === "kill") {
      proxy.onRequest(event.atRequest, () => {
        figures.kills += 1;
        control?.kill();
      });
    } else if (event.type === "stop") {
      proxy.onRequest(event.atRequest, () => {
        figures.stops += 1;
        control?.stop();
        setTimeout(() => control?.resume(), event.forMs);
      });
    } else if (event.type === "stop-past-lease") {
      const at = (trigger: () => void) =>
        event.atRequest === 0 ? proxy.onFirstDelete(trigger) : proxy.onRequest(event.atRequest, trigger);
      at(() => {
        figures.stopsPastLease += 1;
        const stoppedAt = Date.now();
        control?.stop();
        takeover = (async () => {
          // Unavoidable real wait: the lease must run out on the server's clock.
          await delay(LOCK_LEASE_SECONDS * 1000 + 1500);
          const p = await startSoakProxy(ctx.server.endpoint, NO_FAULTS, seed + 2);
          extraProxies.push(p);
          const taker = runInProcess(spec(p, `taker-${seed}-${i}`));
          if (!event.wakeDuringTakeover) await taker;
          lateWindow = { from: Date.now(), held: heldLockBefore(proxy, model.store, stoppedAt) };
          control?.resume();
          return taker;
        })();
      });
    }
    outcome = await runCli(spec(proxy, `soak-${seed}-${i}`), (c) => {
      control = c;
    });
    if (takeover) {
      const taken = await takeover;
      figures.results[`takeover:${taken.result}`] = (figures.results[`takeover:${taken.result}`] ?? 0) + 1;
    }
    const late = lateWindow as { from: number; held: boolean } | undefined;
    if (late?.held) {
      const count = deleteRequestsAfter(proxy, late.from);
      if (count > 0) {
        violations.push({
          kind: "delete-after-lease-lost",
          key: `${model.store}/.chunkgc/`,
          detail: `the engine, stopped past its ${LOCK_LEASE_SECONDS} s lease, sent ${count} DeleteObjects after waking`,
        });
      }
    }
  }
  const racerOutcome = racer ? await racer : undefined;
  await ops;
  writer.endRun();
  const durationMs = Date.now() - startedAt;
  const key = shape.cli ? "cli" : "inProcess";
  if (event.type === "none" && !shape.racer)
    ctx.expectedMs[key] = Math.round(ctx.expectedMs[key] * 0.8 + durationMs * 0.2);

  const checked = await checkInvariant(ctx.io, model, {
    runningDuring,
    chunksBefore: new Set(before.chunks.map((object) => object.key)),
    deleteNothing,
    prunedKeys: writer.prunedKeys,
  });
  violations.push(...checked.violations);

  if (clean && indexesBefore && outcome.counters && outcome.evaluatedAt && outcome.result === "succeeded") {
    compareCounters(ctx, model.store, before, indexesBefore, outcome, checked.after, shape.dryRun, violations);
  } else if (clean && outcome.result !== "succeeded") {
    // Not a safety violation, but nothing should have made it fail: reported, and counted.
    figures.cleanRunsFailed += 1;
    ctx.report(`round seed ${seed} run ${i}: a clean run ended ${outcome.result}: ${outcome.message ?? ""}`);
  }

  // What the engine's index cache surely holds now: every index listed before and after a successful run.
  if (outcome.result === "succeeded" && !shape.dryRun) {
    const afterKeys = new Set(checked.after.content.map((object) => object.key));
    for (const object of before.content) if (afterKeys.has(object.key)) model.surelyCached.add(object.key);
  }

  const afterChunks = new Set(checked.after.chunks.map((object) => object.key));
  figures.chunksDeleted += before.chunks.filter((object) => !afterChunks.has(object.key)).length;
  figures.runs += 1;
  figures.results[outcome.result] = (figures.results[outcome.result] ?? 0) + 1;
  if (racerOutcome)
    figures.results[`racer:${racerOutcome.result}`] = (figures.results[`racer:${racerOutcome.result}`] ?? 0) + 1;
  for (const p of [proxy, ...extraProxies]) {
    for (const [kind, count] of Object.entries(p.injected)) figures.faults[kind as keyof FaultCounts] += count;
    if (p !== proxy) await p.close();
  }
  if (outcome.result === "crashed") {
    ctx.report(`round seed ${seed} run ${i}: the engine crashed without a report: ${outcome.message}`);
  }
  return { run: i, shape, outcome, violations };
}

function compareCounters(
  ctx: SoakContext,
  store: string,
  before: StoreListing,
  indexes: IndexRead[],
  outcome: GcOutcome,
  after: StoreListing,
  dryRun: boolean,
  violations: Violation[],
): void {
  const expectation = expectedCounters({
    store,
    before,
    indexes,
    nowSeconds: Math.floor(Date.parse(outcome.evaluatedAt!) / 1000),
    graceSeconds: GRACE_SECONDS,
    maxBackupDurationSeconds: MAX_BACKUP_SECONDS,
  });
  if (expectation.ambiguous) {
    ctx.figures.cleanRunsAmbiguous += 1;
    return;
  }
  ctx.figures.cleanRunsCompared += 1;
  const actual = outcome.counters!;
  const mismatched = (Object.keys(expectation.counters) as (keyof typeof actual)[]).filter(
    (name) => actual[name] !== expectation.counters[name],
  );
  if (mismatched.length > 0) {
    violations.push({
      kind: "counters-differ",
      key: store,
      detail: mismatched
        .map((name) => `${name}: engine ${actual[name]}, oracle ${expectation.counters[name]}`)
        .join("; "),
    });
  }
  const afterKeys = new Set(after.chunks.map((object) => object.key));
  const gone = before.chunks.map((object) => object.key).filter((key) => !afterKeys.has(key));
  const expectedGone = dryRun ? new Set<string>() : expectation.removedKeys;
  const unexpected = gone.filter((key) => !expectedGone.has(key));
  const kept = [...expectedGone].filter((key) => afterKeys.has(key));
  if (unexpected.length > 0 || kept.length > 0) {
    violations.push({
      kind: "removed-set-differs",
      key: store,
      detail: `deleted but not garbage: ${unexpected.slice(0, 3).join(", ")}; garbage kept: ${kept.slice(0, 3).join(", ")}`,
    });
  }
}
