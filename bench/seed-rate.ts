/**
 * The generator's own ceiling: `seedDatastore` against a loopback HTTP server that accepts every PUT at once, so the
 * rate printed is the generator's and the SDK's, not an S3 server's.   node bench/seed-rate.ts [chunks]
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createS3Context } from "../src/s3/index.ts";
import { planDatastore, seedDatastore } from "../src/seed/index.ts";

const chunks = Number(process.argv[2] ?? 200_000);
const server = createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    response.writeHead(200, { etag: '"0"' });
    response.end();
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const s3 = createS3Context(
  { endpoint, bucket: "sink", forcePathStyle: true, maxSockets: 128 },
  { accessKeyId: "a", secretAccessKey: "b" },
);
const planned = Date.now();
const plan = planDatastore({ store: "s", chunks, snapshots: Math.min(1000, chunks / 100), groups: 10 });
const planMs = Date.now() - planned;
const report = await seedDatastore(s3, plan, { concurrency: 96 });
console.log(
  `${report.objects} objects (${chunks} chunks, ${plan.snapshots.length} snapshots): plan ${planMs} ms, ` +
    `written in ${(report.durationMs / 1000).toFixed(1)} s = ${report.putsPerSecond} PUT/s; peak RSS ` +
    `${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`,
);
s3.close();
server.close();
