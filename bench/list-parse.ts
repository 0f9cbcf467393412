/**
 * Client CPU per ListObjectsV2 page: the SDK's own parsing vs chunkgc's streaming parser, against a loopback server
 * that answers a canned 1000-key page (so the figures are the client's cost alone).
 *   node bench/list-parse.ts [pages]
 */
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createS3Context } from "../src/s3/client.ts";
import { listPages } from "../src/s3/list.ts";

function cannedPage(): string {
  const items: string[] = [];
  for (let i = 0; i < 1000; i += 1) {
    const hex = createHash("sha256").update(String(i)).digest("hex");
    items.push(
      `<Contents><Key>store1/.chunks/${hex.slice(0, 4)}/${hex}</Key><LastModified>2026-11-25T10:00:00.123Z</LastModified>` +
        `<ETag>&quot;${hex.slice(0, 32)}&quot;</ETag><Size>1234567</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    );
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>b</Name><Prefix>store1/.chunks/</Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys>` +
    `<IsTruncated>true</IsTruncated><NextContinuationToken>next</NextContinuationToken>${items.join("")}</ListBucketResult>`
  );
}

const pages = Number(process.argv[2] ?? 200);
const body = Buffer.from(cannedPage());
let served = 0;
const server = createServer((request, response) => {
  served += 1;
  request.resume();
  const last = served % pages === 0;
  const text = last
    ? body.toString().replace("<IsTruncated>true</IsTruncated>", "<IsTruncated>false</IsTruncated>")
    : body;
  response.writeHead(200, { "content-type": "application/xml" });
  response.end(text);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const s3 = createS3Context(
  { endpoint, bucket: "bench", forcePathStyle: true },
  { accessKeyId: "a", secretAccessKey: "b" },
);

async function measure(label: string, parser: "sdk" | "streaming") {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let keys = 0;
  for await (const page of listPages(s3, { prefix: "store1/.chunks/", parser })) keys += page.objects.length;
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  console.log(
    `${label.padEnd(10)} ${keys} keys in ${pages} pages: ${(cpuMs / pages).toFixed(2)} ms client CPU per page, ` +
      `${Math.round(keys / (wall / 1000))} keys/s on one stream`,
  );
  return cpuMs / pages;
}

await measure("warm-up", "sdk");
const sdk = await measure("sdk", "sdk");
await measure("warm-up", "streaming");
const streaming = await measure("streaming", "streaming");
console.log(`streaming parser uses ${(sdk / streaming).toFixed(2)}× less client CPU per page than the SDK's`);
s3.close();
server.close();
