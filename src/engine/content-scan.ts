import { contentPrefix, type IndexKind, indexKindOfFileName, parseContentKey } from "../datastore/index.ts";
import { listObjects, type S3Context } from "../s3/index.ts";

/** One index file as listed. */
export interface ListedIndex {
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  readonly kind: IndexKind;
  /** Set when the key sits in a well-formed snapshot directory. */
  readonly snapshotPath?: string;
}

export interface ListedSnapshot {
  readonly snapshotPath: string;
  readonly groupPath: string;
  readonly snapshotTime: string;
  readonly epochSeconds: number;
  finished: boolean;
}

export interface ContentScan {
  readonly indexes: ListedIndex[];
  readonly snapshots: Map<string, ListedSnapshot>;
  /** Keys under `.cnt/` that fit no known pattern (still scanned for indexes). */
  unexpectedKeys: number;
}

/** Lists `<store>/.cnt/` once: every index (wherever it sits) and every snapshot directory with its state. */
export async function scanContent(s3: S3Context, store: string, signal?: AbortSignal): Promise<ContentScan> {
  const scan: ContentScan = { indexes: [], snapshots: new Map(), unexpectedKeys: 0 };
  for await (const object of listObjects(s3, { prefix: contentPrefix(store), signal })) {
    const parsed = parseContentKey(store, object.key);
    if (parsed?.type === "snapshot-file") {
      let snapshot = scan.snapshots.get(parsed.snapshotPath);
      if (!snapshot) {
        snapshot = {
          snapshotPath: parsed.snapshotPath,
          groupPath: parsed.groupPath,
          snapshotTime: parsed.snapshotTime,
          epochSeconds: parsed.epochSeconds,
          finished: false,
        };
        scan.snapshots.set(parsed.snapshotPath, snapshot);
      }
      if (parsed.isManifest) snapshot.finished = true;
      if (parsed.indexKind) {
        scan.indexes.push({
          key: object.key,
          etag: object.etag,
          size: object.size,
          kind: parsed.indexKind,
          snapshotPath: parsed.snapshotPath,
        });
      }
      continue;
    }
    if (parsed?.type === "other") {
      scan.unexpectedKeys += 1;
      // PBS marks index files it finds in unexpected places too: a stray index still protects its chunks.
      const kind = indexKindOfFileName(object.key);
      if (kind) scan.indexes.push({ key: object.key, etag: object.etag, size: object.size, kind });
    }
  }
  return scan;
}
