/**
 * A synthetic S3 endpoint holding a datastore of N chunks that exist only as a formula: ListObjectsV2 pages of
 * `<store>/.chunks/` and the index files are generated per request, so a 10M-chunk datastore costs this process no
 * memory and no seeding. Everything else the engine touches (bucket HEAD, the lock and probe objects: PUT with
 * If-None-Match, GET, HEAD, DELETE; DeleteObjects) is a small in-memory store. Signatures are not checked: this
 * serves loopback benchmarks only.
 *
 *   node bench/synthetic-s3.ts <chunks> [indexes=1000] [dedup=2]    prints {"endpoint": ...} once listening
 *
 * Chunk i's digest starts with floor(i·2³²/N) (big-endian), the rest is a hash of i: keys sort by i, so a listing
 * from any key is a binary search, and the first 12 bytes are distinct, as real digests are.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { formatSnapshotTime, snapshotFileKey, writeFixedIndex } from "../src/datastore/index.ts";

const STORE = "s";
const CHUNKS_PREFIX = `${STORE}/.chunks/`;
const CHUNK_SIZE = 4 << 20;
const CHUNK_OBJECT_BYTES = 1_500_000;
/** Every object is two weeks old (referenced chunks are marked; nothing is fresh). */
const LAST_MODIFIED = new Date(Date.now() - 14 * 86_400_000).toISOString();

const chunks = Number(process.argv[2] ?? 10_000_000);
const indexCount = Number(process.argv[3] ?? 1000);
const dedup = Number(process.argv[4] ?? 2);

function digestOf(i: number, out: Buffer, offset: number): void {
  out.writeUInt32BE(Math.floor((i * 2 ** 32) / chunks), offset);
  for (let word = 1; word < 8; word += 1) {
    let z = (i * 8 + word + 0x9e3779b9) | 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    out.writeUInt32BE((z ^ (z >>> 16)) >>> 0, offset + word * 4);
  }
}

const scratch = Buffer.alloc(32);
function chunkKeyOf(i: number): string {
  digestOf(i, scratch, 0);
  const hex = scratch.toString("hex");
  return `${CHUNKS_PREFIX}${hex.slice(0, 4)}/${hex}`;
}

/** Index j references `width` consecutive chunks starting at j·N/K (wrapping): every chunk `dedup` times. */
const width = Math.ceil((chunks * dedup) / indexCount);
const baseEpoch = Math.floor(Date.now() / 1000) - 30 * 86_400;
const content = new Map<string, () => Buffer>();
for (let j = 0; j < indexCount; j += 1) {
  const ref = {
    namespace: [],
    backupType: "vm" as const,
    backupId: String(100 + (j % 50)),
    snapshotTime: formatSnapshotTime(baseEpoch + j * 60),
  };
  content.set(snapshotFileKey(STORE, ref, "drive-scsi0.img.fidx"), () => {
    const digests = Buffer.allocUnsafe(width * 32);
    const start = Math.floor((j * chunks) / indexCount);
    for (let k = 0; k < width; k += 1) digestOf((start + k) % chunks, digests, k * 32);
    return Buffer.from(writeFixedIndex({ ctime: baseEpoch, size: width * CHUNK_SIZE, chunkSize: CHUNK_SIZE, digests }));
  });
  content.set(snapshotFileKey(STORE, ref, "index.json.blob"), () => Buffer.from("{}"));
}
const contentKeys = [...content.keys()].sort();
/**
 * Listed size of each content object: the size its GET answers (and the ETag is derived from it), as a real server
 * lists them. A listing that disagreed with the GET would make every index a miss of the engine's index cache, so a
 * second run would download every index again instead of reading the cache the first run left.
 */
const contentSizes = new Map([...content].map(([key, make]) => [key, make().length]));
/** Objects clients wrote (lock, probes). */
const stored = new Map<string, Buffer>();

const escapeXml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);

function entry(key: string, size: number): string {
  return `<Contents><Key>${escapeXml(key)}</Key><LastModified>${LAST_MODIFIED}</LastModified><ETag>&quot;${size.toString(16)}&quot;</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
}

function listPage(url: URL): string {
  const prefix = url.searchParams.get("prefix") ?? "";
  const maxKeys = Math.min(1000, Number(url.searchParams.get("max-keys") ?? 1000));
  const token = url.searchParams.get("continuation-token");
  const after = token ?? url.searchParams.get("start-after") ?? "";
  const parts: string[] = [];
  let last = "";
  let truncated = false;
  if (prefix.startsWith(CHUNKS_PREFIX) || CHUNKS_PREFIX.startsWith(prefix)) {
    // First chunk whose key sorts after `after` and not below the prefix (keys grow with i).
    let lo = 0;
    let hi = chunks;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const key = chunkKeyOf(mid);
      if (key <= after || key < prefix) lo = mid + 1;
      else hi = mid;
    }
    let i = lo;
    for (; i < chunks && parts.length < maxKeys; i += 1) {
      const key = chunkKeyOf(i);
      if (!key.startsWith(prefix)) break;
      parts.push(entry(key, CHUNK_OBJECT_BYTES));
      last = key;
    }
    truncated = parts.length === maxKeys && i < chunks && chunkKeyOf(i).startsWith(prefix);
  }
  if (!prefix.startsWith(CHUNKS_PREFIX)) {
    const others = [...contentKeys, ...stored.keys()]
      .filter((key) => key.startsWith(prefix) && key > after && !key.startsWith(CHUNKS_PREFIX))
      .sort();
    const room = maxKeys - parts.length;
    for (const key of others.slice(0, room)) {
      parts.push(entry(key, stored.get(key)?.length ?? contentSizes.get(key) ?? 0));
      last = key;
    }
    truncated ||= others.length > room;
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>b</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${parts.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
    `<IsTruncated>${truncated}</IsTruncated>${truncated ? `<NextContinuationToken>${escapeXml(last)}</NextContinuationToken>` : ""}` +
    `${parts.join("")}</ListBucketResult>`
  );
}

function notFound(response: ServerResponse, key: string): void {
  response.writeHead(404, { "content-type": "application/xml" });
  response.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Key>${escapeXml(key)}</Key></Error>`,
  );
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of request) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

const server = createServer(async (request, response) => {
  const url = new URL(request.url ?? "/", "http://synthetic");
  const [, , ...rest] = url.pathname.split("/");
  const key = decodeURIComponent(rest.join("/"));
  const method = request.method ?? "GET";
  try {
    if (key === "") {
      if (method === "HEAD") return void response.writeHead(200).end();
      if (method === "POST" && url.searchParams.has("delete")) {
        const text = (await body(request)).toString();
        const keys = [...text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
        for (const k of keys) stored.delete(k);
        response.writeHead(200, { "content-type": "application/xml" });
        return void response.end(
          `<?xml version="1.0" encoding="UTF-8"?><DeleteResult>${keys.map((k) => `<Deleted><Key>${k}</Key></Deleted>`).join("")}</DeleteResult>`,
        );
      }
      response.writeHead(200, { "content-type": "application/xml" });
      return void response.end(listPage(url));
    }
    if (method === "PUT") {
      const data = await body(request);
      if (request.headers["if-none-match"] === "*" && (stored.has(key) || content.has(key))) {
        response.writeHead(412, { "content-type": "application/xml" });
        return void response.end(`<Error><Code>PreconditionFailed</Code></Error>`);
      }
      stored.set(key, data);
      return void response.writeHead(200, { etag: `"${data.length.toString(16)}"` }).end();
    }
    if (method === "DELETE") {
      stored.delete(key);
      return void response.writeHead(204).end();
    }
    const make = content.get(key);
    const data = stored.get(key) ?? make?.();
    if (!data) return notFound(response, key);
    response.writeHead(200, {
      "content-length": data.length,
      etag: `"${data.length.toString(16)}"`,
      "last-modified": new Date(LAST_MODIFIED).toUTCString(),
    });
    response.end(method === "HEAD" ? undefined : data);
  } catch (error) {
    response.writeHead(500).end(String(error));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(
    `${JSON.stringify({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`,
  );
});
