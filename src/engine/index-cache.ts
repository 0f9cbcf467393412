/**
 * The index cache: parsed `.fidx`/`.didx` digest lists in the cache directory (a PVC in Kubernetes), keyed by S3 key
 * + ETag + size. Snapshots are immutable, so a steady-state GC run reads every index from here and downloads nothing.
 *
 * Two parts, both in `<dir>`:
 * - `indexes/<h:2>/<h>.idx`, one binary file per index, `h` = SHA-256 of (cache identity, S3 key). Self-describing and
 *   self-verifying, so a lost catalog loses nothing but the memory of pruned snapshots. Little-endian:
 *   `magic "chunkgcI"[8] | version u32 = 1 | meta length M u32 | digest count n u32 | reserved u32 |
 *    meta: catalog entry as JSON [M] | digests [32·n] | SHA-256 of every byte before [32]`.
 *   Written to a temp file and renamed (no fsync: a torn file fails its checksum and is just a miss).
 * - `index-catalog.v1.jsonl`, the catalog: every index seen, with its snapshot, even after the snapshot disappeared
 *   from the bucket (a pruned snapshot can still be the dedup base of a running backup). JSON lines: a header
 *   `{"format":"chunkgc-index-catalog","version":1,"identity":{…},"writtenAt":…,"entries":N}`, N entry lines, then
 *   `{"sha256":"<hex of every byte before this line>"}`. Written atomically (temp file, fsync, rename, dir fsync).
 *
 * ETags are compared without quotes and weak prefix (`"abc"` = `abc` = `W/"abc"`), as servers differ between listing
 * and GET. An index with an empty ETag is stored but never a hit: key + size alone do not prove the bytes are the same.
 */

import { createHash } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import pLimit from "p-limit";
import { z } from "zod";
import { assertLayout } from "../datastore/layout.ts";
import {
  errorCode,
  removeStaleTemps,
  replaceFileAtomically,
  tempPathFor,
  unlinkQuietly,
  writeFully,
} from "./cache-files.ts";
import { type CacheIdentity, identityText } from "./marker-cache.ts";

export const INDEX_CATALOG_FILE = "index-catalog.v1.jsonl";
export const INDEX_DIR = "indexes";
const CATALOG_FORMAT = "chunkgc-index-catalog";
const CATALOG_VERSION = 1;
const FILE_MAGIC = Buffer.from("chunkgcI", "latin1");
const FILE_VERSION = 1;
const FILE_HEADER_SIZE = 24;
/** An index file's header (little-endian); the metadata JSON, the digests and a SHA-256 of all before it follow. */
const FILE_HEADER = assertLayout("index cache file header", FILE_HEADER_SIZE, {
  magic: { offset: 0, size: 8 },
  version: { offset: 8, size: 4 },
  metaLength: { offset: 12, size: 4 },
  chunkCount: { offset: 16, size: 4 },
  /** Zero. */
  reserved: { offset: 20, size: 4 },
});
const CHECKSUM_SIZE = 32;
const DIGEST_SIZE = 32;
const FILE_SUFFIX = ".idx";
/** An index file's metadata (one catalog entry as JSON) is never anywhere near this. */
const MAX_META_LENGTH = 1 << 20;
/** Parallel file operations (unlinks, metadata reads). */
const FILE_CONCURRENCY = 16;
/** Catalog lines per write. */
const LINES_PER_WRITE = 2048;

const catalogEntrySchema = z.object({
  key: z.string().min(1),
  etag: z.string(),
  size: z.number().int().nonnegative(),
  groupPath: z.string(),
  snapshotTime: z.string(),
  epochSeconds: z.number().int(),
  finished: z.boolean(),
  kind: z.enum(["fixed", "dynamic"]),
  indexBytes: z.number().int().nonnegative(),
  chunkCount: z.number().int().nonnegative(),
  lastSeenMs: z.number(),
});

/** What the catalog knows of one index file (and its snapshot). */
export type IndexCatalogEntry = z.infer<typeof catalogEntrySchema>;

const catalogHeaderSchema = z.object({
  format: z.literal(CATALOG_FORMAT),
  version: z.literal(CATALOG_VERSION),
  identity: z.object({ endpoint: z.string(), bucket: z.string(), store: z.string() }),
  writtenAt: z.string(),
  entries: z.number().int().nonnegative(),
});

const catalogTrailerSchema = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) });

export type IndexCacheStatus = "loaded" | "missing" | "corrupt" | "foreign";

/** ETag without surrounding quotes and weak prefix. */
export function normalizeEtag(etag: string): string {
  let value = etag.trim();
  if (value.startsWith("W/")) value = value.slice(2);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return value;
}

/** A catalog that cannot be written (index file errors are misses, never errors). */
export class IndexCacheError extends Error {
  readonly path: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`index cache ${file}: ${reason}`, options);
    this.name = "IndexCacheError";
    this.path = file;
  }
}

/** The verified content of one index file, or why it is damaged. */
function decodeIndexFile(bytes: Buffer): { meta: IndexCatalogEntry; digests: Uint8Array } | string {
  if (bytes.length < FILE_HEADER_SIZE + CHECKSUM_SIZE) return `truncated (${bytes.length} bytes)`;
  if (!bytes.subarray(0, FILE_HEADER.magic.size).equals(FILE_MAGIC)) return "bad magic";
  const version = bytes.readUInt32LE(FILE_HEADER.version.offset);
  if (version !== FILE_VERSION) return `unsupported version ${version}`;
  const metaLength = bytes.readUInt32LE(FILE_HEADER.metaLength.offset);
  const count = bytes.readUInt32LE(FILE_HEADER.chunkCount.offset);
  const expected = FILE_HEADER_SIZE + metaLength + count * DIGEST_SIZE + CHECKSUM_SIZE;
  if (bytes.length !== expected) return `length ${bytes.length}, expected ${expected}`;
  const end = bytes.length - CHECKSUM_SIZE;
  const checksum = createHash("sha256").update(bytes.subarray(0, end)).digest();
  if (!checksum.equals(bytes.subarray(end))) return "checksum mismatch";
  let meta: IndexCatalogEntry;
  try {
    const parsed = catalogEntrySchema.safeParse(
      JSON.parse(bytes.toString("utf8", FILE_HEADER_SIZE, FILE_HEADER_SIZE + metaLength)),
    );
    if (!parsed.success) return `invalid metadata: ${parsed.error.message}`;
    meta = parsed.data;
  } catch (error) {
    return `invalid metadata: ${(error as Error).message}`;
  }
  if (meta.chunkCount !== count) return `metadata says ${meta.chunkCount} chunks, file holds ${count}`;
  const start = FILE_HEADER_SIZE + metaLength;
  return { meta, digests: new Uint8Array(bytes.buffer, bytes.byteOffset + start, count * DIGEST_SIZE) };
}

function encodeIndexFile(entry: IndexCatalogEntry, digests: Uint8Array): Buffer {
  const meta = Buffer.from(JSON.stringify(entry), "utf8");
  const body = Buffer.alloc(FILE_HEADER_SIZE + meta.length + digests.length + CHECKSUM_SIZE);
  FILE_MAGIC.copy(body, 0);
  body.writeUInt32LE(FILE_VERSION, FILE_HEADER.version.offset);
  body.writeUInt32LE(meta.length, FILE_HEADER.metaLength.offset);
  body.writeUInt32LE(digests.length / DIGEST_SIZE, FILE_HEADER.chunkCount.offset);
  meta.copy(body, FILE_HEADER_SIZE);
  body.set(digests, FILE_HEADER_SIZE + meta.length);
  const end = body.length - CHECKSUM_SIZE;
  createHash("sha256").update(body.subarray(0, end)).digest().copy(body, end);
  return body;
}

/** The catalog entry stored in an index file's header (without reading its digests), if it looks valid. */
async function readIndexMeta(file: string): Promise<IndexCatalogEntry | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, "r");
    const header = Buffer.alloc(FILE_HEADER_SIZE);
    const { bytesRead } = await handle.read(header, 0, FILE_HEADER_SIZE, 0);
    if (bytesRead !== FILE_HEADER_SIZE || !header.subarray(0, FILE_HEADER.magic.size).equals(FILE_MAGIC))
      return undefined;
    if (header.readUInt32LE(FILE_HEADER.version.offset) !== FILE_VERSION) return undefined;
    const metaLength = header.readUInt32LE(FILE_HEADER.metaLength.offset);
    if (metaLength > MAX_META_LENGTH) return undefined;
    const meta = Buffer.alloc(metaLength);
    const read = await handle.read(meta, 0, metaLength, FILE_HEADER_SIZE);
    if (read.bytesRead !== metaLength) return undefined;
    const parsed = catalogEntrySchema.safeParse(JSON.parse(meta.toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

type CatalogLoad =
  | { status: "loaded"; entries: IndexCatalogEntry[] }
  | { status: "missing" }
  | { status: "corrupt" | "foreign"; reason: string };

/** Reads and verifies the catalog, line by line (never the whole file at once). */
async function readCatalog(file: string, identity: string): Promise<CatalogLoad> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return { status: "missing" };
    return { status: "corrupt", reason: `unreadable: ${(error as Error).message}` };
  }
  const stream = handle.createReadStream({ autoClose: false, encoding: "utf8", highWaterMark: 1 << 20 });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  const hash = createHash("sha256");
  const entries: IndexCatalogEntry[] = [];
  let announced = -1;
  let trailer: string | undefined;
  let headerIdentity = "";
  try {
    for await (const line of lines) {
      if (trailer !== undefined) return { status: "corrupt", reason: "data after the checksum line" };
      if (announced === -1) {
        const header = catalogHeaderSchema.safeParse(JSON.parse(line));
        if (!header.success) return { status: "corrupt", reason: "not an index catalog header" };
        announced = header.data.entries;
        headerIdentity = identityText(header.data.identity);
        hash.update(line).update("\n");
        continue;
      }
      if (entries.length === announced) {
        trailer = line;
        continue;
      }
      const parsed = catalogEntrySchema.safeParse(JSON.parse(line));
      if (!parsed.success) return { status: "corrupt", reason: `invalid entry on line ${entries.length + 2}` };
      entries.push(parsed.data);
      hash.update(line).update("\n");
    }
    if (announced === -1) return { status: "corrupt", reason: "empty file" };
    if (trailer === undefined) {
      return { status: "corrupt", reason: `truncated: ${entries.length} of ${announced} entries and no checksum` };
    }
    const checksum = catalogTrailerSchema.safeParse(JSON.parse(trailer));
    if (!checksum.success) return { status: "corrupt", reason: "no checksum line" };
    if (checksum.data.sha256 !== hash.digest("hex")) return { status: "corrupt", reason: "checksum mismatch" };
    if (headerIdentity !== identity) {
      return { status: "foreign", reason: `the cache belongs to ${headerIdentity}, this run is for ${identity}` };
    }
    return { status: "loaded", entries };
  } catch (error) {
    return { status: "corrupt", reason: `unreadable or invalid: ${(error as Error).message}` };
  } finally {
    lines.close();
    stream.destroy();
    await handle.close().catch(() => undefined);
  }
}

export class IndexCache {
  readonly dir: string;
  readonly identity: CacheIdentity;
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that were not (absent, other ETag or size, damaged). */
  misses = 0;
  /** S3 object bytes the hits saved from being downloaded. */
  hitBytes = 0;
  /** Damaged index files found (and deleted) by lookups. */
  damaged = 0;
  readonly #identityText: string;
  readonly #entries = new Map<string, IndexCatalogEntry>();
  readonly #groups = new Map<string, Map<string, IndexCatalogEntry>>();
  readonly #madeDirs = new Set<string>();

  private constructor(dir: string, identity: CacheIdentity, entries: readonly IndexCatalogEntry[]) {
    this.dir = dir;
    this.identity = identity;
    this.#identityText = identityText(identity);
    for (const entry of entries) this.#put(entry);
  }

  /**
   * Opens (creating) the cache in `dir`. A corrupt or foreign catalog gives an empty catalog (index files that are
   * still valid for this identity are found again by lookups; the rest are removed by `save`).
   */
  static async open(
    dir: string,
    identity: CacheIdentity,
  ): Promise<{ cache: IndexCache; status: IndexCacheStatus; reason?: string; rebuilt: number }> {
    await mkdir(path.join(dir, INDEX_DIR), { recursive: true });
    const loaded = await readCatalog(path.join(dir, INDEX_CATALOG_FILE), identityText(identity));
    const cache = new IndexCache(dir, identity, loaded.status === "loaded" ? loaded.entries : []);
    // A lost or damaged catalog is rebuilt from the index files' own metadata, pruned snapshots included.
    const rebuilt = loaded.status === "missing" || loaded.status === "corrupt" ? await cache.#rebuildFromFiles() : 0;
    if (loaded.status === "corrupt" || loaded.status === "foreign") {
      const reason = rebuilt > 0 ? `${loaded.reason}; rebuilt ${rebuilt} entries from index files` : loaded.reason;
      return { cache, status: loaded.status, reason, rebuilt };
    }
    return { cache, status: loaded.status, rebuilt };
  }

  /** Number of catalog entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** The file of an index key: `indexes/<h:2>/<h>.idx`. */
  fileOf(key: string): string {
    const hash = createHash("sha256").update(this.#identityText).update("\n").update(key).digest("hex");
    return path.join(this.dir, INDEX_DIR, hash.slice(0, 2), `${hash}${FILE_SUFFIX}`);
  }

  /**
   * The n×32 digest bytes of the index at `key`, when the cached copy has this ETag and size and passes its checksum;
   * undefined otherwise (a damaged file is deleted). A hit also restores the catalog entry if the catalog had lost it.
   */
  async lookup(key: string, etag: string, size: number): Promise<Uint8Array | undefined> {
    const wanted = normalizeEtag(etag);
    const known = this.#entries.get(key);
    if (wanted === "" || (known && (known.etag !== wanted || known.size !== size))) {
      this.misses += 1;
      return undefined;
    }
    const file = this.fileOf(key);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      this.misses += 1;
      return undefined;
    }
    const decoded = decodeIndexFile(bytes);
    if (typeof decoded === "string" || decoded.meta.key !== key) {
      this.damaged += 1;
      this.misses += 1;
      await unlinkQuietly(file).catch(() => undefined);
      return undefined;
    }
    if (decoded.meta.etag !== wanted || decoded.meta.size !== size) {
      this.misses += 1;
      return undefined;
    }
    if (!this.#entries.has(key)) this.#put(decoded.meta);
    this.hits += 1;
    this.hitBytes += size;
    return decoded.digests;
  }

  /** Stores the digests of an index (temp file + rename) and records its catalog entry. */
  async store(entry: IndexCatalogEntry, digests: Uint8Array): Promise<void> {
    if (digests.length % DIGEST_SIZE !== 0) {
      throw new RangeError(`${entry.key}: ${digests.length} digest bytes are not a multiple of ${DIGEST_SIZE}`);
    }
    const normalized: IndexCatalogEntry = {
      ...catalogEntrySchema.parse(entry),
      etag: normalizeEtag(entry.etag),
      chunkCount: digests.length / DIGEST_SIZE,
    };
    const file = this.fileOf(entry.key);
    const folder = path.dirname(file);
    if (!this.#madeDirs.has(folder)) {
      await mkdir(folder, { recursive: true });
      this.#madeDirs.add(folder);
    }
    const temp = tempPathFor(file);
    try {
      await writeFile(temp, encodeIndexFile(normalized, digests), { flag: "wx", mode: 0o644 });
      await rename(temp, file);
    } catch (error) {
      await unlinkQuietly(temp).catch(() => undefined);
      throw new IndexCacheError(file, `cannot store ${entry.key}: ${(error as Error).message}`, { cause: error });
    }
    this.#put(normalized);
  }

  /** Updates fields of a known entry (lastSeenMs, finished, …; never its key). False when the key is unknown. */
  touch(key: string, fields: Partial<IndexCatalogEntry>): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    const updated: IndexCatalogEntry = { ...entry };
    for (const [name, value] of Object.entries(fields) as Array<[keyof IndexCatalogEntry, unknown]>) {
      if (value !== undefined && name !== "key") (updated as Record<string, unknown>)[name] = value;
    }
    updated.etag = normalizeEtag(updated.etag);
    const checked = catalogEntrySchema.safeParse(updated);
    if (!checked.success) throw new RangeError(`${key}: invalid catalog fields: ${checked.error.message}`);
    this.#put(checked.data);
    return true;
  }

  entry(key: string): IndexCatalogEntry | undefined {
    return this.#entries.get(key);
  }

  /** Entries of a backup group (as given in `groupPath` when stored), listed or not. Do not mutate them. */
  entriesOfGroup(groupPath: string): IndexCatalogEntry[] {
    return [...(this.#groups.get(groupPath)?.values() ?? [])];
  }

  /** Every entry (do not mutate them). */
  entries(): IterableIterator<IndexCatalogEntry> {
    return this.#entries.values();
  }

  /**
   * Drops entries not seen for longer than `retainUnseenMs` (deleting their files) and index files the catalog does
   * not know (another identity's, leftovers of a lost catalog, temp files), then writes the catalog atomically.
   * Call it when no `store` is in flight. Returns what it removed.
   */
  async save(options: { nowMs: number; retainUnseenMs: number }): Promise<{ dropped: number; orphansRemoved: number }> {
    const limit = pLimit(FILE_CONCURRENCY);
    const oldest = options.nowMs - options.retainUnseenMs;
    const dropped: string[] = [];
    for (const entry of this.#entries.values()) if (entry.lastSeenMs < oldest) dropped.push(entry.key);
    for (const key of dropped) this.#remove(key);
    await Promise.all(dropped.map((key) => limit(() => unlinkQuietly(this.fileOf(key)))));
    const orphansRemoved = await this.#removeOrphans(limit);
    await this.#writeCatalog(options.nowMs);
    return { dropped: dropped.length, orphansRemoved };
  }

  #put(entry: IndexCatalogEntry): void {
    const previous = this.#entries.get(entry.key);
    if (previous && previous.groupPath !== entry.groupPath) this.#groups.get(previous.groupPath)?.delete(entry.key);
    this.#entries.set(entry.key, entry);
    let group = this.#groups.get(entry.groupPath);
    if (!group) {
      group = new Map();
      this.#groups.set(entry.groupPath, group);
    }
    group.set(entry.key, entry);
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    const group = this.#groups.get(entry.groupPath);
    group?.delete(key);
    if (group?.size === 0) this.#groups.delete(entry.groupPath);
  }

  /** Adds the entry of every index file of this identity (its name must be the one its key maps to). */
  async #rebuildFromFiles(): Promise<number> {
    const limit = pLimit(FILE_CONCURRENCY);
    const root = path.join(this.dir, INDEX_DIR);
    const reads: Promise<IndexCatalogEntry | undefined>[] = [];
    for (const folder of await readdir(root, { withFileTypes: true })) {
      if (!folder.isDirectory()) continue;
      const folderPath = path.join(root, folder.name);
      for (const name of await readdir(folderPath)) {
        if (!name.endsWith(FILE_SUFFIX)) continue;
        const file = path.join(folderPath, name);
        reads.push(
          limit(async () => {
            const meta = await readIndexMeta(file);
            return meta && this.fileOf(meta.key) === file ? meta : undefined;
          }),
        );
      }
    }
    let rebuilt = 0;
    for (const meta of await Promise.all(reads)) {
      if (!meta || this.#entries.has(meta.key)) continue;
      this.#put(meta);
      rebuilt += 1;
    }
    return rebuilt;
  }

  async #removeOrphans(limit: ReturnType<typeof pLimit>): Promise<number> {
    const expected = new Set<string>();
    for (const key of this.#entries.keys()) expected.add(path.basename(this.fileOf(key)));
    const root = path.join(this.dir, INDEX_DIR);
    const removals: Promise<void>[] = [];
    for (const folder of await readdir(root, { withFileTypes: true })) {
      if (!folder.isDirectory()) continue;
      const folderPath = path.join(root, folder.name);
      for (const name of await readdir(folderPath)) {
        if (expected.has(name)) continue;
        removals.push(limit(() => unlinkQuietly(path.join(folderPath, name))));
      }
    }
    await Promise.all(removals);
    return removals.length;
  }

  async #writeCatalog(nowMs: number): Promise<void> {
    const file = path.join(this.dir, INDEX_CATALOG_FILE);
    await removeStaleTemps(this.dir, INDEX_CATALOG_FILE);
    try {
      await replaceFileAtomically(file, async (handle) => {
        const hash = createHash("sha256");
        let position = 0;
        const write = async (text: string, hashed = true) => {
          const bytes = Buffer.from(text, "utf8");
          if (hashed) hash.update(bytes);
          await writeFully(handle, bytes, position);
          position += bytes.length;
        };
        // A snapshot of the entries: the header's count and the lines must agree even if someone touches meanwhile.
        const all = [...this.#entries.values()];
        const header = {
          format: CATALOG_FORMAT,
          version: CATALOG_VERSION,
          identity: JSON.parse(this.#identityText) as CacheIdentity,
          writtenAt: new Date(nowMs).toISOString(),
          entries: all.length,
        };
        await write(`${JSON.stringify(header)}\n`);
        let lines: string[] = [];
        for (const entry of all) {
          lines.push(JSON.stringify(entry));
          if (lines.length === LINES_PER_WRITE) {
            await write(`${lines.join("\n")}\n`);
            lines = [];
          }
        }
        if (lines.length > 0) await write(`${lines.join("\n")}\n`);
        await write(`${JSON.stringify({ sha256: hash.digest("hex") })}\n`, false);
      });
    } catch (error) {
      throw new IndexCacheError(file, `cannot write the catalog: ${(error as Error).message}`, { cause: error });
    }
  }
}
