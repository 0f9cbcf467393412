/**
 * The datastore lock against a real S3 server, driven directly: who holds it, when a holder must consider it lost
 * (its own lease by its clock, a newer generation in the bucket), that a lost lock is never renewed or released over
 * the new holder, and that an unreadable record counts as held for 15 minutes from its upload, never as free.
 * Expiry is judged at chosen instants (checkHeld takes the time), so no test waits for a lease to run out.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DatastoreLock,
  LockBusyError,
  LockLostError,
  LockRecordSchema,
  leaseSafetyMarginMs,
  lockKey,
} from "../../../src/engine/lock.ts";
import { getObjectBytes, listObjects, putObject, type S3Context } from "../../../src/s3/index.ts";
import { freshBucketContext } from "../../support/engine.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const STORE = "ds";
const LEASE_MS = 600_000;

async function record(s3: S3Context, generation: number) {
  const { bytes } = await getObjectBytes(s3, lockKey(STORE, generation));
  return LockRecordSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")));
}

async function lockKeys(s3: S3Context): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of listObjects(s3, { prefix: `${STORE}/.chunkgc/lock/` })) keys.push(object.key);
  return keys;
}

for (const server of servers) {
  describe(`datastore lock on ${server.name}`, () => {
    test("one holder at a time; the holder's lease ends by its own clock, margin included", async () => {
      const s3 = await freshBucketContext(server, "lock-hold");
      const lost: Error[] = [];
      const lock = await DatastoreLock.acquire(s3, {
        store: STORE,
        owner: "first",
        leaseMs: LEASE_MS,
        onLost: (error) => lost.push(error),
      });
      try {
        assert.equal(lock.record.generation, 1);
        const stored = await record(s3, 1);
        assert.equal(stored.owner, "first");
        assert.equal(stored.released, false);
        assert.ok(stored.expiresAtMs > Date.now() + LEASE_MS - 60_000);
        await assert.rejects(
          DatastoreLock.acquire(s3, { store: STORE, owner: "second", leaseMs: LEASE_MS }),
          (error: unknown) => error instanceof LockBusyError && error.holder.owner === "first",
        );

        await lock.assertHeld();
        const lastSafe = lock.record.expiresAtMs - leaseSafetyMarginMs(LEASE_MS) - 1;
        lock.checkHeld(lastSafe);
        assert.throws(() => lock.checkHeld(lastSafe + 1), LockLostError);
        assert.equal(lost.length, 1, "onLost is told once");
        // Lost stays lost, whatever the clock says afterwards.
        assert.throws(() => lock.checkHeld(0), LockLostError);
        await assert.rejects(lock.assertHeld(), LockLostError);
        assert.equal(lost.length, 1);
        // A lost lock is not released over whoever may hold it now.
        await lock.release();
        assert.equal((await record(s3, 1)).released, false);
      } finally {
        await lock.release();
        s3.close();
      }
    });

    test("a newer generation in the bucket means taken over: no renewal, no release, no further deletes", async () => {
      const s3 = await freshBucketContext(server, "lock-takeover");
      try {
        const lost: Error[] = [];
        const lock = await DatastoreLock.acquire(s3, {
          store: STORE,
          owner: "first",
          leaseMs: LEASE_MS,
          onLost: (error) => lost.push(error),
        });
        await lock.renew();
        const taker = { ...(await record(s3, 1)), generation: 2, owner: "taker", token: "x" };
        await putObject(s3, lockKey(STORE, 2), JSON.stringify(taker));
        await assert.rejects(lock.assertHeld(), (error: unknown) => {
          assert.ok(error instanceof LockLostError);
          assert.match(error.message, /taken over \(generation 2\)/);
          return true;
        });
        assert.equal(lost.length, 1);
        assert.throws(() => lock.checkHeld(), LockLostError);
        await assert.rejects(lock.renew(), LockLostError);
        await lock.release();
        assert.equal((await record(s3, 2)).owner, "taker", "the new holder's record is untouched");
        assert.equal((await record(s3, 1)).released, false);
      } finally {
        s3.close();
      }
    });

    test("of runs racing for a free lock, exactly one takes it", async () => {
      const s3 = await freshBucketContext(server, "lock-race");
      try {
        const racers = Array.from({ length: 6 }, (_, n) =>
          DatastoreLock.acquire(s3, { store: STORE, owner: `racer-${n}`, leaseMs: LEASE_MS }),
        );
        const outcomes = await Promise.allSettled(racers);
        const winners = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
        try {
          assert.equal(winners.length, 1, `${winners.length} runs hold the lock`);
          for (const outcome of outcomes) {
            if (outcome.status === "rejected")
              assert.ok(outcome.reason instanceof LockBusyError, String(outcome.reason));
          }
          assert.equal((await record(s3, winners[0]!.record.generation)).owner, winners[0]!.record.owner);
        } finally {
          for (const winner of winners) await winner.release();
        }
      } finally {
        s3.close();
      }
    });

    test("a released lock is taken with the next generation, and older generations are cleared", async () => {
      const s3 = await freshBucketContext(server, "lock-release");
      try {
        const first = await DatastoreLock.acquire(s3, { store: STORE, owner: "first", leaseMs: LEASE_MS });
        await first.release();
        assert.equal((await record(s3, 1)).released, true);
        const second = await DatastoreLock.acquire(s3, { store: STORE, owner: "second", leaseMs: LEASE_MS });
        try {
          assert.equal(second.record.generation, 2);
          assert.deepEqual(await lockKeys(s3), [lockKey(STORE, 2)]);
          await second.assertHeld();
        } finally {
          await second.release();
        }
      } finally {
        s3.close();
      }
    });

    test("an expired lease is taken over by the next run", async () => {
      const s3 = await freshBucketContext(server, "lock-expired");
      try {
        const stale = {
          generation: 4,
          owner: "crashed",
          host: "h",
          pid: 1,
          acquiredAt: new Date(0).toISOString(),
          renewedAt: new Date(0).toISOString(),
          expiresAtMs: Date.now() - 1,
          released: false,
          token: "t",
        };
        await putObject(s3, lockKey(STORE, 4), JSON.stringify(stale));
        const lock = await DatastoreLock.acquire(s3, { store: STORE, owner: "next", leaseMs: LEASE_MS });
        try {
          assert.equal(lock.record.generation, 5);
        } finally {
          await lock.release();
        }
      } finally {
        s3.close();
      }
    });

    test("an unreadable lock record is held for 15 minutes from its upload, never free", async () => {
      const s3 = await freshBucketContext(server, "lock-unreadable");
      try {
        const before = Date.now();
        await putObject(s3, lockKey(STORE, 3), JSON.stringify({ generation: 3, owner: "half a record" }));
        await assert.rejects(
          DatastoreLock.acquire(s3, { store: STORE, owner: "next", leaseMs: LEASE_MS }),
          (error: unknown) => {
            assert.ok(error instanceof LockBusyError);
            assert.equal(error.holder.generation, 3);
            assert.match(error.holder.owner, /unreadable/);
            const expected = before + 15 * 60_000;
            assert.ok(Math.abs(error.holder.expiresAtMs - expected) < 120_000, `${error.holder.expiresAtMs}`);
            return true;
          },
        );
        // Not even JSON: held the same way (busy for 15 minutes from its upload), neither free nor a crash.
        await putObject(s3, lockKey(STORE, 3), "{ not json");
        await assert.rejects(
          DatastoreLock.acquire(s3, { store: STORE, owner: "next", leaseMs: LEASE_MS }),
          (error: unknown) => {
            assert.ok(error instanceof LockBusyError, String(error));
            assert.match(error.holder.owner, /unreadable/);
            return true;
          },
        );
        assert.deepEqual(await lockKeys(s3), [lockKey(STORE, 3)]);
      } finally {
        s3.close();
      }
    });
  });
}
