/** Tiny datastores written object by object, for safety tests that need exact control of what references what. */
import { createHash } from "node:crypto";
import {
  chunkKey,
  digestHex,
  encodeBlob,
  formatSnapshotTime,
  MANIFEST_BLOB_NAME,
  type SnapshotRef,
  snapshotFileKey,
  writeFixedIndex,
} from "../../src/datastore/index.ts";
import { deleteObject, putObject, type S3Context } from "../../src/s3/index.ts";

export interface HandmadeChunk {
  readonly digest: Buffer;
  readonly key: string;
}

/** Writes `count` chunks named by `label` and returns them. */
export async function putChunks(s3: S3Context, store: string, label: string, count: number): Promise<HandmadeChunk[]> {
  const chunks: HandmadeChunk[] = [];
  for (let i = 0; i < count; i += 1) {
    const payload = Buffer.from(`${label}:${i}`);
    const digest = createHash("sha256").update(payload).digest();
    const key = chunkKey(store, digestHex(digest));
    await putObject(s3, key, encodeBlob(payload));
    chunks.push({ digest, key });
  }
  return chunks;
}

export function snapshotRef(backupId: string, epochSeconds: number): SnapshotRef {
  return { namespace: [], backupType: "vm", backupId, snapshotTime: formatSnapshotTime(epochSeconds) };
}

/** A snapshot with one fixed index over these chunks; `finished` adds the manifest. Returns the keys written. */
export async function putSnapshot(
  s3: S3Context,
  store: string,
  ref: SnapshotRef,
  chunks: readonly HandmadeChunk[],
  options: { finished: boolean; indexBytes?: Uint8Array },
): Promise<string[]> {
  const keys: string[] = [];
  if (chunks.length > 0 || options.indexBytes) {
    const index =
      options.indexBytes ??
      writeFixedIndex({ ctime: 0, size: chunks.length * 4096, chunkSize: 4096, digests: chunks.map((c) => c.digest) });
    const key = snapshotFileKey(store, ref, "drive-scsi0.img.fidx");
    await putObject(s3, key, index);
    keys.push(key);
  }
  const log = snapshotFileKey(store, ref, "client.log.blob");
  await putObject(s3, log, encodeBlob(Buffer.from("log")));
  keys.push(log);
  if (options.finished) {
    const manifest = snapshotFileKey(store, ref, MANIFEST_BLOB_NAME);
    await putObject(s3, manifest, encodeBlob(Buffer.from("{}")));
    keys.push(manifest);
  }
  return keys;
}

export async function deleteKeys(s3: S3Context, keys: readonly string[]): Promise<void> {
  for (const key of keys) await deleteObject(s3, key);
}
