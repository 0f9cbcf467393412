import type { RunResult, RunResultValue } from "../api/run-result.ts";
import { type deriveSummary, formatBinaryBytes } from "../api/summary.ts";
import { REQUEST_KINDS, type RequestCounts } from "../s3/index.ts";
import type { GcCounters } from "./counters.ts";
import type { RequestPrices } from "./options.ts";

/** Everything one run found and did: the `--json` output; its compact form goes to the termination message. */
export interface GcReport {
  result: RunResultValue;
  message?: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  /** The time cutoffs were evaluated at (phase-1 start), and whether it was overridden. */
  evaluatedAt: string;
  nowOverridden: boolean;
  store: string;
  counters: GcCounters;
  summary: ReturnType<typeof deriveSummary>;
  phases: { markMs: number; sweepMs: number; deleteMs: number; cacheMs: number };
  requests: RequestCounts;
  bytesDownloaded: number;
  /** Of those, index files (0 in a steady state: the index cache has them). */
  indexBytesDownloaded: number;
  /** DeleteObjects requests for chunks (the lock's own housekeeping not included). */
  chunkDeleteRequests: number;
  indexCache: { hits: number; misses: number; status: string };
  markerCache: { status: string; reason?: string; entriesWritten?: number };
  heldBack: Record<string, number>;
  estimatedCostUsd: number;
  cutoff?: { minAtime: string; oldestWriter: string };
  runningBackups: string[];
  abandonedBackups: string[];
  unexpectedKeys: { count: number; sample: string[] };
  missingChunks: number;
  vanishedIndexes: number;
  deleteFailures: { count: number; sample: { key: string; code: string; message: string }[] };
  inUse?: { host: string; acknowledged: boolean };
  lockGeneration?: number;
  /** Server clock minus ours, measured from the probe's Date headers; every cutoff is widened by the bound. */
  clockSkew?: { estimateMs: number; boundMs: number };
}

export function estimateCost(requests: RequestCounts, prices: RequestPrices): number {
  const dollars = REQUEST_KINDS.reduce((sum, kind) => sum + (requests[kind] * prices[kind]) / 1000, 0);
  return Math.round(dollars * 1e6) / 1e6;
}

export function toRunResult(report: GcReport): RunResult {
  const { list, get, head, put, delete: del } = report.requests;
  return {
    v: 1,
    result: report.result,
    ...(report.message ? { message: report.message } : {}),
    dryRun: report.dryRun,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    counters: report.counters,
    summary: report.summary,
    phases: report.phases,
    requests: { list, get, head, put, delete: del },
    bytesDownloaded: report.bytesDownloaded,
    indexCache: { hits: report.indexCache.hits, misses: report.indexCache.misses },
    heldBack: report.heldBack,
    estimatedCostUsd: report.estimatedCostUsd,
  };
}

/** The summary a PBS user recognises, plus what chunkgc adds. */
export function formatHuman(report: GcReport): string {
  const c = report.counters;
  const lines = [
    `GC of datastore ${report.store}: ${report.result}${report.dryRun ? " (dry run: nothing deleted)" : ""}`,
    ...(report.message ? [`  ${report.message}`] : []),
    `Removed garbage: ${formatBinaryBytes(c.removedBytes)}`,
    `Removed chunks: ${c.removedChunks}`,
    ...(c.removedBad > 0 ? [`Removed bad chunks: ${c.removedBad}`] : []),
    ...(c.stillBad > 0 ? [`Leftover bad chunks: ${c.stillBad}`] : []),
    `Pending removals: ${formatBinaryBytes(c.pendingBytes)} (in ${c.pendingChunks} chunks)`,
    `Original data usage: ${formatBinaryBytes(c.indexDataBytes)}`,
    `On-Disk usage: ${formatBinaryBytes(c.diskBytes)} (${report.summary.onDiskPercent.toFixed(2)}%)`,
    `On-Disk chunks: ${c.diskChunks}`,
    `Deduplication factor: ${report.summary.dedupFactor.toFixed(2)}`,
    `Average chunk size: ${formatBinaryBytes(report.summary.averageChunkSize)}`,
    `Index files: ${c.indexFileCount} (cache hits ${report.indexCache.hits}, downloaded ${report.indexCache.misses})`,
    `Phases: mark ${report.phases.markMs} ms, sweep ${report.phases.sweepMs} ms (deletes ${report.phases.deleteMs} ms), cache ${report.phases.cacheMs} ms`,
    `S3 requests: ${REQUEST_KINDS.map((kind) => `${kind} ${report.requests[kind]}`).join(", ")}; estimated cost $${report.estimatedCostUsd.toFixed(6)}`,
  ];
  const held = Object.entries(report.heldBack).filter(([, n]) => n > 0);
  if (held.length > 0) lines.push(`Held back by safety rules: ${held.map(([rule, n]) => `${rule} ${n}`).join(", ")}`);
  if (report.runningBackups.length > 0) lines.push(`Running backups: ${report.runningBackups.join(", ")}`);
  if (report.abandonedBackups.length > 0)
    lines.push(`Abandoned backups (not waited for): ${report.abandonedBackups.join(", ")}`);
  if (report.unexpectedKeys.count > 0)
    lines.push(`Unexpected keys under .chunks/ (ignored): ${report.unexpectedKeys.count}`);
  if (report.missingChunks > 0) lines.push(`Referenced chunks missing from the bucket: ${report.missingChunks}`);
  return `${lines.join("\n")}\n`;
}
