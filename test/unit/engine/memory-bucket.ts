/**
 * An in-memory bucket behind the narrow interfaces the engine talks through (SweepObjects, MarkObjects,
 * LockObjects), for pure tests of the decisions around those calls. It keeps keys in byte order, lists key ranges
 * page by page (ranges interleaved round-robin, as parallel listings arrive), and logs every operation in order, so a
 * test can assert what was sent before what. `before` runs ahead of every operation: a test injects a fault or a
 * concurrent change there.
 */
import type { LockObjects } from "../../../src/engine/lock.ts";
import type { MarkObjects } from "../../../src/engine/mark.ts";
import type { SweepObjects } from "../../../src/engine/sweep.ts";
import type { DeleteWithRetryOptions } from "../../../src/s3/delete.ts";
import {
  type DeleteBatchResult,
  type FetchedObject,
  type ListedObject,
  ObjectNotFoundError,
  type RangePage,
} from "../../../src/s3/index.ts";
import { isWithinUpperBound } from "../../../src/s3/key-ranges.ts";
import type { ParallelListOptions } from "../../../src/s3/list.ts";

export type Operation = "list" | "get" | "isListed" | "putIfAbsent" | "put" | "delete" | "deleteBatch";

interface Stored {
  readonly bytes: Uint8Array;
  readonly etag: string;
  readonly lastModifiedMs: number;
}

export class MemoryBucket implements SweepObjects, MarkObjects, LockObjects {
  readonly objects = new Map<string, Stored>();
  /** Every operation in the order it was made: `op key` (deleteBatch: its keys joined by commas). */
  readonly log: string[] = [];
  /** The keys of each DeleteObjects request that went out (after the guard passed). */
  readonly deleteRequests: string[][] = [];
  pageSize = 1000;
  /** Runs ahead of every operation; `signal` is the listing's own, for a list. */
  before: (op: Operation, key: string, signal?: AbortSignal) => void | Promise<void> = () => {};
  /** What one DeleteObjects request answers; the default deletes every key and names each as deleted. */
  answerDelete: (keys: readonly string[]) => DeleteBatchResult = (keys) => {
    for (const key of keys) this.objects.delete(key);
    return { requests: 1, deleted: [...keys], errors: [] };
  };
  #etags = 0;

  add(key: string, body: Uint8Array | string = "", lastModifiedMs = Date.now()): void {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    this.#etags += 1;
    this.objects.set(key, { bytes, etag: `"etag-${this.#etags}"`, lastModifiedMs });
  }

  has(key: string): boolean {
    return this.objects.has(key);
  }

  etagOf(key: string): string {
    return this.objects.get(key)?.etag ?? "";
  }

  keys(prefix = ""): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort(byteOrder);
  }

  listed(key: string): ListedObject {
    const stored = this.objects.get(key);
    if (!stored) throw new ObjectNotFoundError(key);
    return { key, size: stored.bytes.byteLength, lastModifiedMs: stored.lastModifiedMs, etag: stored.etag };
  }

  async *listRanges(options: ParallelListOptions): AsyncGenerator<RangePage> {
    const pending = options.ranges.map((range, rangeIndex) => ({
      rangeIndex,
      keys: this.keys(options.prefix).filter(
        (key) => (range.startAfter === undefined || key > range.startAfter) && isWithinUpperBound(key, range),
      ),
      done: false,
    }));
    while (pending.some((range) => !range.done)) {
      for (const range of pending) {
        if (range.done) continue;
        options.signal?.throwIfAborted();
        await this.#op("list", `${options.prefix}#${range.rangeIndex}`, options.signal);
        const page = range.keys.splice(0, this.pageSize);
        range.done = range.keys.length === 0;
        if (page.length === 0) continue;
        yield {
          rangeIndex: range.rangeIndex,
          objects: page.filter((key) => this.objects.has(key)).map((key) => this.listed(key)),
          commonPrefixes: [],
        };
      }
    }
  }

  async deleteBatch(keys: readonly string[], options: DeleteWithRetryOptions): Promise<DeleteBatchResult> {
    options.signal?.throwIfAborted();
    await this.#op("deleteBatch", keys.join(","));
    options.guard?.();
    this.deleteRequests.push([...keys]);
    return this.answerDelete(keys);
  }

  async get(key: string): Promise<FetchedObject> {
    await this.#op("get", key);
    const stored = this.objects.get(key);
    if (!stored) throw new ObjectNotFoundError(key);
    return {
      bytes: stored.bytes,
      etag: stored.etag,
      size: stored.bytes.byteLength,
      lastModifiedMs: stored.lastModifiedMs,
    };
  }

  async isListed(key: string): Promise<boolean> {
    await this.#op("isListed", key);
    return this.objects.has(key);
  }

  async *listKeys(prefix: string): AsyncGenerator<{ key: string }> {
    await this.#op("list", prefix);
    for (const key of this.keys(prefix)) yield { key };
  }

  async putIfAbsent(key: string, body: string): Promise<"created" | "exists"> {
    await this.#op("putIfAbsent", key);
    if (this.objects.has(key)) return "exists";
    this.add(key, body);
    return "created";
  }

  async put(key: string, body: string): Promise<void> {
    await this.#op("put", key);
    this.add(key, body);
  }

  async delete(key: string): Promise<void> {
    await this.#op("delete", key);
    this.objects.delete(key);
  }

  async #op(op: Operation, key: string, signal?: AbortSignal): Promise<void> {
    this.log.push(`${op} ${key}`);
    await this.before(op, key, signal);
  }
}

/** S3 lists in UTF-8 byte order; the keys here are ASCII, where JavaScript's order is the same. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
