/**
 * Losing the datastore lock in the middle of a real sweep, against real S3 servers: taken over by another process,
 * a lease that runs out while renewals fail, a process stopped (SIGSTOP) past its lease. In every case no DeleteObjects
 * request reaches the server after the loss. The fault proxy logs every request with its arrival time.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { hostname } from "node:os";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DatastoreLock, LockLostError, type LockRecord, lockKey, lockPrefix } from "../../../src/engine/lock.ts";
import { createS3Context, listObjects, putObject, type S3Context } from "../../../src/s3/index.ts";
import { allKeys, freshBucketContext, tempCacheDir } from "../../support/engine.ts";
import { eventually } from "../../support/eventually.ts";
import { type FaultRules, startFaultProxy } from "../../support/fault-proxy.ts";
import { putChunks } from "../../support/handmade-store.ts";
import { s3TestServers } from "../../support/s3-servers.ts";
import { engineChildEnv, exitOf, runChangedBeforeSecondRound } from "./shared-setup.ts";

const servers = await s3TestServers();
const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));
const HOUR = 3600;
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function newestGeneration(s3: S3Context, store: string): Promise<number> {
  let newest = 0;
  for await (const object of listObjects(s3, { prefix: lockPrefix(store) })) {
    const generation = Number(object.key.slice(lockPrefix(store).length));
    if (Number.isSafeInteger(generation)) newest = Math.max(newest, generation);
  }
  return newest;
}

/** What another process that took the lock over writes: the next generation. */
async function takeOver(s3: S3Context, store: string): Promise<number> {
  const generation = (await newestGeneration(s3, store)) + 1;
  const now = Date.now();
  const record: LockRecord = {
    generation,
    owner: "intruder",
    host: hostname(),
    pid: 1,
    acquiredAt: new Date(now).toISOString(),
    renewedAt: new Date(now).toISOString(),
    expiresAtMs: now + HOUR * 1000,
    released: false,
    token: "intruder",
  };
  await putObject(s3, lockKey(store, generation), JSON.stringify(record));
  return generation;
}

for (const server of servers) {
  describe(`lock loss on ${server.name}`, () => {
    test("a lock taken over by another process mid-sweep: no DeleteObjects is sent afterwards", async () => {
      const s3 = await freshBucketContext(server, "takeover");
      const proxy = await startFaultProxy(server.endpoint);
      try {
        const { report, rounds, garbage, deletesBefore, deletesAfter } = await runChangedBeforeSecondRound(
          s3,
          server,
          proxy,
          "takeover",
          () => takeOver(s3, "s"),
        );
        assert.equal(rounds, 2, "the round after the takeover was the last");
        assert.ok(deletesBefore.length > 0, "rounds before the takeover deleted");
        assert.deepEqual(
          deletesAfter.map((entry) => entry.seq),
          [],
          "no DeleteObjects after the takeover",
        );
        assert.equal(report.result, "failed");
        assert.match(report.message ?? "", /taken over/);
        const remaining = await allKeys(s3, "s/.chunks/");
        assert.ok(report.counters.removedChunks >= 5, "the first round deleted");
        assert.equal(remaining.size, garbage.length - report.counters.removedChunks, "only the first round deleted");
      } finally {
        await proxy.close();
        s3.close();
      }
    });

    test("a renewal that fails leaves the expiry alone; a successful one is timed from the request's start", async () => {
      const s3 = await freshBucketContext(server, "renew");
      const proxy = await startFaultProxy(server.endpoint);
      const direct = createS3Context(
        { endpoint: proxy.endpoint, region: server.region, bucket: s3.bucket, forcePathStyle: true, maxAttempts: 1 },
        { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      );
      try {
        const lock = await DatastoreLock.acquire(direct, { store: "s", owner: "renewer", leaseMs: 60_000 });
        const key = lockKey("s", lock.record.generation);
        const acquiredExpiry = lock.record.expiresAtMs;
        proxy.rules = {
          plan: (request) =>
            request.kind === "put" && request.key === key
              ? { type: "status", status: 500, code: "InternalError" }
              : undefined,
        };
        await assert.rejects(lock.renew());
        assert.equal(lock.record.expiresAtMs, acquiredExpiry, "a failed renewal does not extend the lease");

        const slow: FaultRules["plan"] = (request) =>
          request.kind === "put" && request.key === key ? { type: "delay", ms: 1500 } : undefined;
        proxy.rules = { plan: slow };
        const started = Date.now();
        await lock.renew();
        const finished = Date.now();
        assert.ok(finished - started >= 1500, "the renewal PUT was slow");
        assert.ok(
          lock.record.expiresAtMs <= started + 60_000 + 100,
          `expiry ${lock.record.expiresAtMs - started} ms after the start: timed from the request's start`,
        );
        assert.ok(lock.record.expiresAtMs > acquiredExpiry);
        await lock.release();
      } finally {
        direct.close();
        await proxy.close();
        s3.close();
      }
    });

    test("renewals that keep failing until the lease runs out lose the lock with a LockLostError", async () => {
      const s3 = await freshBucketContext(server, "renewfail");
      const proxy = await startFaultProxy(server.endpoint);
      const direct = createS3Context(
        { endpoint: proxy.endpoint, region: server.region, bucket: s3.bucket, forcePathStyle: true, maxAttempts: 1 },
        { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      );
      try {
        let lostWith: Error | undefined;
        const lock = await DatastoreLock.acquire(direct, {
          store: "s",
          owner: "failing-renewals",
          // Renewed every 2 s; over (with its margin) 5.4 s after it was taken.
          leaseMs: 6000,
          onLost: (error) => {
            lostWith = error;
          },
        });
        const key = lockKey("s", lock.record.generation);
        proxy.rules = {
          plan: (request) =>
            request.kind === "put" && request.key === key
              ? { type: "status", status: 500, code: "InternalError", afterMs: 3500 }
              : undefined,
        };
        // Nothing but the renewal timer runs. The first renewal's PUT fails slowly, after the lease is over: that
        // failure, not a later tick, declares the lock lost, and it must be a LockLostError.
        const lost = await eventually("the renewal timer to give the lock up", () => lostWith, 20_000, 100);
        assert.ok(lost instanceof LockLostError, `${lost.name}: ${lost.message}`);
        assert.throws(() => lock.checkHeld(), LockLostError);
      } finally {
        direct.close();
        await proxy.close();
        s3.close();
      }
    });

    test("a run stopped (SIGSTOP) past its lease sends no DeleteObjects once it wakes", async () => {
      const s3 = await freshBucketContext(server, "sigstop");
      const slowDeletes: FaultRules = {
        plan: (request) => (request.kind === "deleteObjects" ? { type: "delay", ms: 300 } : undefined),
      };
      const proxy = await startFaultProxy(server.endpoint, slowDeletes);
      let child: ChildProcess | undefined;
      try {
        const upload = nowSeconds();
        const garbage = await putChunks(s3, "s", "garbage", 120);
        child = spawn(
          process.execPath,
          [
            CLI,
            "gc",
            ...["--endpoint", proxy.endpoint, "--path-style", "--bucket", s3.bucket, "--store", "s"],
            ...["--cache-dir", tempCacheDir("sigstop"), "--now", new Date((upload + 30 * HOUR) * 1000).toISOString()],
            "--allow-future-now",
            ...["--lock-lease", "10s", "--delete-batch-size", "2", "--delete-concurrency", "1"],
            ...["--delete-round-size", "120", "--list-concurrency", "1"],
          ],
          {
            env: engineChildEnv(server),
            stdio: ["ignore", "ignore", "ignore"],
          },
        );
        const exited = exitOf(child);
        await eventually(
          "the first deletions",
          () => proxy.log.filter((entry) => entry.kind === "deleteObjects").length >= 2 || undefined,
          60_000,
          20,
        );
        child.kill("SIGSTOP");
        const stoppedAt = Date.now();
        // Past the lease: another run takes the lock over, as the protocol allows.
        const next = await eventually(
          "the stopped run's lease to run out",
          () => DatastoreLock.acquire(s3, { store: "s", owner: "next", leaseMs: 60_000 }).catch(() => undefined),
          30_000,
          500,
        );
        assert.ok(Date.now() - stoppedAt >= 8_000, "taken over only after the lease");
        const wokeAt = Date.now();
        child.kill("SIGCONT");
        const code = await exited;
        await next.release();
        const deletes = proxy.log.filter((entry) => entry.kind === "deleteObjects");
        assert.ok(deletes.some((entry) => entry.arrivedMs < stoppedAt));
        assert.deepEqual(
          deletes.filter((entry) => entry.arrivedMs >= wokeAt).map((entry) => entry.seq),
          [],
          "no DeleteObjects after waking past the lease",
        );
        assert.equal(code, 1, "the run failed (lock lost)");
        const remaining = await allKeys(s3, "s/.chunks/");
        assert.ok(remaining.size > 0 && remaining.size < garbage.length, `${remaining.size} chunks left`);
      } finally {
        if (child && child.exitCode === null) child.kill("SIGKILL");
        await proxy.close();
        s3.close();
      }
    });
  });
}
