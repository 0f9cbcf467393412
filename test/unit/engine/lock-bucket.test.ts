/**
 * The datastore lock against an in-memory bucket: taking it (first, after a released or expired holder, never from a
 * live or unreadable one), a conditional PUT whose answer was lost, racers that keep winning, the holder's checks
 * before deleting, renewal (timer, failures, a lease that runs out) and release. Timers and the clock are node:test's
 * mocks where the renewal is concerned, so nothing waits for real time.
 */
import assert from "node:assert/strict";
import { afterEach, describe, mock, test } from "node:test";
import {
  DatastoreLock,
  LockBusyError,
  LockLostError,
  type LockOptions,
  type LockRecord,
  lockKey,
  lockPrefix,
  s3LockObjects,
} from "../../../src/engine/lock.ts";
import type { S3Context } from "../../../src/s3/index.ts";
import { MemoryBucket } from "./memory-bucket.ts";
import { connectionRefused, unreachableS3 } from "./unreachable-s3.ts";

const STORE = "ds";
const LEASE = 30_000;

const noS3 = new Proxy({} as S3Context, {
  get(_target, property) {
    throw new Error(`the lock must use the bucket it is given (touched s3.${String(property)})`);
  },
});

function options(bucket: MemoryBucket, overrides: Partial<LockOptions> = {}): LockOptions {
  return { store: STORE, owner: "gc-test", leaseMs: LEASE, objects: bucket, ...overrides };
}

function record(generation: number, overrides: Partial<LockRecord> = {}): LockRecord {
  return {
    generation,
    owner: "other",
    host: "elsewhere",
    pid: 7,
    acquiredAt: "2026-01-01T00:00:00.000Z",
    renewedAt: "2026-01-01T00:00:00.000Z",
    expiresAtMs: Date.now() + 600_000,
    released: false,
    token: "their-token",
    ...overrides,
  };
}

function stored(bucket: MemoryBucket, generation: number): LockRecord {
  const object = bucket.objects.get(lockKey(STORE, generation));
  assert.ok(object, `generation ${generation} stored`);
  return JSON.parse(new TextDecoder().decode(object.bytes)) as LockRecord;
}

const locks: DatastoreLock[] = [];
async function acquire(bucket: MemoryBucket, overrides: Partial<LockOptions> = {}): Promise<DatastoreLock> {
  const lock = await DatastoreLock.acquire(noS3, options(bucket, overrides));
  locks.push(lock);
  return lock;
}

afterEach(async () => {
  mock.timers.reset();
  for (const lock of locks.splice(0)) await lock.release().catch(() => undefined);
});

const settle = async () => {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe("taking the lock", () => {
  test("a free datastore: generation 1, our record, stored as written", async () => {
    const bucket = new MemoryBucket();
    const before = Date.now();
    const lock = await acquire(bucket);
    assert.equal(lock.record.generation, 1);
    assert.equal(lock.record.owner, "gc-test");
    assert.equal(lock.record.pid, process.pid);
    assert.equal(lock.record.released, false);
    assert.ok(lock.record.token.length > 0);
    assert.ok(lock.record.expiresAtMs >= before + LEASE && lock.record.expiresAtMs <= Date.now() + LEASE);
    assert.equal(lock.record.acquiredAt, lock.record.renewedAt);
    assert.deepEqual(stored(bucket, 1), lock.record);
    assert.deepEqual(bucket.keys(lockPrefix(STORE)), [lockKey(STORE, 1)]);
    // One listing, one conditional PUT: nothing to read, nothing to read back.
    assert.deepEqual(bucket.log, [`list ${lockPrefix(STORE)}`, `putIfAbsent ${lockKey(STORE, 1)}`]);
  });

  test("after released holders: the next generation, older ones removed, foreign keys left alone", async () => {
    const bucket = new MemoryBucket();
    bucket.add(lockKey(STORE, 1), JSON.stringify(record(1, { released: true })));
    bucket.add(lockKey(STORE, 3), JSON.stringify(record(3, { released: true })));
    const foreign = `${lockPrefix(STORE)}notes.txt`;
    bucket.add(foreign, "not a generation");
    const lock = await acquire(bucket);
    assert.equal(lock.record.generation, 4);
    assert.deepEqual(
      bucket.log.filter((entry) => entry.startsWith("delete")),
      [`delete ${lockKey(STORE, 1)}`, `delete ${lockKey(STORE, 3)}`],
    );
    assert.deepEqual(bucket.keys(lockPrefix(STORE)), [lockKey(STORE, 4), foreign].sort());
  });

  test("a failed removal of an old generation does not cost the lock", async () => {
    const bucket = new MemoryBucket();
    bucket.add(lockKey(STORE, 1), JSON.stringify(record(1, { released: true })));
    bucket.before = (op) => {
      if (op === "delete") throw new Error("AccessDenied");
    };
    const lock = await acquire(bucket);
    assert.equal(lock.record.generation, 2);
  });

  test("a live holder: busy, naming it; nothing written", async () => {
    const bucket = new MemoryBucket();
    const holder = record(2);
    bucket.add(lockKey(STORE, 1), JSON.stringify(record(1, { released: true })));
    bucket.add(lockKey(STORE, 2), JSON.stringify(holder));
    await assert.rejects(acquire(bucket), (error: unknown) => {
      assert.ok(error instanceof LockBusyError);
      assert.deepEqual(error.holder, holder);
      assert.equal(error.exitCode, 4);
      assert.match(error.message, /locked by other on elsewhere \(generation 2/);
      return true;
    });
    assert.equal(bucket.log.filter((entry) => entry.startsWith("put")).length, 0);
    assert.equal(bucket.keys(lockPrefix(STORE)).length, 2);
  });

  test("an expired holder is taken over with the next generation", async () => {
    const bucket = new MemoryBucket();
    bucket.add(lockKey(STORE, 5), JSON.stringify(record(5, { expiresAtMs: Date.now() - 1 })));
    const lock = await acquire(bucket);
    assert.equal(lock.record.generation, 6);
  });

  test("an unreadable record is held for 15 minutes from its upload, never free", async () => {
    const bucket = new MemoryBucket();
    bucket.add(lockKey(STORE, 1), "{not json", Date.now() - 14 * 60_000);
    await assert.rejects(acquire(bucket), (error: unknown) => {
      assert.ok(error instanceof LockBusyError);
      assert.equal(error.holder.generation, 1);
      assert.equal(error.holder.released, false);
      assert.match(error.holder.owner, /unreadable/);
      assert.equal(error.holder.host, "unknown");
      return true;
    });
    bucket.add(lockKey(STORE, 1), JSON.stringify({ generation: "one" }), Date.now() - 16 * 60_000);
    assert.equal((await acquire(bucket)).record.generation, 2);
  });

  test("an unreadable record without a usable upload time ages from now", async () => {
    for (const lastModified of [Number.NaN, 0]) {
      const bucket = new MemoryBucket();
      bucket.add(lockKey(STORE, 1), "garbage", lastModified);
      const before = Date.now();
      await assert.rejects(acquire(bucket), (error: unknown) => {
        assert.ok(error instanceof LockBusyError);
        assert.ok(error.holder.expiresAtMs >= before + 15 * 60_000, String(lastModified));
        return true;
      });
    }
  });

  test("a newest generation that vanishes between listing and reading: the next one is taken", async () => {
    const bucket = new MemoryBucket();
    bucket.add(lockKey(STORE, 2), JSON.stringify(record(2)));
    bucket.before = (op, key) => {
      if (op === "get" && key === lockKey(STORE, 2)) bucket.objects.delete(key);
    };
    const lock = await acquire(bucket);
    assert.equal(lock.record.generation, 3);
  });

  test("a record that cannot be read for another reason stops the attempt", async () => {
    const bucket = new MemoryBucket();
    bucket.add(lockKey(STORE, 1), JSON.stringify(record(1, { released: true })));
    bucket.before = (op) => {
      if (op === "get") throw new Error("InternalError");
    };
    await assert.rejects(acquire(bucket), /InternalError/);
    assert.equal(bucket.log.filter((entry) => entry.startsWith("putIfAbsent")).length, 0);
  });

  test("a conditional PUT that succeeded but whose answer was lost (retried: 412) is recognised as ours", async () => {
    const bucket = new MemoryBucket();
    const original = bucket.putIfAbsent.bind(bucket);
    bucket.putIfAbsent = async (key, body) => {
      await original(key, body);
      return "exists";
    };
    const lock = await acquire(bucket);
    assert.equal(lock.record.generation, 1);
    assert.deepEqual(stored(bucket, 1), lock.record);
  });

  test("a racer that creates the generation first wins: we see it as the live holder", async () => {
    const bucket = new MemoryBucket();
    const original = bucket.putIfAbsent.bind(bucket);
    bucket.putIfAbsent = async (key, body) => {
      await original(key, JSON.stringify(record(1)));
      return original(key, body);
    };
    await assert.rejects(acquire(bucket), LockBusyError);
    assert.equal(stored(bucket, 1).owner, "other");
  });

  test("racers that keep winning (each releasing at once): five attempts, then a lost-lock error", async () => {
    const bucket = new MemoryBucket();
    const original = bucket.putIfAbsent.bind(bucket);
    const generations: number[] = [];
    bucket.putIfAbsent = async (key, body) => {
      generations.push((JSON.parse(body) as LockRecord).generation);
      await original(key, JSON.stringify(record(generations.length, { released: true })));
      return original(key, body);
    };
    await assert.rejects(acquire(bucket), (error: unknown) => {
      assert.ok(error instanceof LockLostError);
      assert.match(error.message, /other runs kept winning/);
      return true;
    });
    assert.deepEqual(generations, [1, 2, 3, 4, 5]);
  });

  test("a failed read-back after a 412 counts as not ours", async () => {
    const bucket = new MemoryBucket();
    const original = bucket.putIfAbsent.bind(bucket);
    bucket.putIfAbsent = async (key, body) => {
      await original(key, body);
      bucket.before = (op) => {
        if (op === "get") throw new Error("SlowDown");
      };
      return "exists";
    };
    await assert.rejects(acquire(bucket), /SlowDown/);
  });
});

describe("holding the lock", () => {
  test("assertHeld passes while the bucket shows our generation; a newer one means taken over, once and for all", async () => {
    const bucket = new MemoryBucket();
    const lost: Error[] = [];
    const lock = await acquire(bucket, { onLost: (error) => lost.push(error) });
    await lock.assertHeld();
    lock.checkHeld();
    bucket.add(lockKey(STORE, 2), JSON.stringify(record(2)));
    await assert.rejects(lock.assertHeld(), (error: unknown) => {
      assert.ok(error instanceof LockLostError);
      assert.match(error.message, /taken over \(generation 2\)/);
      return true;
    });
    assert.throws(() => lock.checkHeld(), LockLostError);
    await assert.rejects(lock.assertHeld(), LockLostError);
    // A renewal seeing the takeover again reports the first loss, once.
    await assert.rejects(lock.renew(), /taken over \(generation 2\)/);
    assert.equal(lost.length, 1);
    // A holder that lost the lock writes nothing more, not even its release.
    const puts = bucket.log.filter((entry) => entry.startsWith("put")).length;
    await lock.release();
    assert.equal(bucket.log.filter((entry) => entry.startsWith("put")).length, puts);
    assert.equal(stored(bucket, 2).owner, "other");
  });

  test("checkHeld trips at the safety margin before the expiry, by the local clock alone", async () => {
    const bucket = new MemoryBucket();
    const lock = await acquire(bucket);
    const margin = 3_000;
    lock.checkHeld(lock.record.expiresAtMs - margin - 1);
    const ops = bucket.log.length;
    assert.throws(() => lock.checkHeld(lock.record.expiresAtMs - margin), /expired before it was renewed/);
    assert.equal(bucket.log.length, ops);
    assert.throws(() => lock.checkHeld(0), LockLostError);
  });

  test("release marks our record released; the next run takes the next generation at once", async () => {
    const bucket = new MemoryBucket();
    const lock = await acquire(bucket);
    await lock.release();
    assert.equal(stored(bucket, 1).released, true);
    const next = await acquire(bucket);
    assert.equal(next.record.generation, 2);
  });
});

describe("assertHeld by the local clock", () => {
  test("a lease already over by the local clock: connectionRefused before any request", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const lock = await acquire(bucket);
    mock.timers.setTime(1_000_000 + LEASE);
    const ops = bucket.log.length;
    await assert.rejects(lock.assertHeld(), /expired before it was renewed/);
    assert.deepEqual(bucket.log.slice(ops), []);
  });

  test("a holder stalled past its lease while listing the lock: connectionRefused after the listing", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const lock = await acquire(bucket);
    bucket.before = (op) => {
      if (op === "list") mock.timers.setTime(1_000_000 + LEASE);
    };
    await assert.rejects(lock.assertHeld(), /expired before it was renewed/);
  });

  test("a lost lock stops its renewal timer", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
    const lock = await acquire(bucket);
    bucket.add(lockKey(STORE, 2), JSON.stringify(record(2)));
    await assert.rejects(lock.assertHeld(), LockLostError);
    const ops = bucket.log.length;
    mock.timers.tick(LEASE / 3);
    await settle();
    assert.deepEqual(bucket.log.slice(ops), []);
  });
});

describe("s3LockObjects: the real bucket behind the lock", () => {
  test("every operation goes through the S3 client (here: nothing listening), and listing honours the signal", async () => {
    const s3 = unreachableS3();
    try {
      const objects = s3LockObjects(s3);
      const key = lockKey(STORE, 1);
      await assert.rejects(
        (async () => {
          for await (const _ of objects.listKeys(lockPrefix(STORE))) {
            // nothing can be listed
          }
        })(),
        connectionRefused,
      );
      await assert.rejects(objects.get(key), connectionRefused);
      await assert.rejects(objects.putIfAbsent(key, "{}"), connectionRefused);
      await assert.rejects(objects.put(key, "{}"), connectionRefused);
      await assert.rejects(objects.delete(key), connectionRefused);
      assert.equal(s3.counter.snapshot().total, 5);
      const interrupted = new AbortController();
      interrupted.abort(new Error("SIGTERM"));
      await assert.rejects(
        (async () => {
          for await (const _ of objects.listKeys(lockPrefix(STORE), interrupted.signal)) {
            // interrupted before the first page
          }
        })(),
        /SIGTERM/,
      );
    } finally {
      s3.close();
    }
  });
});

describe("renewing the lease", () => {
  test("renew extends the lease from the start of the request, in the bucket and in memory", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const lock = await acquire(bucket);
    assert.equal(lock.record.expiresAtMs, 1_000_000 + LEASE);
    mock.timers.setTime(1_005_000);
    await lock.renew();
    assert.equal(lock.record.expiresAtMs, 1_005_000 + LEASE);
    assert.equal(lock.record.renewedAt, new Date(1_005_000).toISOString());
    assert.equal(stored(bucket, 1).expiresAtMs, 1_005_000 + LEASE);
    assert.equal(stored(bucket, 1).renewedAt, new Date(1_005_000).toISOString());
    assert.equal(stored(bucket, 1).token, lock.record.token);
  });

  test("a renewal answered after the lock was lost changes nothing in memory", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const lock = await acquire(bucket);
    mock.timers.setTime(1_005_000);
    bucket.before = (op) => {
      if (op === "put") assert.throws(() => lock.checkHeld(lock.record.expiresAtMs), LockLostError);
    };
    await lock.renew();
    assert.equal(lock.record.expiresAtMs, 1_000_000 + LEASE);
  });

  test("renew refuses a lock taken over, and a lease that already ran out, without writing", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const taken = await acquire(bucket);
    bucket.add(lockKey(STORE, 2), JSON.stringify(record(2)));
    await assert.rejects(taken.renew(), /was taken over/);

    const other = new MemoryBucket();
    const expired = await acquire(other);
    mock.timers.setTime(1_000_000 + LEASE);
    await assert.rejects(expired.renew(), LockLostError);
    assert.equal(other.log.filter((entry) => entry.startsWith("put ")).length, 0);
    assert.equal(bucket.log.filter((entry) => entry.startsWith("put ")).length, 0);
  });

  test("the timer renews every third of the lease, at least every second; release stops it", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
    const lock = await acquire(bucket);
    const puts = () => bucket.log.filter((entry) => entry.startsWith("put ")).length;
    mock.timers.tick(LEASE / 3 - 1);
    await settle();
    assert.equal(puts(), 0);
    mock.timers.tick(1);
    await settle();
    assert.equal(puts(), 1);
    assert.equal(lock.record.expiresAtMs, 1_000_000 + LEASE / 3 + LEASE);
    await lock.release();
    const afterRelease = bucket.log.length;
    mock.timers.tick(LEASE / 3);
    await settle();
    assert.deepEqual(bucket.log.slice(afterRelease), [], "no renewal after the release");

    const short = new MemoryBucket();
    await acquire(short, { leaseMs: 1_500 });
    mock.timers.tick(999);
    await settle();
    assert.equal(short.log.filter((entry) => entry.startsWith("put ")).length, 0);
    mock.timers.tick(1);
    await settle();
    assert.equal(short.log.filter((entry) => entry.startsWith("put ")).length, 1);
  });

  test("one failed renewal is tolerated while the lease lasts; the next one extends it", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
    const lost: Error[] = [];
    const lock = await acquire(bucket, { onLost: (error) => lost.push(error) });
    let failures = 1;
    bucket.before = (op) => {
      if (op === "put" && failures-- > 0) throw new Error("ServiceUnavailable");
    };
    mock.timers.tick(LEASE / 3);
    await settle();
    lock.checkHeld();
    assert.equal(lost.length, 0);
    mock.timers.tick(LEASE / 3);
    await settle();
    assert.equal(lock.record.expiresAtMs, 1_000_000 + (2 * LEASE) / 3 + LEASE);
    lock.checkHeld();
  });

  test("renewals that keep failing until the lease ran out lose the lock, as a lost-lock error", async () => {
    const bucket = new MemoryBucket();
    mock.timers.enable({ apis: ["setInterval", "Date"], now: 1_000_000 });
    const lost: Error[] = [];
    const lock = await acquire(bucket, { onLost: (error) => lost.push(error) });
    bucket.before = (op) => {
      if (op === "put") {
        // The PUT hangs past the lease, then fails.
        mock.timers.setTime(1_000_000 + LEASE);
        throw new Error("ServiceUnavailable");
      }
    };
    mock.timers.tick(LEASE / 3);
    await settle();
    assert.equal(lost.length, 1);
    assert.ok(lost[0] instanceof LockLostError);
    assert.match(lost[0].message, /ran out while renewals failed: ServiceUnavailable/);
    assert.match(String((lost[0].cause as Error).message), /ServiceUnavailable/);
    assert.throws(() => lock.checkHeld(0), /ran out while renewals failed/);
    // Stopped: no further renewal goes out, not even its listing.
    const ops = bucket.log.length;
    mock.timers.tick(LEASE);
    await settle();
    assert.deepEqual(bucket.log.slice(ops), []);
  });
});
