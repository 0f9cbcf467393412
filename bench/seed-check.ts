/**
 * `chunkgc seed` at scale on a local server, checked: the bucket afterwards holds exactly the planned objects and
 * the oracle judges every chunk object listed.   node bench/seed-check.ts [chunks] [snapshots] [versitygw|ceph-rgw]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDeletableChunkKey } from "../src/datastore/index.ts";
import { createS3Context, listObjects } from "../src/s3/index.ts";
import { expectedOutcome, planDatastore, plannedObjects, SeedParamsSchema } from "../src/seed/index.ts";
import { start as startCeph } from "../test/servers/ceph-rgw.ts";
import { start as startVersitygw } from "../test/servers/versitygw.ts";

const [chunks = "100000", snapshots = "1000", serverName = "versitygw"] = process.argv.slice(2);
const work = mkdtempSync(join(tmpdir(), "chunkgc-seed-check-"));
const server = serverName === "ceph-rgw" ? await startCeph(join(work, "s3")) : await startVersitygw(join(work, "s3"));
try {
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    [
      fileURLToPath(new URL("../src/cli/main.ts", import.meta.url)),
      "seed",
      "--endpoint",
      server.endpoint,
      "--path-style",
      "--bucket",
      "seedcheck",
      "--create-bucket",
      "--store",
      "ds",
      "--chunks",
      chunks,
      "--snapshots",
      snapshots,
      "--groups",
      "20",
      "--garbage",
      String(Math.round(Number(chunks) * 0.3)),
      "--fresh",
      "100",
      "--in-progress",
      "2",
      "--abandoned",
      "2",
      "--bad-referenced",
      "3",
      "--bad-with-copy",
      "3",
      "--bad-unreferenced",
      "3",
    ],
    {
      env: { ...process.env, AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey },
      encoding: "utf8",
      maxBuffer: 64 << 20,
    },
  );
  if (run.status !== 0) throw new Error(`chunkgc seed failed: ${run.stderr.slice(-2000)}`);
  const output = JSON.parse(run.stdout) as {
    params: unknown;
    referenceTime: number;
    report: { objects: number; putsPerSecond: number; waves: Record<1 | 2, { startMs: number; endMs: number }> };
  };
  const plan = planDatastore(SeedParamsSchema.parse(output.params), output.referenceTime);
  const planned = new Set<string>();
  for (const object of plannedObjects(plan)) planned.add(object.key);
  const s3 = createS3Context(
    { endpoint: server.endpoint, region: server.region, bucket: "seedcheck", forcePathStyle: true },
    { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  );
  let listed = 0;
  let unplanned = 0;
  const chunkKeys = new Set<string>();
  for await (const object of listObjects(s3, { prefix: "" })) {
    listed += 1;
    if (!planned.has(object.key)) unplanned += 1;
    if (parseDeletableChunkKey("ds", object.key)) chunkKeys.add(object.key);
  }
  s3.close();
  const outcome = expectedOutcome(plan, {
    nowSeconds: Math.floor(Date.now() / 1000) + 3 * 86_400,
    graceSeconds: 86_700,
    maxBackupDurationSeconds: 48 * 3600,
    waves: output.report.waves,
  });
  const judged = new Set([...outcome.keptKeys, ...outcome.removedKeys]);
  const agrees = judged.size === chunkKeys.size && [...chunkKeys].every((key) => judged.has(key));
  console.log(
    `${server.name}: seeded ${output.report.objects} objects (${chunks} chunks, ${snapshots} snapshots) at ` +
      `${output.report.putsPerSecond} PUT/s in ${((Date.now() - started) / 1000).toFixed(0)} s; listed ${listed}, ` +
      `planned ${planned.size}, unplanned ${unplanned}; oracle ${agrees ? "agrees with" : "DISAGREES with"} the ` +
      `${chunkKeys.size} chunk objects listed (expected: ${JSON.stringify(outcome.counters)})`,
  );
  if (!agrees || unplanned > 0 || listed !== planned.size) process.exitCode = 1;
} finally {
  await server.stop();
}
