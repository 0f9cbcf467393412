/**
 * `chunkgc gc` as a process against real S3 servers: its exit codes (2 bad usage, 3 safety abort, 4 lock busy),
 * strictly parsed boolean settings, a `--now` in the future, and failed delete rounds that must neither crash the
 * process nor outlive the lock.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { inUseKey } from "../../../src/datastore/index.ts";
import { DatastoreLock, lockPrefix } from "../../../src/engine/lock.ts";
import { putObject, type S3Context } from "../../../src/s3/index.ts";
import { allKeys, freshBucketContext, runEngine, tempCacheDir } from "../../support/engine.ts";
import { type FaultRules, startFaultProxy } from "../../support/fault-proxy.ts";
import { putChunks } from "../../support/handmade-store.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));
const HOUR = 3600;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface CliOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CHUNKGC_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

for (const server of servers) {
  const credentials = { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey };
  const gcArgs = (s3: S3Context, cacheDir: string, endpoint = server.endpoint) => [
    "gc",
    ...["--endpoint", endpoint, "--path-style", "--bucket", s3.bucket, "--store", "s", "--cache-dir", cacheDir],
  ];
  /** Garbage chunks past a grace of 5 minutes by a `now` 30 h ahead (allowed with the test-only flag). */
  const garbageStore = async (s3: S3Context, count: number) => {
    const chunks = await putChunks(s3, "s", "garbage", count);
    return { chunks, now: new Date((nowSeconds() + 30 * HOUR) * 1000).toISOString() };
  };

  describe(`chunkgc gc exit codes on ${server.name}`, () => {
    test("exit 4 while another run holds the lock", async () => {
      const s3 = await freshBucketContext(server, "exit4");
      try {
        const holder = await DatastoreLock.acquire(s3, { store: "s", owner: "holder", leaseMs: 60_000 });
        const outcome = await runCli(gcArgs(s3, tempCacheDir("exit4")), credentials);
        await holder.release();
        assert.equal(outcome.code, 4, outcome.stderr);
        assert.match(outcome.stdout, /lock-busy/);
        assert.match(outcome.stdout, /holder/);
      } finally {
        s3.close();
      }
    });

    test("exit 3 for a datastore attached to PBS, and CHUNKGC_ACKNOWLEDGE_IN_USE=false does not acknowledge", async () => {
      const s3 = await freshBucketContext(server, "exit3");
      try {
        const { now } = await garbageStore(s3, 5);
        await putObject(s3, inUseKey("s"), JSON.stringify({ hostname: "pbs-node-1" }));
        const before = await allKeys(s3);
        for (const value of ["false", "0", "no", "FALSE"]) {
          const outcome = await runCli([...gcArgs(s3, tempCacheDir("exit3")), "--now", now, "--allow-future-now"], {
            ...credentials,
            CHUNKGC_ACKNOWLEDGE_IN_USE: value,
          });
          assert.equal(outcome.code, 3, `${value}: ${outcome.stderr}`);
          assert.match(outcome.stdout, /pbs-node-1/);
          assert.deepEqual(await allKeys(s3), before, `${value}: nothing deleted`);
        }
        const acknowledged = await runCli([...gcArgs(s3, tempCacheDir("exit3")), "--now", now, "--allow-future-now"], {
          ...credentials,
          CHUNKGC_ACKNOWLEDGE_IN_USE: "Yes",
        });
        assert.equal(acknowledged.code, 0, acknowledged.stderr);
        assert.equal((await allKeys(s3, "s/.chunks/")).size, 0, "acknowledged: the garbage went");
      } finally {
        s3.close();
      }
    });

    test("exit 2 for a boolean that is not true/false/1/0/yes/no or a value out of range, naming the variable or flag", async () => {
      const s3 = await freshBucketContext(server, "exit2");
      try {
        await garbageStore(s3, 3);
        const before = await allKeys(s3);
        const cases: [string[], Record<string, string>, RegExp][] = [
          [[], { CHUNKGC_ACKNOWLEDGE_IN_USE: "" }, /CHUNKGC_ACKNOWLEDGE_IN_USE/],
          [[], { CHUNKGC_ACKNOWLEDGE_IN_USE: "maybe" }, /CHUNKGC_ACKNOWLEDGE_IN_USE/],
          [[], { CHUNKGC_DRY_RUN: "flase" }, /CHUNKGC_DRY_RUN/],
          [[], { CHUNKGC_DRY_RUN: "" }, /CHUNKGC_DRY_RUN/],
          [[], { CHUNKGC_JSON: "on" }, /CHUNKGC_JSON/],
          [[], { CHUNKGC_S3_PATH_STYLE: "enabled" }, /CHUNKGC_S3_PATH_STYLE/],
          [["--dry-run=perhaps"], {}, /--dry-run/],
          [["--acknowledge-in-use", "sure"], {}, /--acknowledge-in-use/],
          [["--grace", "10s"], {}, /--grace/],
          [[], { CHUNKGC_MAX_CLOCK_SKEW: "0s" }, /--max-clock-skew/],
          [[], { CHUNKGC_ALLOW_FUTURE_NOW: "" }, /CHUNKGC_ALLOW_FUTURE_NOW/],
        ];
        for (const [args, env, names] of cases) {
          const outcome = await runCli([...gcArgs(s3, tempCacheDir("exit2")), ...args], { ...credentials, ...env });
          const what = JSON.stringify({ args, env });
          assert.equal(outcome.code, 2, `${what}: ${outcome.stderr}`);
          assert.match(outcome.stderr, names, what);
        }
        assert.deepEqual(await allKeys(s3), before);
      } finally {
        s3.close();
      }
    });

    test("CHUNKGC_DRY_RUN=false is a real run; CHUNKGC_DRY_RUN=1 and --dry-run alone are dry runs", async () => {
      const s3 = await freshBucketContext(server, "dryrun");
      try {
        const { now } = await garbageStore(s3, 4);
        const future = ["--now", now, "--allow-future-now"];
        for (const [args, env] of [
          [["--dry-run"], {}],
          [[], { CHUNKGC_DRY_RUN: "1" }],
          [["--dry-run=true"], { CHUNKGC_DRY_RUN: "false" }],
        ] as const) {
          const outcome = await runCli([...gcArgs(s3, tempCacheDir("dry")), ...future, ...args], {
            ...credentials,
            ...env,
          });
          assert.equal(outcome.code, 0, outcome.stderr);
          assert.match(outcome.stdout, /dry run/, JSON.stringify({ args, env }));
          assert.equal((await allKeys(s3, "s/.chunks/")).size, 4);
        }
        const real = await runCli([...gcArgs(s3, tempCacheDir("dry")), ...future], {
          ...credentials,
          CHUNKGC_DRY_RUN: "false",
        });
        assert.equal(real.code, 0, real.stderr);
        assert.doesNotMatch(real.stdout, /dry run/);
        assert.equal((await allKeys(s3, "s/.chunks/")).size, 0);
      } finally {
        s3.close();
      }
    });

    test("a --now later than the clock: exit 2 on a deleting run; allowed for a dry run or with --allow-future-now", async () => {
      const s3 = await freshBucketContext(server, "futurenow");
      try {
        const { now } = await garbageStore(s3, 3);
        const before = await allKeys(s3);
        const refused = await runCli([...gcArgs(s3, tempCacheDir("future")), "--now", now], credentials);
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(refused.stderr, /--now .* is later than the clock/);
        const viaEnv = await runCli(gcArgs(s3, tempCacheDir("future")), { ...credentials, CHUNKGC_NOW: now });
        assert.equal(viaEnv.code, 2, viaEnv.stderr);
        const typo = await runCli([...gcArgs(s3, tempCacheDir("future")), "--now", now, "--allow-future-now=nope"], {
          ...credentials,
        });
        assert.equal(typo.code, 2, typo.stderr);
        assert.deepEqual(await allKeys(s3), before, "nothing deleted");

        const dry = await runCli([...gcArgs(s3, tempCacheDir("future")), "--now", now, "--dry-run"], credentials);
        assert.equal(dry.code, 0, dry.stderr);
        assert.deepEqual(await allKeys(s3), before, "a dry run deletes nothing");
        const allowed = await runCli(
          [...gcArgs(s3, tempCacheDir("future")), "--now", now, "--allow-future-now"],
          credentials,
        );
        assert.equal(allowed.code, 0, allowed.stderr);
        assert.equal((await allKeys(s3, "s/.chunks/")).size, 0);
      } finally {
        s3.close();
      }
    });
  });

  describe(`failed delete rounds on ${server.name}`, () => {
    test("a round failing while the listing waits for a page: a report, exit 1, the lock released (no crash)", async () => {
      const s3 = await freshBucketContext(server, "roundfail");
      let contentListings = 0;
      const plan: FaultRules["plan"] = (request) => {
        if (request.kind !== "list") return undefined;
        const prefix = request.query.get("prefix") ?? "";
        if (prefix === "s/.cnt/") {
          contentListings += 1;
          // Phase 1 lists fine; the recheck of the first round is refused.
          return contentListings >= 2 ? { type: "status", status: 403, code: "AccessDenied" } : undefined;
        }
        return prefix === "s/.chunks/" ? { type: "delay", ms: 400 } : undefined;
      };
      const proxy = await startFaultProxy(server.endpoint, { plan });
      try {
        const { now } = await garbageStore(s3, 40);
        const cacheDir = tempCacheDir("roundfail");
        const termination = join(cacheDir, "termination-message");
        const outcome = await runCli(
          [
            ...gcArgs(s3, cacheDir, proxy.endpoint),
            ...["--now", now, "--allow-future-now", "--termination-message-file", termination],
            ...["--list-concurrency", "2", "--delete-round-size", "1", "--delete-batch-size", "1"],
          ],
          credentials,
        );
        assert.ok(contentListings >= 2, "the recheck was refused");
        assert.equal(outcome.code, 1, outcome.stderr);
        assert.match(outcome.stdout, /GC of datastore s: failed/);
        assert.match(outcome.stdout, /AccessDenied/);
        assert.doesNotMatch(outcome.stderr, /Unhandled|unhandled/);
        assert.ok(existsSync(termination), "the termination message was written");
        assert.equal(JSON.parse(readFileSync(termination, "utf8")).result, "failed");
        assert.equal(proxy.log.filter((entry) => entry.kind === "deleteObjects").length, 0);
        const next = await runEngine(s3, server, { store: "s", cacheDir: tempCacheDir("after"), now: new Date(now) });
        assert.equal(next.result, "succeeded", `the lock was released: ${next.message}`);
      } finally {
        await proxy.close();
        s3.close();
      }
    });

    test("a listing failing while a round deletes: the round is awaited, nothing is deleted after the lock's release", async () => {
      const s3 = await freshBucketContext(server, "listfail");
      let chunkListings = 0;
      const plan: FaultRules["plan"] = (request) => {
        if (request.kind === "deleteObjects") return { type: "delay", ms: 1500 };
        if (request.kind !== "list" || request.query.get("prefix") !== "s/.chunks/") return undefined;
        chunkListings += 1;
        // The first range lists at once; the second range's listing fails while the first range's round is deleting
        // and the sweep waits for a page (every later listing is slower still).
        if (chunkListings === 1) return undefined;
        if (chunkListings === 2) return { type: "status", status: 403, code: "AccessDenied", afterMs: 600 };
        return { type: "delay", ms: 3000 };
      };
      const proxy = await startFaultProxy(server.endpoint, { plan });
      try {
        const { now } = await garbageStore(s3, 60);
        const report = await runEngine(
          s3,
          { ...server, endpoint: proxy.endpoint },
          {
            store: "s",
            cacheDir: tempCacheDir("listfail"),
            now: new Date(now),
            listConcurrency: 2,
            roundSize: 1,
            deleteBatchSize: 1,
            deleteConcurrency: 1,
          },
        );
        assert.equal(report.result, "failed");
        assert.match(report.message ?? "", /AccessDenied/);
        const lockPuts = proxy.log.filter((entry) => entry.kind === "put" && entry.key.startsWith(lockPrefix("s")));
        const release = lockPuts.at(-1)!;
        const deletes = proxy.log.filter((entry) => entry.kind === "deleteObjects");
        const failedAt = proxy.log.find((entry) => entry.status === 403)?.doneMs ?? 0;
        assert.ok(
          deletes.some((entry) => entry.arrivedMs < failedAt && (entry.doneMs ?? Number.POSITIVE_INFINITY) > failedAt),
          "a DeleteObjects was in flight when the listing failed",
        );
        for (const entry of deletes) {
          assert.ok(entry.doneMs !== undefined, `DeleteObjects #${entry.seq} finished`);
          assert.ok(entry.arrivedMs < release.arrivedMs, `DeleteObjects #${entry.seq} sent after the lock's release`);
          assert.ok(entry.doneMs <= release.arrivedMs, `DeleteObjects #${entry.seq} still running at the release`);
        }
        const remaining = await allKeys(s3, "s/.chunks/");
        assert.equal(remaining.size, 60 - report.counters.removedChunks);
      } finally {
        await proxy.close();
        s3.close();
      }
    });
  });
}
