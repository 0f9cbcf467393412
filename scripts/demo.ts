/**
 * `make demo`: the main job on an embedded default, no cloud account and no cluster. Starts a local S3 server
 * (versitygw), writes a generated PBS datastore into it, then runs the real `chunkgc gc` command twice — a dry run
 * and a collection — as a user would, and checks the counters against the generator's own expectation.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createS3Context, ensureBucket } from "../src/s3/index.ts";
import { expectedOutcome, planDatastore, seedDatastore } from "../src/seed/index.ts";
import { start as startVersitygw } from "../test/servers/versitygw.ts";

const work = mkdtempSync(join(tmpdir(), "chunkgc-demo-"));
const cli = fileURLToPath(new URL("../bin/chunkgc.js", import.meta.url));
const server = await startVersitygw(join(work, "s3"));
try {
  const bucket = "pbs-demo";
  const store = "store1";
  const s3 = createS3Context(
    { endpoint: server.endpoint, region: server.region, bucket, forcePathStyle: true },
    { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  );
  await ensureBucket(s3);
  const plan = planDatastore({
    store,
    chunks: 6000,
    garbageChunks: 2500,
    freshChunks: 200,
    snapshots: 30,
    groups: 5,
    namespaces: 2,
    abandonedSnapshots: 1,
    badReferencedWithGoodCopy: 2,
    badUnreferenced: 3,
  });
  console.log(`== seeding a PBS datastore into s3://${bucket}/${store}/ on ${server.endpoint}`);
  const seeded = await seedDatastore(s3, plan, { concurrency: 64, waveGapMs: 6000 });
  s3.close();
  console.log(`   ${seeded.objects} objects at ${seeded.putsPerSecond} PUT/s`);

  // Evaluate as of a day after the upload, so that the pruned snapshots' chunks are past the 24h5m cutoff while
  // the chunks of the backup that was still uploading (the last wave) are within a 1-minute grace.
  const grace = 60;
  const middle = Math.floor((seeded.waves[1]!.endMs + seeded.waves[2]!.startMs) / 2000);
  const now = new Date((middle + grace) * 1000).toISOString();
  const expected = expectedOutcome(plan, {
    nowSeconds: middle + grace,
    graceSeconds: grace,
    maxBackupDurationSeconds: 48 * 3600,
    waves: seeded.waves,
  });
  const env = { ...process.env, AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey, CHUNKGC_LOG_LEVEL: "warn" };
  const common = ["gc", "--endpoint", server.endpoint, "--path-style", "--bucket", bucket, "--store", store, "--cache-dir", join(work, "cache"), "--grace", "1m", "--now", now];
  for (const extra of [["--dry-run"], []]) {
    console.log(`\n== chunkgc ${[...common, ...extra].join(" ")}`);
    const run = spawnSync(process.execPath, [cli, ...common, ...extra, "--termination-message-file", join(work, "result.json")], { env, stdio: ["ignore", "inherit", "inherit"] });
    if (run.status !== 0) throw new Error(`chunkgc gc exited with ${run.status}`);
  }
  const result = JSON.parse((await import("node:fs")).readFileSync(join(work, "result.json"), "utf8")) as { counters: Record<string, number> };
  const agrees = JSON.stringify(result.counters) === JSON.stringify(expected.counters);
  console.log(`\n== counters ${agrees ? "equal" : "DIFFER FROM"} the generator's expectation:`);
  console.log(JSON.stringify(expected.counters));
  if (!agrees) process.exitCode = 1;
} finally {
  await server.stop();
}
