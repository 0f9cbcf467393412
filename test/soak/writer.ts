/**
 * A PBS-like writer acting on a round's datastore while GC runs: it starts backups (config blob, then its new
 * chunks, then the indexes of closed writers), finishes them (remaining indexes, log, manifest last) and prunes
 * finished snapshots (every object of the directory).
 *
 * Two assumptions keep the scenarios to what an external collector can be held to:
 * - a backup reuses chunks of its dedup base only (the group's newest finished snapshot) and uploads every other
 *   chunk, which is new content (PBS clients dedup against the previous snapshot's index);
 * - the dedup base of a backup running during the current run is pruned only when the engine's index cache surely
 *   holds it (every index of it was listed through a whole successful run) and no snapshot the cache may hold lies
 *   between it and the backup; otherwise the prune is refused, as PBS refuses to prune a locked base.
 */
import { type BucketIo, deleteKeys, putAll } from "./bucket.ts";
import type { RoundModel, SnapshotModel } from "./model.ts";
import type { WriterOp } from "./scenario.ts";

export interface WriterStats {
  started: number;
  finished: number;
  pruned: number;
  /** Of those, dedup bases of a running backup (the engine must keep their chunks from its index cache). */
  basesPruned: number;
  refused: number;
  attached: number;
}

export function emptyWriterStats(): WriterStats {
  return { started: 0, finished: 0, pruned: 0, basesPruned: 0, refused: 0, attached: 0 };
}

export class PbsWriter {
  readonly model: RoundModel;
  readonly io: BucketIo;
  readonly stats: WriterStats;
  /** Set while a run is in progress: the backups running at any time during it. */
  runningDuring: Set<string> | undefined;
  /** Keys deleted by prunes during the current run. */
  readonly prunedKeys = new Set<string>();

  constructor(model: RoundModel, io: BucketIo, stats: WriterStats) {
    this.model = model;
    this.io = io;
    this.stats = stats;
  }

  /** A run begins: every running backup counts, and every snapshot with an index may end up in the cache. */
  beginRun(): Set<string> {
    this.runningDuring = new Set(this.model.running().map((snapshot) => snapshot.path));
    this.prunedKeys.clear();
    for (const snapshot of this.model.snapshots.values()) {
      if (snapshot.uploadedIndexes.size > 0 && snapshot.state !== "pruned")
        this.model.possiblyCached.add(snapshot.path);
    }
    return this.runningDuring;
  }

  endRun(): void {
    this.runningDuring = undefined;
  }

  async apply(op: WriterOp): Promise<void> {
    switch (op.type) {
      case "start":
        return this.start(op.pick, op.newChunks, op.reuse);
      case "finish":
        return this.finish(op.pick);
      case "prune":
        return this.prune(op.pick);
      case "prune-base":
        return this.pruneBase(op.pick);
      case "attach":
        this.stats.attached += 1;
        this.model.inUse = true;
        return putAll(this.io, [
          { key: `${this.model.store}/.in-use`, body: Buffer.from(JSON.stringify({ hostname: "pbs-soak" })) },
        ]);
    }
  }

  async start(pick: number, newChunks: number, reuse: number): Promise<void> {
    const model = this.model;
    const busy = new Set(model.running().map((snapshot) => snapshot.group));
    const free = model.groups.map((_, g) => g).filter((g) => !busy.has(g));
    if (free.length === 0) return;
    const group = free[pick % free.length]!;
    const base = model.newestFinished(group);
    const last = model.groupSnapshots(group).at(-1)?.epochSeconds ?? 0;
    const epoch = Math.max(Math.floor(Date.now() / 1000), last + 1);
    const reused = base ? [...model.refsOf(base)].slice(0, Math.round(model.refsOf(base).size * reuse)) : [];
    const fresh = Array.from({ length: newChunks }, () => model.newChunk().id);
    const backup = model.addSnapshot(group, epoch, "running", {
      ids: [...reused, ...fresh],
      ...(base ? { base: base.path } : {}),
    });
    this.runningDuring?.add(backup.path);
    this.stats.started += 1;
    const blob = model.fileObject(backup, model.configBlobName(group), "conf");
    backup.keys.add(blob.key);
    await putAll(this.io, [blob]);
    await putAll(
      this.io,
      fresh.map((id) => model.chunkObject(id)),
    );
    // A container or host backup closes its archive writer first: that index is visible while the backup runs.
    const [firstIndex] = backup.indexes.keys();
    if (firstIndex && backup.indexes.size > 1 && pick % 2 === 0) await this.uploadIndex(backup, firstIndex);
  }

  private async uploadIndex(backup: SnapshotModel, fileName: string): Promise<void> {
    const object = this.model.indexObject(backup, fileName);
    backup.keys.add(object.key);
    await putAll(this.io, [object]);
    backup.uploadedIndexes.add(fileName);
    if (this.runningDuring) this.model.possiblyCached.add(backup.path);
  }

  async finish(pick: number): Promise<void> {
    const candidates = this.model.running().filter((snapshot) => !snapshot.pinned);
    if (candidates.length === 0) return;
    const backup = candidates[pick % candidates.length]!;
    for (const fileName of backup.indexes.keys()) {
      if (!backup.uploadedIndexes.has(fileName)) await this.uploadIndex(backup, fileName);
    }
    const log = this.model.fileObject(backup, "client.log.blob", "log");
    const manifest = this.model.manifestObject(backup);
    backup.keys.add(log.key);
    backup.keys.add(manifest.key);
    await putAll(this.io, [log]);
    await putAll(this.io, [manifest]);
    backup.state = "finished";
    this.stats.finished += 1;
  }

  /** Whether pruning `base` could hide it from an engine that must keep it for `backup` (see the header). */
  private baseIsKnowable(base: SnapshotModel, backup: SnapshotModel): boolean {
    const model = this.model;
    for (const fileName of base.indexes.keys()) {
      if (!model.surelyCached.has(model.indexObjectKey(base, fileName))) return false;
    }
    return !model
      .groupSnapshots(base.group)
      .some(
        (other) =>
          other !== base &&
          other !== backup &&
          other.epochSeconds > base.epochSeconds &&
          other.epochSeconds < backup.epochSeconds &&
          model.possiblyCached.has(other.path),
      );
  }

  async pruneBase(pick: number): Promise<void> {
    const model = this.model;
    const bases = [...(this.runningDuring ?? [])]
      .map((path) => model.snapshots.get(path)!)
      .filter((backup) => backup.state === "running" && backup.base !== undefined)
      .map((backup) => model.snapshots.get(backup.base!)!)
      .filter((base) => base.state === "finished" && !base.protected);
    if (bases.length === 0) return;
    await this.pruneSnapshot(bases[pick % bases.length]!);
  }

  async prune(pick: number): Promise<void> {
    const model = this.model;
    const during = this.runningDuring ?? new Set<string>();
    const candidates = [...model.snapshots.values()].filter(
      (snapshot) => snapshot.state === "finished" && !snapshot.protected && !during.has(snapshot.path),
    );
    if (candidates.length === 0) return;
    await this.pruneSnapshot(candidates[pick % candidates.length]!);
  }

  private async pruneSnapshot(victim: SnapshotModel): Promise<void> {
    const model = this.model;
    const during = this.runningDuring ?? new Set<string>();
    if (during.has(victim.path)) return;
    let isBase = false;
    for (const path of during) {
      const backup = model.snapshots.get(path)!;
      if (backup.base !== victim.path) continue;
      if (!this.baseIsKnowable(victim, backup)) {
        this.stats.refused += 1;
        return;
      }
      isBase = true;
    }
    if (isBase) this.stats.basesPruned += 1;
    victim.state = "pruned";
    for (const key of victim.keys) this.prunedKeys.add(key);
    await deleteKeys(this.io, [...victim.keys]);
    this.stats.pruned += 1;
  }
}
