/**
 * The soak's own model of one round's datastore: every snapshot with the chunk ids its indexes reference, every
 * chunk with its good and `.bad` copies, and what a GC run could have cached. Built from a RoundScenario; the
 * writer changes it as it uploads and prunes; the oracle reads it. Object formats come from src/datastore.
 */
import { createHash } from "node:crypto";
import {
  type BackupType,
  badChunkKey,
  chunkKey,
  contentKey,
  encodeBlob,
  formatSnapshotTime,
  type GroupRef,
  groupFileKey,
  MANIFEST_BLOB_NAME,
  namespaceMarkerKey,
  OWNER_FILE_NAME,
  PROTECTED_MARKER_NAME,
  type SnapshotRef,
  snapshotFileKey,
  snapshotPath,
  writeDynamicIndex,
  writeFixedIndex,
} from "../../src/datastore/index.ts";
import type { DatastoreShape } from "./scenario.ts";

const DAY = 86_400;
const FIXED_CHUNK = 4 * 1024 * 1024;

export type SnapshotState = "finished" | "running" | "abandoned" | "pruned";

export interface SnapshotModel {
  readonly path: string;
  readonly ref: SnapshotRef;
  readonly group: number;
  readonly epochSeconds: number;
  state: SnapshotState;
  readonly protected: boolean;
  /** Index file name → chunk ids, as the finished snapshot will reference them. */
  readonly indexes: Map<string, readonly number[]>;
  readonly uploadedIndexes: Set<string>;
  /** Every key written into the directory (what a prune deletes). */
  readonly keys: Set<string>;
  /** For backups the writer runs: the dedup base it reuses chunks from. */
  readonly base?: string;
  /** Never finished or pruned by the writer (the long-running backup). */
  readonly pinned: boolean;
}

export interface ChunkModel {
  readonly id: number;
  readonly hex: string;
  readonly size: number;
  /** Whether a good copy was ever uploaded. */
  good: boolean;
  /** N of the `.bad` copy, if one exists. */
  bad?: number;
}

export interface PutObject {
  readonly key: string;
  readonly body: Uint8Array;
}

export class RoundModel {
  readonly store: string;
  readonly seed: number;
  readonly groups: GroupRef[] = [];
  readonly groupKinds: BackupType[] = [];
  readonly snapshots = new Map<string, SnapshotModel>();
  readonly chunks = new Map<number, ChunkModel>();
  readonly junkKeys: string[] = [];
  /** Keys under `.cnt/` the writer never deletes (namespace markers, owners, junk). */
  readonly permanentKeys = new Set<string>();
  inUse = false;
  /** Referenced chunks found gone (each reported once). */
  readonly reportedGone = new Set<string>();
  /** Index keys that existed for the whole of a run that succeeded (not dry): surely in the engine's index cache. */
  readonly surelyCached = new Set<string>();
  /** Snapshot paths that had an index while some run was in progress: possibly in the engine's index cache. */
  readonly possiblyCached = new Set<string>();
  private nextChunkId = 0;

  constructor(store: string, seed: number) {
    this.store = store;
    this.seed = seed;
  }

  newChunk(): ChunkModel {
    const id = this.nextChunkId++;
    const payload = Buffer.alloc(20 + (id % 23), 0x2e);
    payload.write(`soak:${this.seed}:${id}:`, "latin1");
    const hex = createHash("sha256").update(payload).digest("hex");
    const chunk: ChunkModel = { id, hex, size: 12 + payload.length, good: true };
    this.chunks.set(id, chunk);
    return chunk;
  }

  chunkBody(id: number): Uint8Array {
    const payload = Buffer.alloc(20 + (id % 23), 0x2e);
    payload.write(`soak:${this.seed}:${id}:`, "latin1");
    return encodeBlob(payload);
  }

  chunkObject(id: number): PutObject {
    const chunk = this.chunks.get(id)!;
    return { key: chunkKey(this.store, chunk.hex), body: this.chunkBody(id) };
  }

  /** The key that must exist for a referenced chunk: its good copy, or its `.bad` copy when it never had one. */
  liveKeyOf(id: number): string | undefined {
    const chunk = this.chunks.get(id)!;
    if (chunk.good) return chunkKey(this.store, chunk.hex);
    return chunk.bad === undefined ? undefined : badChunkKey(this.store, chunk.hex, chunk.bad);
  }

  refsOf(snapshot: SnapshotModel): Set<number> {
    const ids = new Set<number>();
    for (const list of snapshot.indexes.values()) for (const id of list) ids.add(id);
    return ids;
  }

  indexBody(snapshot: SnapshotModel, fileName: string): Uint8Array {
    const ids = snapshot.indexes.get(fileName)!;
    const digests = ids.map((id) => Buffer.from(this.chunks.get(id)!.hex, "hex"));
    if (fileName.endsWith(".fidx")) {
      const size = ids.length === 0 ? 0 : ids.length * FIXED_CHUNK - ((ids.at(-1)! * 7919) % (FIXED_CHUNK - 1));
      return writeFixedIndex({ ctime: snapshot.epochSeconds, size, chunkSize: FIXED_CHUNK, digests });
    }
    let end = 0;
    const entries = ids.map((id, i) => {
      end += 65_536 + ((id * 7919) % (FIXED_CHUNK - 65_536));
      return { end, digest: digests[i]! };
    });
    return writeDynamicIndex({ ctime: snapshot.epochSeconds, entries });
  }

  indexObjectKey(snapshot: SnapshotModel, fileName: string): string {
    return snapshotFileKey(this.store, snapshot.ref, fileName);
  }

  indexObject(snapshot: SnapshotModel, fileName: string): PutObject {
    return { key: snapshotFileKey(this.store, snapshot.ref, fileName), body: this.indexBody(snapshot, fileName) };
  }

  fileObject(snapshot: SnapshotModel, fileName: string, text: string): PutObject {
    return { key: snapshotFileKey(this.store, snapshot.ref, fileName), body: encodeBlob(Buffer.from(text)) };
  }

  manifestObject(snapshot: SnapshotModel): PutObject {
    const manifest = {
      "backup-type": snapshot.ref.backupType,
      "backup-id": snapshot.ref.backupId,
      "backup-time": snapshot.epochSeconds,
      files: [...snapshot.indexes.keys()].map((filename) => ({ filename, "crypt-mode": "none" })),
    };
    return this.fileObject(snapshot, MANIFEST_BLOB_NAME, JSON.stringify(manifest));
  }

  /** Index file names for a backup of this kind over these chunks (ct/host also get a small catalog). */
  indexesFor(kind: BackupType, ids: readonly number[]): Map<string, readonly number[]> {
    if (kind === "vm") return new Map([["drive-scsi0.img.fidx", ids]]);
    return new Map([
      [kind === "ct" ? "root.pxar.didx" : "host.pxar.didx", ids],
      ["catalog.pcat1.didx", ids.slice(0, 2)],
    ]);
  }

  addSnapshot(
    group: number,
    epochSeconds: number,
    state: SnapshotState,
    options: { protected?: boolean; ids: readonly number[]; base?: string; pinned?: boolean; noIndex?: boolean },
  ): SnapshotModel {
    const ref: SnapshotRef = { ...this.groups[group]!, snapshotTime: formatSnapshotTime(epochSeconds) };
    const snapshot: SnapshotModel = {
      path: snapshotPath(ref),
      ref,
      group,
      epochSeconds,
      state,
      protected: options.protected ?? false,
      indexes: options.noIndex ? new Map() : this.indexesFor(this.groupKinds[group]!, options.ids),
      uploadedIndexes: new Set(),
      keys: new Set(),
      ...(options.base ? { base: options.base } : {}),
      pinned: options.pinned ?? false,
    };
    this.snapshots.set(snapshot.path, snapshot);
    return snapshot;
  }

  groupSnapshots(group: number): SnapshotModel[] {
    return [...this.snapshots.values()]
      .filter((snapshot) => snapshot.group === group)
      .sort((a, b) => a.epochSeconds - b.epochSeconds);
  }

  /** The group's newest finished snapshot: what a PBS client dedups against. */
  newestFinished(group: number): SnapshotModel | undefined {
    return this.groupSnapshots(group)
      .filter((snapshot) => snapshot.state === "finished")
      .at(-1);
  }

  running(): SnapshotModel[] {
    return [...this.snapshots.values()].filter((snapshot) => snapshot.state === "running");
  }

  configBlobName(group: number): string {
    const kind = this.groupKinds[group]!;
    return kind === "vm" ? "qemu-server.conf.blob" : kind === "ct" ? "pct.conf.blob" : "host.conf.blob";
  }
}

/**
 * Builds the round's starting datastore (everything that must be old when the GC runs) and returns the objects to
 * upload. `referenceTime` is when the round will run; snapshot times count back from it.
 */
export function buildDatastore(model: RoundModel, shape: DatastoreShape, referenceTime: number): PutObject[] {
  const objects: PutObject[] = [];
  const store = model.store;
  const namespaces = ["a", "b"].slice(0, shape.namespaceDepth);
  for (let depth = 1; depth <= namespaces.length; depth += 1) {
    const key = namespaceMarkerKey(store, namespaces.slice(0, depth));
    objects.push({ key, body: new Uint8Array() });
    model.permanentKeys.add(key);
  }
  const shared = Array.from({ length: shape.sharedPool }, () => model.newChunk().id);
  shape.groups.forEach((groupShape, g) => {
    const backupId = groupShape.kind === "host" ? `host-${g}` : String((groupShape.kind === "vm" ? 100 : 200) + g);
    const group: GroupRef = {
      namespace: namespaces.slice(0, Math.min(groupShape.namespaceDepth, namespaces.length)),
      backupType: groupShape.kind,
      backupId,
    };
    model.groups.push(group);
    model.groupKinds.push(groupShape.kind);
    const owner = groupFileKey(store, group, OWNER_FILE_NAME);
    objects.push({ key: owner, body: Buffer.from("root@pam\n") });
    model.permanentKeys.add(owner);
    let previous: number[] = [];
    groupShape.snapshots.forEach((snap, j) => {
      const ids = [
        ...previous.slice(0, Math.round(previous.length * snap.reuse)),
        ...Array.from({ length: snap.newChunks }, () => model.newChunk().id),
        ...(shared.length > 0
          ? Array.from({ length: snap.shared }, (_, k) => shared[(g + j + k) % shared.length]!)
          : []),
      ];
      previous = ids;
      const epoch = referenceTime - (groupShape.snapshots.length - j) * DAY - g * 300;
      model.addSnapshot(g, epoch, "finished", { protected: snap.protected, ids: [...new Set(ids)] });
    });
  });

  const referenced = new Set<number>();
  for (const snapshot of model.snapshots.values()) for (const id of model.refsOf(snapshot)) referenced.add(id);
  const garbage = Array.from({ length: shape.garbageChunks }, () => model.newChunk().id);

  shape.abandoned.forEach((abandoned, a) => {
    const g = abandoned.pick % model.groups.length;
    const ids = [...model.refsOf(model.groupSnapshots(g)[0]!)].slice(0, 3);
    model.addSnapshot(g, referenceTime - 3 * DAY - 1800 - a, "abandoned", { ids, noIndex: !abandoned.withIndex });
  });

  for (const bad of shape.badCopies) {
    const pool = bad.of === "referenced" ? [...referenced] : garbage;
    if (pool.length === 0) continue;
    const chunk = model.chunks.get(pool[bad.pick % pool.length]!)!;
    chunk.bad = bad.pick % 10;
    chunk.good = bad.goodCopy;
  }

  if (shape.longRunning) {
    const base = model.newestFinished(0);
    const ids = [
      ...(base ? [...model.refsOf(base)].slice(0, 3) : []),
      ...Array.from({ length: 2 }, () => model.newChunk().id),
    ];
    model.addSnapshot(0, referenceTime - 20 * 60, "running", {
      ids,
      pinned: true,
      ...(base ? { base: base.path } : {}),
    });
  }

  for (const snapshot of model.snapshots.values()) {
    const files: PutObject[] = [];
    if (snapshot.state === "running")
      files.push(model.fileObject(snapshot, model.configBlobName(snapshot.group), "conf"));
    for (const fileName of snapshot.indexes.keys()) {
      // A running backup has uploaded the indexes of its closed writers only: here the first.
      if (snapshot.state === "running" && snapshot.uploadedIndexes.size > 0) break;
      files.push(model.indexObject(snapshot, fileName));
      snapshot.uploadedIndexes.add(fileName);
    }
    if (snapshot.state !== "running") files.push(model.fileObject(snapshot, "client.log.blob", "log"));
    if (snapshot.state === "finished") files.push(model.manifestObject(snapshot));
    if (snapshot.protected)
      files.push({ key: snapshotFileKey(store, snapshot.ref, PROTECTED_MARKER_NAME), body: new Uint8Array() });
    for (const file of files) snapshot.keys.add(file.key);
    objects.push(...files);
  }

  for (const chunk of model.chunks.values()) {
    if (chunk.good) objects.push(model.chunkObject(chunk.id));
    if (chunk.bad !== undefined) {
      objects.push({ key: badChunkKey(store, chunk.hex, chunk.bad), body: model.chunkBody(chunk.id) });
    }
  }

  if (shape.junk) {
    const hex = model.chunks.get(0)?.hex ?? "ab".repeat(32);
    const junk = [
      `${store}/.chunks/README`,
      `${store}/.chunks/${hex.slice(0, 4)}/${hex}.tmp`,
      `${store}/.chunks/${hex.slice(0, 4)}/${hex}.10.bad`,
      `${store}/.chunks/${hex.slice(0, 4).toUpperCase()}/${hex.toUpperCase()}`,
      `${store}/.chunks/${hex.startsWith("0000") ? "ffff" : "0000"}/${hex}`,
      `${store}/.chunks/${hex.slice(0, 4)}/nested/${hex}`,
      `${store}/notes.txt`,
      contentKey(store, "vm/999/unexpected.txt"),
    ];
    for (const key of junk) {
      objects.push({ key, body: Buffer.from("not a chunk\n") });
      model.junkKeys.push(key);
    }
  }
  if (shape.inUse) {
    model.inUse = true;
    objects.push({ key: `${store}/.in-use`, body: Buffer.from(JSON.stringify({ hostname: "pbs-soak" })) });
  }
  return objects;
}
