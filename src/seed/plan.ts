import { createHash } from "node:crypto";
import {
  BACKUP_TYPES,
  type BackupType,
  BLOB_HEADER_SIZE,
  DIGEST_SIZE,
  formatSnapshotTime,
  type GroupRef,
  type IndexKind,
  type SnapshotRef,
} from "../datastore/index.ts";
import { type SeedParams, type SeedParamsInput, SeedParamsSchema } from "./params.ts";

/*
 * The shape of a generated datastore, decided before anything is written. Chunks are numbered; the numbers fall in
 * consecutive ranges by role:
 *   [0, referenced)                  referenced by kept snapshots (the first few have .bad siblings, see below)
 *   [referenced, +garbage)           referenced by nothing any more (their snapshots were pruned)
 *   [.., +fresh)                     unreferenced, uploaded in a later wave (a backup still writing)
 *   [.., +badUnreferenced)           only a .bad object, referenced by nothing
 * Of the referenced ones, [0, badNoGood) have a .bad object and no good copy, [badNoGood, +badWithGood) have both.
 */

export const FIXED_CHUNK_SIZE = 4 * 1024 * 1024;
const SECONDS_PER_DAY = 86_400;

export interface PlannedIndex {
  readonly fileName: string;
  readonly kind: IndexKind;
  readonly chunkIds: Uint32Array;
}

export type SnapshotState = "finished" | "in-progress" | "abandoned";

export interface PlannedSnapshot {
  readonly ref: SnapshotRef;
  readonly epochSeconds: number;
  readonly state: SnapshotState;
  readonly protected: boolean;
  readonly indexes: readonly PlannedIndex[];
}

export interface ChunkRanges {
  readonly referenced: readonly [number, number];
  readonly garbage: readonly [number, number];
  readonly fresh: readonly [number, number];
  readonly badUnreferenced: readonly [number, number];
  readonly badNoGoodCopy: readonly [number, number];
  readonly badWithGoodCopy: readonly [number, number];
}

export interface DatastorePlan {
  readonly params: SeedParams;
  readonly referenceTime: number;
  readonly totalChunkIds: number;
  readonly ranges: ChunkRanges;
  readonly namespaces: readonly (readonly string[])[];
  readonly groups: readonly GroupRef[];
  readonly snapshots: readonly PlannedSnapshot[];
  /** SHA-256 of each chunk's plain data, 32 bytes per chunk id. */
  readonly digests: Buffer;
}

export function inRange(id: number, range: readonly [number, number]): boolean {
  return id >= range[0] && id < range[1];
}

function consecutiveRanges(sizes: readonly number[]): [number, number][] {
  let start = 0;
  return sizes.map((size) => {
    const range: [number, number] = [start, start + size];
    start += size;
    return range;
  });
}

export function chunkPayloadLength(params: SeedParams, id: number): number {
  return params.chunkPayloadBytes + (id % 17);
}

/** The plain data of chunk `id`: deterministic, distinct per seed and id. */
export function chunkPayload(params: SeedParams, id: number): Buffer {
  const payload = Buffer.alloc(chunkPayloadLength(params, id), 0x2e);
  payload.write(`chunkgc:${params.seed}:${id}:`, "latin1");
  return payload;
}

export function chunkObjectSize(params: SeedParams, id: number): number {
  return BLOB_HEADER_SIZE + chunkPayloadLength(params, id);
}

export function chunkDigestOf(plan: DatastorePlan, id: number): Buffer {
  return plan.digests.subarray(id * DIGEST_SIZE, (id + 1) * DIGEST_SIZE);
}

/** Nominal uncompressed size of a chunk inside a dynamic archive (64 KiB … 4 MiB). */
export function dynamicChunkLength(id: number): number {
  return 65_536 + ((id * 7919) % (FIXED_CHUNK_SIZE - 65_536));
}

/** The `size` field of a fixed index over these chunks: the last chunk is partial. */
export function fixedImageSize(chunkIds: Uint32Array): number {
  if (chunkIds.length === 0) return 0;
  const lastId = chunkIds[chunkIds.length - 1]!;
  return (chunkIds.length - 1) * FIXED_CHUNK_SIZE + 1 + (lastId % FIXED_CHUNK_SIZE);
}

export function plannedIndexBytes(index: PlannedIndex): number {
  if (index.kind === "fixed") return fixedImageSize(index.chunkIds);
  let total = 0;
  for (const id of index.chunkIds) total += dynamicChunkLength(id);
  return total;
}

function groupsFor(params: SeedParams, namespaces: readonly (readonly string[])[]): GroupRef[] {
  const groups: GroupRef[] = [];
  for (let g = 0; g < params.groups; g += 1) {
    const backupType: BackupType = BACKUP_TYPES[g % BACKUP_TYPES.length]!;
    const backupId = backupType === "host" ? `host-${g}` : String((backupType === "vm" ? 100 : 200) + g);
    groups.push({ namespace: [...namespaces[g % namespaces.length]!], backupType, backupId });
  }
  return groups;
}

/** A window of the group's chunk pool per snapshot; consecutive snapshots overlap, which is where dedup comes from. */
function windowsOverPool(pool: Uint32Array, snapshotCount: number, dedup: number): Uint32Array[] {
  if (snapshotCount === 0) return [];
  const width = Math.max(1, Math.min(pool.length, Math.ceil((pool.length * dedup) / snapshotCount)));
  const windows: Uint32Array[] = [];
  for (let j = 0; j < snapshotCount; j += 1) {
    const start = snapshotCount === 1 ? 0 : Math.round((j * (pool.length - width)) / (snapshotCount - 1));
    windows.push(pool.subarray(start, start + width));
  }
  return windows;
}

function indexesFor(backupType: BackupType, chunkIds: Uint32Array): PlannedIndex[] {
  if (backupType === "vm") return [{ fileName: "drive-scsi0.img.fidx", kind: "fixed", chunkIds }];
  const archive = backupType === "ct" ? "root.pxar.didx" : "host.pxar.didx";
  return [
    { fileName: archive, kind: "dynamic", chunkIds },
    { fileName: "catalog.pcat1.didx", kind: "dynamic", chunkIds: chunkIds.subarray(0, Math.min(2, chunkIds.length)) },
  ];
}

export function planDatastore(input: SeedParamsInput, nowSeconds = Math.floor(Date.now() / 1000)): DatastorePlan {
  const params = SeedParamsSchema.parse(input);
  const referenceTime = params.referenceTime ?? nowSeconds;
  const badNoGood = Math.min(params.badReferencedNoGoodCopy, params.chunks);
  const badWithGood = Math.min(params.badReferencedWithGoodCopy, params.chunks - badNoGood);
  const [referenced, garbage, fresh, badUnreferenced] = consecutiveRanges([
    params.chunks,
    params.garbageChunks,
    params.freshChunks,
    params.badUnreferenced,
  ]) as [[number, number], [number, number], [number, number], [number, number]];
  const ranges: ChunkRanges = {
    referenced,
    garbage,
    fresh,
    badUnreferenced,
    badNoGoodCopy: [0, badNoGood],
    badWithGoodCopy: [badNoGood, badNoGood + badWithGood],
  };
  const totalChunkIds = badUnreferenced[1];

  const namespaces: string[][] = [[]];
  for (let depth = 1; depth <= params.namespaces; depth += 1) {
    namespaces.push(Array.from({ length: depth }, (_, level) => `team${level}`));
  }
  const groups = groupsFor(params, namespaces);

  // Chunk i belongs to group i % groups; each group's kept snapshots slide a window over its pool.
  const pools = groups.map((_, g) => {
    const size = Math.floor((params.chunks - g + params.groups - 1) / params.groups);
    return Uint32Array.from({ length: Math.max(0, size) }, (_, k) => g + k * params.groups);
  });
  const snapshotsPerGroup = groups.map(
    (_, g) => Math.floor(params.snapshots / params.groups) + (g < params.snapshots % params.groups ? 1 : 0),
  );

  const snapshots: PlannedSnapshot[] = [];
  let ordinal = 0;
  groups.forEach((group, g) => {
    const count = snapshotsPerGroup[g]!;
    windowsOverPool(pools[g]!, count, params.dedup).forEach((window, j) => {
      // Daily backups ending a day before the reference time, a few minutes apart between groups.
      const epochSeconds = referenceTime - (count - j) * SECONDS_PER_DAY - g * 300;
      ordinal += 1;
      snapshots.push({
        ref: { ...group, snapshotTime: formatSnapshotTime(epochSeconds) },
        epochSeconds,
        state: "finished",
        protected: params.protectedEvery > 0 && ordinal % params.protectedEvery === 0,
        indexes: indexesFor(group.backupType, window),
      });
    });
  });

  // Running backups: the newest snapshot of a group, indexes of closed writers uploaded, no manifest yet.
  const runningStart = params.inProgressStartedAt ?? referenceTime - 3600;
  for (let r = 0; r < params.inProgressSnapshots; r += 1) {
    const g = r % groups.length;
    const pool = pools[g]!;
    const tail = pool.subarray(Math.max(0, pool.length - Math.ceil(pool.length / 2)));
    snapshots.push({
      ref: { ...groups[g]!, snapshotTime: formatSnapshotTime(runningStart + r) },
      epochSeconds: runningStart + r,
      state: "in-progress",
      protected: false,
      indexes: indexesFor(groups[g]!.backupType, tail).slice(0, 1),
    });
  }
  // Crashed backups, days old: their indexes (if any) still count, but they must not hold collection back.
  for (let a = 0; a < params.abandonedSnapshots; a += 1) {
    const g = (a + 1) % groups.length;
    const epochSeconds = referenceTime - 5 * SECONDS_PER_DAY - 1800 - a;
    const pool = pools[g]!;
    snapshots.push({
      ref: { ...groups[g]!, snapshotTime: formatSnapshotTime(epochSeconds) },
      epochSeconds,
      state: "abandoned",
      protected: false,
      indexes:
        a % 2 === 0 ? indexesFor(groups[g]!.backupType, pool.subarray(0, Math.min(3, pool.length))).slice(0, 1) : [],
    });
  }

  const digests = Buffer.allocUnsafe(totalChunkIds * DIGEST_SIZE);
  for (let id = 0; id < totalChunkIds; id += 1) {
    createHash("sha256")
      .update(chunkPayload(params, id))
      .digest()
      .copy(digests, id * DIGEST_SIZE);
  }
  return { params, referenceTime, totalChunkIds, ranges, namespaces, groups, snapshots, digests };
}
