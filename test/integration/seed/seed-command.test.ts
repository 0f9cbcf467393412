/**
 * `chunkgc seed` against real servers: the bucket afterwards holds exactly the planned objects, and the oracle's
 * verdicts cover exactly the chunk objects listed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseDeletableChunkKey } from "../../../src/datastore/index.ts";
import { expectedOutcome, planDatastore, plannedObjects, SeedParamsSchema } from "../../../src/seed/index.ts";
import { allKeys, freshBucketContext } from "../../support/engine.ts";
import { s3TestServers } from "../../support/s3-servers.ts";

const servers = await s3TestServers();
const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));

for (const server of servers) {
  describe(`chunkgc seed on ${server.name}`, () => {
    test("writes exactly the planned datastore; the oracle judges every chunk object listed", async () => {
      const s3 = await freshBucketContext(server, "seedcmd");
      try {
        const args = [
          "seed",
          "--endpoint",
          server.endpoint,
          "--path-style",
          "--bucket",
          s3.bucket,
          "--store",
          "ds",
          "--chunks",
          "2000",
          "--snapshots",
          "40",
          "--groups",
          "4",
          "--namespaces",
          "2",
          "--garbage",
          "500",
          "--fresh",
          "50",
          "--in-progress",
          "1",
          "--abandoned",
          "1",
          "--bad-referenced",
          "2",
          "--bad-with-copy",
          "2",
          "--bad-unreferenced",
          "2",
          "--seed",
          "11",
          "--oracle-now",
          new Date(Date.now() + 3 * 86_400_000).toISOString(),
        ];
        const run = spawnSync(process.execPath, [CLI, ...args], {
          env: { ...process.env, AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey },
          encoding: "utf8",
        });
        assert.equal(run.status, 0, run.stderr);
        const output = JSON.parse(run.stdout) as {
          params: unknown;
          referenceTime: number;
          report: {
            objects: number;
            waves: { 1: { startMs: number; endMs: number }; 2?: { startMs: number; endMs: number } };
          };
          expected: { counters: Record<string, number> };
        };
        const plan = planDatastore(SeedParamsSchema.parse(output.params), output.referenceTime);
        const planned = new Set([...plannedObjects(plan)].map((object) => object.key));
        const listed = await allKeys(s3);
        assert.equal(output.report.objects, planned.size);
        assert.deepEqual(listed, planned);

        const outcome = expectedOutcome(plan, {
          nowSeconds: Math.floor(Date.now() / 1000) + 3 * 86_400,
          graceSeconds: 86_700,
          maxBackupDurationSeconds: 48 * 3600,
          waves: { 1: output.report.waves[1], 2: output.report.waves[2] },
        });
        const chunkObjects = [...listed].filter((key) => parseDeletableChunkKey("ds", key));
        assert.deepEqual(new Set(chunkObjects), new Set([...outcome.keptKeys, ...outcome.removedKeys]));
        assert.equal(outcome.runningBackups, 0, "three days later the running backup counts as abandoned");
        assert.deepEqual(outcome.counters.indexFileCount, output.expected.counters.indexFileCount);
      } finally {
        s3.close();
      }
    });
  });
}
