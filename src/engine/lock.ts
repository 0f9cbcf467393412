import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import {
  deleteObject,
  type FetchedObject,
  getObjectBytes,
  listObjects,
  ObjectNotFoundError,
  putIfAbsent,
  putObject,
  type S3Context,
} from "../s3/index.ts";

/*
 * The datastore lock (docs/gc-semantics.md#datastore-lock): generations of lock objects under
 * `<store>/.chunkgc/lock/`. Taking the lock is
 * creating the next generation with `If-None-Match: *`, so of several racers exactly one wins; a holder renews its
 * own generation; a newer generation means the lock was taken over (after this holder's lease expired) and the
 * holder must stop before deleting anything else. Lease times are wall-clock, never the engine's overridable "now".
 */

export const LockRecordSchema = z.object({
  generation: z.number().int().positive(),
  owner: z.string(),
  host: z.string(),
  pid: z.number().int(),
  acquiredAt: z.string(),
  renewedAt: z.string(),
  expiresAtMs: z.number(),
  released: z.boolean().default(false),
  /** Unique per attempt: recognises our own write when a retried conditional PUT answers 412. */
  token: z.string().default(""),
});
export type LockRecord = z.infer<typeof LockRecordSchema>;

export function lockPrefix(store: string): string {
  return `${store}/.chunkgc/lock/`;
}

/** Zero-padded so that keys list in generation order. */
export function lockKey(store: string, generation: number): string {
  return `${lockPrefix(store)}${String(generation).padStart(12, "0")}`;
}

export function generationOfKey(store: string, key: string): number | undefined {
  const rest = key.slice(lockPrefix(store).length);
  return /^\d{12}$/.test(rest) ? Number(rest) : undefined;
}

export type LockVerdict = { action: "take"; generation: number } | { action: "busy"; holder: LockRecord };

/** Pure: given the newest lock record (if any), take the next generation or report the live holder. */
export function lockVerdict(newest: LockRecord | undefined, newestGeneration: number, nowMs: number): LockVerdict {
  if (newest && !newest.released && newest.expiresAtMs > nowMs) return { action: "busy", holder: newest };
  return { action: "take", generation: newestGeneration + 1 };
}

/**
 * Pure: whether a holder must consider its lease over. A margin (a tenth of the lease, at most 30 s) before the
 * recorded expiry covers a request that is sent just before it and arrives just after.
 */
export function leaseOver(expiresAtMs: number, leaseMs: number, nowMs: number): boolean {
  return nowMs >= expiresAtMs - leaseSafetyMarginMs(leaseMs);
}

export function leaseSafetyMarginMs(leaseMs: number): number {
  return Math.min(30_000, Math.floor(leaseMs / 10));
}

export class LockBusyError extends Error {
  override name = "LockBusyError";
  readonly exitCode = 4;
  readonly holder: LockRecord;
  constructor(store: string, holder: LockRecord) {
    super(
      `datastore ${store} is locked by ${holder.owner} on ${holder.host} (generation ${holder.generation}, ` +
        `lease until ${new Date(holder.expiresAtMs).toISOString()})`,
    );
    this.holder = holder;
  }
}

export class LockLostError extends Error {
  override name = "LockLostError";
  readonly exitCode = 4;
}

/**
 * The bucket operations of the lock: list the generations, read one, create one only if absent (`If-None-Match: *`),
 * overwrite our own, delete old ones. {@link s3LockObjects} is the real one.
 */
export interface LockObjects {
  listKeys(prefix: string, signal?: AbortSignal): AsyncIterable<{ readonly key: string }>;
  get(key: string, signal?: AbortSignal): Promise<FetchedObject>;
  putIfAbsent(key: string, body: string, signal?: AbortSignal): Promise<"created" | "exists">;
  put(key: string, body: string, signal?: AbortSignal): Promise<unknown>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
}

export function s3LockObjects(s3: S3Context): LockObjects {
  return {
    listKeys: (prefix, signal) => listObjects(s3, { prefix, ...(signal ? { signal } : {}) }),
    get: (key, signal) => getObjectBytes(s3, key, signal),
    putIfAbsent: (key, body, signal) => putIfAbsent(s3, key, body, signal),
    put: (key, body, signal) => putObject(s3, key, body, signal),
    delete: (key, signal) => deleteObject(s3, key, signal),
  };
}

export interface LockOptions {
  readonly store: string;
  readonly owner: string;
  readonly leaseMs: number;
  readonly signal?: AbortSignal;
  /** Called when renewal fails or a newer generation appears: the run must stop deleting. */
  readonly onLost?: (error: Error) => void;
  /** Where the lock objects live; {@link s3LockObjects} of the context given to {@link DatastoreLock.acquire} if not. */
  readonly objects?: LockObjects;
}

/** A lock record's bytes, validated; bytes that are not even JSON are as unreadable as a record of the wrong shape. */
function parseLockRecord(bytes: Uint8Array) {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    json = undefined;
  }
  return LockRecordSchema.safeParse(json);
}

async function newestLock(s3: LockObjects, store: string, signal?: AbortSignal) {
  let newestGeneration = 0;
  const stale: string[] = [];
  for await (const object of s3.listKeys(lockPrefix(store), signal)) {
    const generation = generationOfKey(store, object.key);
    if (generation === undefined) continue;
    if (generation > newestGeneration) newestGeneration = generation;
    stale.push(object.key);
  }
  if (newestGeneration === 0) return { newestGeneration, stale };
  try {
    const fetched = await s3.get(lockKey(store, newestGeneration), signal);
    const parsed = parseLockRecord(fetched.bytes);
    // An unreadable lock record is treated as held until it is old enough: never as free.
    // A record without a usable LastModified ages from now: never from the epoch (that would make it free).
    const writtenMs =
      Number.isFinite(fetched.lastModifiedMs) && fetched.lastModifiedMs > 0 ? fetched.lastModifiedMs : Date.now();
    const record: LockRecord = parsed.success
      ? parsed.data
      : {
          generation: newestGeneration,
          owner: "unknown (unreadable lock record)",
          host: "unknown",
          pid: 0,
          acquiredAt: new Date(writtenMs).toISOString(),
          renewedAt: new Date(writtenMs).toISOString(),
          expiresAtMs: writtenMs + 15 * 60_000,
          released: false,
          token: "",
        };
    return { newestGeneration, newest: record, stale };
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return { newestGeneration, stale };
    throw error;
  }
}

/** A conditional PUT whose first attempt succeeded but whose answer was lost is retried and sees 412: ours anyway. */
async function isOurWrite(s3: LockObjects, key: string, token: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const { bytes } = await s3.get(key, signal);
    const parsed = parseLockRecord(bytes);
    return parsed.success && parsed.data.token === token;
  } catch {
    return false;
  }
}

export class DatastoreLock {
  readonly record: LockRecord;
  private readonly s3: LockObjects;
  private readonly options: LockOptions;
  private timer: NodeJS.Timeout | undefined;
  private lost: Error | undefined;

  private constructor(s3: LockObjects, options: LockOptions, record: LockRecord) {
    this.s3 = s3;
    this.options = options;
    this.record = record;
  }

  /** Takes the lock or throws {@link LockBusyError}; a lease that expired is taken over. */
  static async acquire(context: S3Context, options: LockOptions): Promise<DatastoreLock> {
    const s3 = options.objects ?? s3LockObjects(context);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const { newest, newestGeneration, stale } = await newestLock(s3, options.store, options.signal);
      const verdict = lockVerdict(newest, newestGeneration, Date.now());
      if (verdict.action === "busy") throw new LockBusyError(options.store, verdict.holder);
      const now = new Date();
      const record: LockRecord = {
        generation: verdict.generation,
        owner: options.owner,
        host: hostname(),
        pid: process.pid,
        acquiredAt: now.toISOString(),
        renewedAt: now.toISOString(),
        expiresAtMs: now.getTime() + options.leaseMs,
        released: false,
        token: randomUUID(),
      };
      const key = lockKey(options.store, record.generation);
      const outcome = await s3.putIfAbsent(key, JSON.stringify(record), options.signal);
      if (outcome === "created" || (await isOurWrite(s3, key, record.token, options.signal))) {
        const lock = new DatastoreLock(s3, options, record);
        // Older generations only document history; the newest one is all that counts.
        for (const old of stale) await s3.delete(old, options.signal).catch(() => undefined);
        lock.startRenewal();
        return lock;
      }
      // Somebody else created this generation first: look again.
    }
    throw new LockLostError(`could not take the lock of ${options.store}: other runs kept winning`);
  }

  /**
   * Synchronous, no I/O: throws when the lock is known lost or its lease is (nearly) over by the local clock. Called
   * right before every DeleteObjects request, so a holder that stalled past its lease (SIGSTOP, a long GC pause)
   * sends nothing more once it wakes, whatever its timers did meanwhile.
   */
  checkHeld(nowMs: number = Date.now()): void {
    if (this.lost) throw this.lost;
    if (leaseOver(this.record.expiresAtMs, this.options.leaseMs, nowMs)) {
      throw this.markLost(new LockLostError(`the lock lease of ${this.options.store} expired before it was renewed`));
    }
  }

  /** {@link checkHeld}, then the bucket: a newer generation means another run took the lock over. */
  async assertHeld(): Promise<void> {
    this.checkHeld();
    const { newestGeneration } = await newestLock(this.s3, this.options.store, this.options.signal);
    if (newestGeneration !== this.record.generation) {
      throw this.markLost(
        new LockLostError(`the lock of ${this.options.store} was taken over (generation ${newestGeneration})`),
      );
    }
    this.checkHeld();
  }

  /**
   * Extends the lease. The new expiry is timed from the start of the request and takes effect only once the PUT
   * succeeded: a renewal that keeps failing lets the lease run out (and {@link checkHeld} trips) instead of
   * extending it on paper.
   */
  async renew(): Promise<void> {
    const startedMs = Date.now();
    const { newestGeneration } = await newestLock(this.s3, this.options.store, this.options.signal);
    if (newestGeneration !== this.record.generation) {
      throw this.markLost(new LockLostError(`the lock of ${this.options.store} was taken over`));
    }
    // Never renew a lease that already ran out: another run may have taken the lock since.
    this.checkHeld();
    const next: LockRecord = {
      ...this.record,
      renewedAt: new Date(startedMs).toISOString(),
      expiresAtMs: startedMs + this.options.leaseMs,
    };
    await this.s3.put(lockKey(this.options.store, this.record.generation), JSON.stringify(next), this.options.signal);
    if (this.lost) return;
    this.record.renewedAt = next.renewedAt;
    this.record.expiresAtMs = Math.max(this.record.expiresAtMs, next.expiresAtMs);
  }

  async release(): Promise<void> {
    this.stopRenewal();
    if (this.lost) return;
    this.record.released = true;
    this.record.renewedAt = new Date().toISOString();
    await this.s3.put(lockKey(this.options.store, this.record.generation), JSON.stringify(this.record));
  }

  private markLost(error: Error): Error {
    if (!this.lost) {
      this.lost = error;
      this.stopRenewal();
      this.options.onLost?.(error);
    }
    return this.lost;
  }

  private startRenewal(): void {
    const every = Math.max(1000, Math.floor(this.options.leaseMs / 3));
    this.timer = setInterval(() => {
      this.renew().catch((error: unknown) => {
        // One failed renewal is tolerated while the lease lasts; assertHeld catches an expired one.
        if (error instanceof LockLostError) return;
        if (leaseOver(this.record.expiresAtMs, this.options.leaseMs, Date.now())) {
          // Always a LockLostError, so that every holder of the lock stops (not an S3 error taken as a failed batch).
          this.markLost(
            new LockLostError(
              `the lock lease of ${this.options.store} ran out while renewals failed: ${(error as Error).message}`,
              { cause: error },
            ),
          );
        }
      });
    }, every);
    this.timer.unref();
  }

  private stopRenewal(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
