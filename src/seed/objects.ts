import { createHash } from "node:crypto";
import {
  badChunkKey,
  chunkKey,
  contentKey,
  digestHex,
  encodeBlob,
  groupFileKey,
  MANIFEST_BLOB_NAME,
  namespaceMarkerKey,
  OWNER_FILE_NAME,
  PROTECTED_MARKER_NAME,
  snapshotFileKey,
  writeDynamicIndex,
  writeFixedIndex,
} from "../datastore/index.ts";
import {
  chunkDigestOf,
  chunkPayload,
  type DatastorePlan,
  dynamicChunkLength,
  FIXED_CHUNK_SIZE,
  fixedImageSize,
  inRange,
  type PlannedIndex,
  type PlannedSnapshot,
} from "./plan.ts";

export type ObjectRole =
  | "chunk"
  | "bad-chunk"
  | "index"
  | "manifest"
  | "blob"
  | "protected-marker"
  | "owner"
  | "namespace-marker"
  | "junk"
  | "neighbour";

/** One object to write. Bodies are made on demand: a million chunks are never all in memory at once. */
export interface PlannedObject {
  readonly key: string;
  readonly role: ObjectRole;
  /** 1: the datastore as it stands; 2: fresh chunks, uploaded after a pause so that they are measurably younger. */
  readonly wave: 1 | 2;
  body(): Uint8Array;
}

export function badIndexOf(id: number): number {
  return id % 10;
}

export function indexBody(plan: DatastorePlan, snapshot: PlannedSnapshot, index: PlannedIndex): Uint8Array {
  const digests = Buffer.allocUnsafe(index.chunkIds.length * 32);
  index.chunkIds.forEach((id, i) => {
    chunkDigestOf(plan, id).copy(digests, i * 32);
  });
  if (index.kind === "fixed") {
    return writeFixedIndex({
      ctime: snapshot.epochSeconds,
      size: fixedImageSize(index.chunkIds),
      chunkSize: FIXED_CHUNK_SIZE,
      digests,
    });
  }
  let end = 0;
  const entries = Array.from(index.chunkIds, (id, i) => {
    end += dynamicChunkLength(id);
    return { end, digest: digests.subarray(i * 32, (i + 1) * 32) };
  });
  return writeDynamicIndex({ ctime: snapshot.epochSeconds, entries });
}

function manifestBody(snapshot: PlannedSnapshot): Uint8Array {
  const manifest = {
    "backup-type": snapshot.ref.backupType,
    "backup-id": snapshot.ref.backupId,
    "backup-time": snapshot.epochSeconds,
    files: snapshot.indexes.map((index) => ({ filename: index.fileName, "crypt-mode": "none" })),
    unprotected: { "chunk-upload-stats": { count: snapshot.indexes.length } },
  };
  return encodeBlob(Buffer.from(JSON.stringify(manifest)));
}

/** The neighbour datastore's name extends this one's, so a prefix bug would reach into it. */
export function neighbourStoreName(store: string): string {
  return `${store}-old`;
}

export function* plannedObjects(plan: DatastorePlan): Generator<PlannedObject> {
  const { params, ranges } = plan;
  const store = params.store;
  const empty = () => new Uint8Array();

  for (const namespace of plan.namespaces) {
    if (namespace.length > 0) {
      yield { key: namespaceMarkerKey(store, namespace), role: "namespace-marker", wave: 1, body: empty };
    }
  }
  for (const group of plan.groups) {
    yield {
      key: groupFileKey(store, group, OWNER_FILE_NAME),
      role: "owner",
      wave: 1,
      body: () => Buffer.from("root@pam\n"),
    };
  }
  for (const snapshot of plan.snapshots) {
    for (const index of snapshot.indexes) {
      const key = snapshotFileKey(store, snapshot.ref, index.fileName);
      yield { key, role: "index", wave: 1, body: () => indexBody(plan, snapshot, index) };
    }
    yield {
      key: snapshotFileKey(store, snapshot.ref, "client.log.blob"),
      role: "blob",
      wave: 1,
      body: () => encodeBlob(Buffer.from(`backup log of ${snapshot.ref.snapshotTime}\n`)),
    };
    if (snapshot.state === "finished") {
      yield {
        key: snapshotFileKey(store, snapshot.ref, MANIFEST_BLOB_NAME),
        role: "manifest",
        wave: 1,
        body: () => manifestBody(snapshot),
      };
    }
    if (snapshot.protected) {
      yield {
        key: snapshotFileKey(store, snapshot.ref, PROTECTED_MARKER_NAME),
        role: "protected-marker",
        wave: 1,
        body: empty,
      };
    }
  }

  for (let id = 0; id < plan.totalChunkIds; id += 1) {
    const hex = digestHex(chunkDigestOf(plan, id));
    const blob = () => encodeBlob(chunkPayload(params, id));
    const hasGoodCopy = !inRange(id, ranges.badNoGoodCopy) && !inRange(id, ranges.badUnreferenced);
    if (hasGoodCopy)
      yield { key: chunkKey(store, hex), role: "chunk", wave: inRange(id, ranges.fresh) ? 2 : 1, body: blob };
    if (
      inRange(id, ranges.badNoGoodCopy) ||
      inRange(id, ranges.badWithGoodCopy) ||
      inRange(id, ranges.badUnreferenced)
    ) {
      yield { key: badChunkKey(store, hex, badIndexOf(id)), role: "bad-chunk", wave: 1, body: blob };
    }
  }

  if (params.junkKeys) yield* junkObjects(plan);
  if (params.neighbourStore) yield* neighbourObjects(plan);
}

/**
 * A digest no planned chunk has, for junk key `n`: junk must never be protected by a reference, so that a run which
 * took it for a chunk would find it old and unreferenced and delete it, and "never deleted" can fail.
 */
export function junkDigestHex(plan: DatastorePlan, n: number): string {
  return createHash("sha256").update(`chunkgc-junk:${plan.params.seed}:${n}`).digest("hex");
}

/** Keys under `.chunks/` that look almost like chunks, and strays elsewhere: never counted, never deleted. */
export function junkKeys(plan: DatastorePlan): string[] {
  const store = plan.params.store;
  const chunkLike = (n: number, tail: (hex: string, folder: string) => string) => {
    const hex = junkDigestHex(plan, n);
    return `${store}/.chunks/${tail(hex, hex.slice(0, 4))}`;
  };
  return [
    `${store}/.chunks/README`,
    chunkLike(1, (hex, folder) => `${folder}/${hex}.tmp`),
    chunkLike(2, (hex, folder) => `${folder}/${hex}.10.bad`),
    chunkLike(3, (hex, folder) => `${folder}/${hex}.bad`),
    chunkLike(4, (hex, folder) => `${folder.toUpperCase()}/${hex.toUpperCase()}`),
    chunkLike(5, (hex) => `${hex.startsWith("0000") ? "ffff" : "0000"}/${hex}`),
    chunkLike(6, (hex, folder) => `${folder}/${hex.slice(0, 63)}`),
    chunkLike(7, (hex, folder) => `${folder}/nested/${hex}`),
    `${store}/.chunks/:lost+found`,
    `${store}/notes.txt`,
    contentKey(store, "vm/999/unexpected.txt"),
  ];
}

function* junkObjects(plan: DatastorePlan): Generator<PlannedObject> {
  for (const key of junkKeys(plan)) {
    yield { key, role: "junk", wave: 1, body: () => Buffer.from("not a chunk\n") };
  }
}

/** A few old, unreferenced chunks of another datastore in the same bucket. */
export function neighbourKeys(plan: DatastorePlan): string[] {
  const neighbour = neighbourStoreName(plan.params.store);
  const keys: string[] = [];
  for (let id = plan.ranges.garbage[0]; id < Math.min(plan.ranges.garbage[1], plan.ranges.garbage[0] + 3); id += 1) {
    keys.push(chunkKey(neighbour, digestHex(chunkDigestOf(plan, id))));
  }
  keys.push(chunkKey(neighbour, digestHex(chunkDigestOf(plan, 0))));
  return keys;
}

function* neighbourObjects(plan: DatastorePlan): Generator<PlannedObject> {
  for (const key of neighbourKeys(plan)) {
    yield { key, role: "neighbour", wave: 1, body: () => encodeBlob(Buffer.from(`neighbour ${key}`)) };
  }
}
