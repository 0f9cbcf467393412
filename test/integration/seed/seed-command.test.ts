/**
 * `chunkgc seed` against real servers, judged by what is independent of the generator's oracle: the bucket as the
 * server lists it (keys, sizes, upload times), and what a real `chunkgc gc` process counts and deletes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseDeletableChunkKey } from "../../../src/datastore/index.ts";
import { type ListedObject, listObjects, type S3Context } from "../../../src/s3/index.ts";
import { expectedOutcome, planDatastore, plannedObjects, SeedParamsSchema } from "../../../src/seed/index.ts";
import { freshBucketContext, type ServerConnection, tempCacheDir } from "../../support/engine.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));
const GRACE = "24h5m";
const GRACE_SECONDS = 24 * 3600 + 300;
const MAX_BACKUP = "48h";
const MAX_BACKUP_SECONDS = 48 * 3600;

function chunkgc(server: ServerConnection, s3: S3Context, args: string[]) {
  const run = spawnSync(
    process.execPath,
    [CLI, ...args, "--endpoint", server.endpoint, "--path-style", "--bucket", s3.bucket, "--store", "ds"],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
        AWS_REGION: server.region,
        CHUNKGC_LOG_LEVEL: "warn",
      },
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  assert.equal(run.status, 0, `chunkgc ${args[0]} exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** The bucket's own account of the datastore, chunk lock objects aside. */
async function listing(s3: S3Context): Promise<Map<string, ListedObject>> {
  const objects = new Map<string, ListedObject>();
  for await (const object of listObjects(s3, { prefix: "" })) {
    if (!object.key.includes("/.chunkgc/")) objects.set(object.key, object);
  }
  return objects;
}

const sumOfSizes = (objects: Map<string, ListedObject>, keys: Iterable<string>) =>
  [...keys].reduce((sum, key) => sum + (objects.get(key)?.size ?? Number.NaN), 0);

type Counters = Record<string, number>;

for (const server of servers) {
  describe(`chunkgc seed on ${server.name}`, () => {
    test("the bucket holds the plan, and a real gc finds and deletes exactly what the printed oracle says", async () => {
      const s3 = await freshBucketContext(server, "seedcmd");
      try {
        // Three days later: every unreferenced upload is past the grace, the running backup counts as abandoned.
        const now = new Date(Date.now() + 3 * 86_400_000);
        const nowSeconds = Math.floor(now.getTime() / 1000);
        // biome-ignore format: option pairs
        const seeded = chunkgc(server, s3, [
          "seed", "--chunks", "2000", "--snapshots", "40", "--groups", "4", "--namespaces", "2",
          "--garbage", "500", "--fresh", "50", "--in-progress", "1", "--abandoned", "1",
          "--bad-referenced", "2", "--bad-with-copy", "2", "--bad-unreferenced", "2", "--seed", "11",
          "--oracle-now", now.toISOString(), "--grace", GRACE, "--max-backup-duration", MAX_BACKUP,
        ]) as {
          params: unknown;
          referenceTime: number;
          report: { objects: number; waves: { 1: { startMs: number; endMs: number }; 2?: { startMs: number; endMs: number } } };
          expected: { counters: Counters; minAtime: number; oldestWriter: number };
        };

        // What the bucket holds: exactly the planned keys, no more, no fewer.
        const before = await listing(s3);
        const plan = planDatastore(SeedParamsSchema.parse(seeded.params), seeded.referenceTime);
        const planned = new Set([...plannedObjects(plan)].map((object) => object.key));
        assert.equal(seeded.report.objects, planned.size);
        assert.deepEqual(new Set(before.keys()), planned);

        // The oracle's verdicts, for every chunk object the server lists, and its bytes as the server sizes them.
        const outcome = expectedOutcome(plan, {
          nowSeconds,
          graceSeconds: GRACE_SECONDS,
          maxBackupDurationSeconds: MAX_BACKUP_SECONDS,
          waves: { 1: seeded.report.waves[1], 2: seeded.report.waves[2] },
        });
        assert.deepEqual(outcome.counters, seeded.expected.counters, "the printed oracle is the oracle");
        const chunkObjects = [...before.keys()].filter((key) => parseDeletableChunkKey("ds", key));
        assert.deepEqual(new Set(chunkObjects), new Set([...outcome.keptKeys, ...outcome.removedKeys]));
        const expected = seeded.expected.counters;
        assert.equal(sumOfSizes(before, outcome.removedKeys), expected.removedBytes);
        assert.equal(sumOfSizes(before, outcome.keptKeys), expected.diskBytes! + expected.pendingBytes!);
        for (const key of outcome.removedKeys) {
          const uploaded = Math.floor(before.get(key)!.lastModifiedMs / 1000);
          assert.ok(uploaded < seeded.expected.minAtime, `${key} uploaded at ${uploaded}, not before the cutoff`);
        }
        assert.ok(expected.removedChunks! > 500 && expected.removedBad! > 0 && expected.diskChunks! > 0);

        // A real gc process, first as a dry run: it counts what the oracle printed.
        // biome-ignore format: option pairs
        const gcArgs = ["gc", "--json", "--now", now.toISOString(), "--grace", GRACE, "--max-backup-duration", MAX_BACKUP];
        const dry = chunkgc(server, s3, [...gcArgs, "--dry-run", "--cache-dir", tempCacheDir("seedcmd-dry")]) as {
          result: string;
          counters: Counters;
          unexpectedKeys: { count: number };
        };
        assert.equal(dry.result, "succeeded");
        assert.deepEqual(dry.counters, expected);
        const strays = [...before.keys()].filter((key) => key.startsWith("ds/.chunks/") && !chunkObjects.includes(key));
        assert.ok(strays.length > 0, "the datastore has junk under .chunks/");
        assert.equal(dry.unexpectedKeys.count, strays.length);
        assert.deepEqual(new Set((await listing(s3)).keys()), new Set(before.keys()), "a dry run deletes nothing");

        // Then for real (three days ahead of the clock, which only a test may ask for): the bucket loses exactly the
        // oracle's keys.
        const real = chunkgc(server, s3, [
          ...gcArgs,
          "--allow-future-now",
          "--cache-dir",
          tempCacheDir("seedcmd-real"),
        ]) as {
          result: string;
          counters: Counters;
        };
        assert.equal(real.result, "succeeded");
        assert.deepEqual(real.counters, expected);
        const after = await listing(s3);
        const gone = [...before.keys()].filter((key) => !after.has(key));
        assert.deepEqual(new Set(gone), outcome.removedKeys);
      } finally {
        s3.close();
      }
    });
  });
}
