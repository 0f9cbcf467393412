import type { ListedSnapshot } from "./content-scan.ts";

/** A snapshot known from the listing or only from the index cache (pruned since). */
export interface KnownSnapshot {
  readonly snapshotPath: string;
  readonly groupPath: string;
  readonly epochSeconds: number;
  readonly finished: boolean;
  readonly source: "listing" | "cache";
}

export interface WriterAnalysis {
  /** Backups still running: their start times hold the cutoff back (PBS's oldest_writer). */
  readonly running: ListedSnapshot[];
  /** Directories without manifest older than the maximum backup duration: crashed, reported, not waited for. */
  readonly abandoned: ListedSnapshot[];
  readonly oldestRunningStart?: number;
}

/** Pure: which manifest-less snapshot directories are backups still running, and which were abandoned. */
export function analyzeWriters(
  snapshots: Iterable<ListedSnapshot>,
  nowSeconds: number,
  maxBackupDurationSeconds: number,
): WriterAnalysis {
  const running: ListedSnapshot[] = [];
  const abandoned: ListedSnapshot[] = [];
  for (const snapshot of snapshots) {
    if (snapshot.finished) continue;
    if (nowSeconds - snapshot.epochSeconds < maxBackupDurationSeconds) running.push(snapshot);
    else abandoned.push(snapshot);
  }
  const starts = running.map((snapshot) => snapshot.epochSeconds);
  return starts.length > 0 ? { running, abandoned, oldestRunningStart: Math.min(...starts) } : { running, abandoned };
}

/**
 * Pure: the dedup base of each running backup, i.e. the newest finished snapshot of its group older than it
 * (PBS clients reuse its chunks without uploading them again). Candidates come from the listing and from the index
 * cache, so that a base pruned after the backup started still counts.
 */
export function dedupBases(running: readonly ListedSnapshot[], known: readonly KnownSnapshot[]): KnownSnapshot[] {
  const byGroup = new Map<string, KnownSnapshot[]>();
  for (const snapshot of known) {
    if (!snapshot.finished) continue;
    const list = byGroup.get(snapshot.groupPath) ?? [];
    list.push(snapshot);
    byGroup.set(snapshot.groupPath, list);
  }
  const bases = new Map<string, KnownSnapshot>();
  for (const writer of running) {
    let best: KnownSnapshot | undefined;
    for (const candidate of byGroup.get(writer.groupPath) ?? []) {
      if (candidate.epochSeconds >= writer.epochSeconds) continue;
      if (!best || candidate.epochSeconds > best.epochSeconds) best = candidate;
    }
    if (best) bases.set(best.snapshotPath, best);
  }
  return [...bases.values()];
}
