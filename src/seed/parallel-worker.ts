import { parentPort, workerData } from "node:worker_threads";
import { chunkKey, digestHex } from "../datastore/index.ts";
import { createS3Context, putObject } from "../s3/index.ts";
import { type ObjectRole, plannedObjects } from "./objects.ts";
import type { ParallelSeedJob, WorkerTally } from "./parallel.ts";
import { chunkDigestOf, planDatastore } from "./plan.ts";
import { VersitygwLayoutWriter } from "./versitygw-layout.ts";

/*
 * One seeding worker: plans the datastore again (deterministic from its parameters, a second or two for a million
 * chunks) and writes every `workers`-th object of one wave, through its own S3 client or straight into versitygw's
 * directory layout.
 */
const job = workerData as ParallelSeedJob;
const plan = planDatastore(job.params, job.referenceTime);
let only: Set<string> | undefined;
if (job.only === "garbage") {
  only = new Set();
  for (let id = plan.ranges.garbage[0]; id < plan.ranges.garbage[1]; id += 1) {
    only.add(chunkKey(plan.params.store, digestHex(chunkDigestOf(plan, id))));
  }
}

const tally: WorkerTally = { objects: 0, bytes: 0, byRole: {} };
const count = (role: ObjectRole, bytes: number) => {
  tally.objects += 1;
  tally.bytes += bytes;
  tally.byRole[role] = (tally.byRole[role] ?? 0) + 1;
};

function* mine() {
  let ordinal = 0;
  for (const object of plannedObjects(plan)) {
    if (object.wave !== job.wave || (only && !only.has(object.key))) continue;
    if (ordinal++ % job.workers === job.index) yield object;
  }
}

const target = job.target;
if (target.kind === "versitygw-layout") {
  const writer = new VersitygwLayoutWriter(target.dataDir, target.bucket);
  const mtimeMs = job.wave === 1 ? target.wave1Ms : target.wave2Ms;
  for (const object of mine()) {
    const body = object.body();
    await writer.write({ key: object.key, body, mtimeMs });
    count(object.role, body.byteLength);
  }
} else {
  const s3 = createS3Context(
    { ...target.connection, maxSockets: target.concurrency },
    { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
  );
  const objects = mine();
  const worker = async () => {
    for (let next = objects.next(); !next.done; next = objects.next()) {
      const body = next.value.body();
      await putObject(s3, next.value.key, body);
      count(next.value.role, body.byteLength);
    }
  };
  try {
    await Promise.all(Array.from({ length: target.concurrency }, worker));
  } finally {
    s3.close();
  }
}
parentPort?.postMessage(tally);
