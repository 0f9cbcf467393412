/**
 * Child process of the marker-cache crash test: rewrites the cache of argv[2] over and over, generation g giving
 * every one of argv[3] entries the time g, and prints each finished generation. The test kills it with SIGKILL.
 */
import { randomBytes } from "node:crypto";
import { MarkTable } from "../../../src/engine/mark-table.ts";
import { writeMarkerCache } from "../../../src/engine/marker-cache.ts";

const dir = process.argv[2]!;
const entries = Number(process.argv[3]);
const identity = { endpoint: "http://crash.test", bucket: "b", store: "s" };
const digests = randomBytes(entries * 32);
const table = new MarkTable(entries);
for (let generation = 1; ; generation++) {
  table.markAll(digests, generation);
  await writeMarkerCache(dir, identity, table, { minTime: generation, now: new Date() });
  process.stdout.write(`${generation}\n`);
}
