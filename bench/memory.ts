/**
 * Memory of the engine at scale without a server: N synthetic chunks are marked (as phase 1 does from indexes),
 * then listed in 1000-key pages and classified (as phase 2 does), then the marker cache is written. Prints peak
 * RSS and the table's bytes per million chunks.   node bench/memory.ts [chunks]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDeletableChunkKey } from "../src/datastore/index.ts";
import { computeCutoff, countKept } from "../src/engine/classify.ts";
import { emptyCounters } from "../src/engine/counters.ts";
import { MarkTable } from "../src/engine/mark-table.ts";
import { writeMarkerCache } from "../src/engine/marker-cache.ts";
import { classifyListedChunk } from "../src/engine/sweep.ts";

const chunks = Number(process.argv[2] ?? 10_000_000);
const digest = Buffer.alloc(32);

/** A uniform-looking 32-byte digest for chunk i (splitmix32 over i and the word index): no SHA-256 needed here. */
function fillDigest(i: number): void {
  for (let word = 0; word < 8; word += 1) {
    let z = (i * 8 + word + 0x9e3779b9) | 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    digest.writeUInt32LE((z ^ (z >>> 16)) >>> 0, word * 4);
  }
}

const started = Date.now();
const now = Math.floor(Date.now() / 1000);
const table = new MarkTable(chunks);
for (let i = 0; i < chunks; i += 1) {
  fillDigest(i);
  table.mark(digest, 0, now);
}
const markedMs = Date.now() - started;
const cutoff = computeCutoff(now, 86_700);
const counters = emptyCounters();
const sweeper = { table, cutoff, phase1Start: now };
for (let page = 0; page < chunks; page += 1000) {
  const keys: string[] = [];
  for (let i = page; i < Math.min(chunks, page + 1000); i += 1) {
    fillDigest(i);
    const hex = digest.toString("hex");
    keys.push(`s/.chunks/${hex.slice(0, 4)}/${hex}`);
  }
  for (const key of keys) {
    const parsed = parseDeletableChunkKey("s", key)!;
    table.setSeenHex(parsed.digestHex);
    const { decision } = classifyListedChunk(sweeper, parsed.digestHex, false, false, now - 3600);
    if (decision !== "remove") countKept(counters, decision, false, 1000);
  }
}
const sweptMs = Date.now() - started - markedMs;
const cache = await writeMarkerCache(
  mkdtempSync(join(tmpdir(), "chunkgc-mem-")),
  { endpoint: "e", bucket: "b", store: "s" },
  table,
  {
    minTime: cutoff.minAtime,
    now: new Date(),
  },
);
const rssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
console.log(
  `${chunks} chunks: mark ${markedMs} ms, sweep decisions ${sweptMs} ms, marker cache ${cache.bytes} bytes; ` +
    `in use ${counters.diskChunks}; mark table ${Math.round(table.approximateBytes() / 2 ** 20)} MiB ` +
    `(${Math.round(table.approximateBytes() / (chunks / 1e6) / 2 ** 20)} MiB per million chunks); peak RSS ${rssMiB} MiB`,
);
