/**
 * MarkTable micro-benchmark: ns per operation and bytes per entry at 10M random digests (default; pass a count to
 * change it), plus the marker cache written and loaded at that size. Each timing is the first run of that code path
 * (JIT warm-up included), as in a GC run. Run: `node --expose-gc bench/mark-table.ts [entries]`.
 */
import { randomFillSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MarkTable } from "../src/engine/mark-table.ts";
import { loadMarkerCache, writeMarkerCache } from "../src/engine/marker-cache.ts";

const entries = Number(process.argv[2] ?? 10_000_000);
const STRIDE = 32;
const gc = (globalThis as { gc?: () => void }).gc;

function randomDigests(count: number): Buffer {
  const bytes = Buffer.allocUnsafe(count * STRIDE);
  for (let at = 0; at < bytes.length; at += 1 << 26) randomFillSync(bytes, at, Math.min(1 << 26, bytes.length - at));
  return bytes;
}

function report(label: string, ops: number, ns: number, check: unknown): void {
  console.log(
    `${label.padEnd(44)} ${(ns / ops).toFixed(1).padStart(7)} ns/op  ${(ns / 1e6).toFixed(0).padStart(6)} ms  (${check})`,
  );
}

function time(label: string, ops: number, run: () => number): void {
  const start = process.hrtime.bigint();
  const check = run();
  report(label, ops, Number(process.hrtime.bigint() - start), check);
}

async function timeAsync(label: string, ops: number, run: () => Promise<unknown>): Promise<void> {
  const start = process.hrtime.bigint();
  const check = await run();
  report(label, ops, Number(process.hrtime.bigint() - start), check);
}

function rssMiB(): string {
  gc?.();
  return (process.memoryUsage().rss / 2 ** 20).toFixed(0);
}

console.log(`MarkTable benchmark: ${entries} entries, Node ${process.version}, ${process.arch}`);
const digests = randomDigests(entries);
const absent = randomDigests(Math.min(entries, 1_000_000));
const hexCount = Math.min(entries, 1_000_000);
const hexes = Array.from({ length: hexCount }, (_, i) => digests.toString("hex", i * STRIDE, i * STRIDE + STRIDE));
/**
 * The sweep sees EVERY digest in key order (S3 lists lexicographically), so it walks the table front to back. Same
 * density here without 10M strings: all digests whose first byte is < 26 (~1/10 of them), sorted.
 */
const sortedHexes: string[] = [];
for (let i = 0; i < entries; i++) {
  if (digests[i * STRIDE]! < 26) sortedHexes.push(digests.toString("hex", i * STRIDE, i * STRIDE + STRIDE));
}
sortedHexes.sort();
// Re-create the strings in sorted order, as a listing parser allocates them (else each lookup chases a random pointer).
for (let i = 0; i < sortedHexes.length; i++) sortedHexes[i] = Buffer.from(sortedHexes[i]!, "latin1").toString("latin1");
const t0 = 1_700_000_000;
const rssBefore = Number(rssMiB());
console.log(`inputs ready, rss ${rssBefore} MiB`);

for (const presized of [true, false]) {
  let table: MarkTable | undefined = presized ? new MarkTable(entries) : new MarkTable();
  const rssEmpty = Number(rssMiB());
  const tag = presized ? "pre-sized" : "grown from 1024";
  time(`mark new (${tag})`, entries, () => {
    let added = 0;
    for (let i = 0; i < entries; i++) if (table!.mark(digests, i * STRIDE, t0)) added += 1;
    return added;
  });
  const load = table.size / table.capacity;
  const bytes = table.approximateBytes();
  console.log(
    `  capacity ${table.capacity}, load ${load.toFixed(3)}, ${(bytes / 2 ** 20).toFixed(1)} MiB, ` +
      `${(bytes / table.capacity).toFixed(2)} bytes/slot, ${(bytes / table.size).toFixed(2)} bytes/entry, ` +
      `rss +${Number(rssMiB()) - rssEmpty} MiB after fill (+${rssEmpty - rssBefore} MiB at construction)`,
  );
  if (presized) {
    time("mark existing (re-mark, later time)", entries, () => {
      let added = 0;
      for (let i = 0; i < entries; i++) if (table!.mark(digests, i * STRIDE, t0 + 1)) added += 1;
      return added;
    });
    time("markAll existing (index-sized lists of 4096)", entries, () => {
      let added = 0;
      for (let i = 0; i < entries; i += 4096) {
        added += table!.markAll(digests.subarray(i * STRIDE, Math.min(entries, i + 4096) * STRIDE), t0 + 1);
      }
      return added;
    });
    time("timeOf hit", entries, () => {
      let sum = 0;
      for (let i = 0; i < entries; i++) sum += table!.timeOf(digests, i * STRIDE) - t0;
      return sum;
    });
    time("timeOf miss", absent.length / STRIDE, () => {
      let found = 0;
      for (let i = 0; i < absent.length / STRIDE; i++) if (table!.timeOf(absent, i * STRIDE) !== 0) found += 1;
      return found;
    });
    time(`timeOfHex hit (${hexCount} strings)`, hexCount, () => {
      let sum = 0;
      for (let i = 0; i < hexCount; i++) sum += table!.timeOfHex(hexes[i]!) - t0;
      return sum;
    });
    time(`seenTimeOfHex, key order (${sortedHexes.length} strings)`, sortedHexes.length, () => {
      let sum = 0;
      for (const hex of sortedHexes) sum += table!.seenTimeOfHex(hex) - t0;
      return sum;
    });
    time(`markHex existing (${hexCount} strings)`, hexCount, () => {
      let added = 0;
      for (let i = 0; i < hexCount; i++) if (table!.markHex(hexes[i]!, t0 + 2)) added += 1;
      return added;
    });
    time(`setSeenHex (${hexCount} strings)`, hexCount, () => {
      let present = 0;
      for (let i = 0; i < hexCount; i++) if (table!.setSeenHex(hexes[i]!)) present += 1;
      return present;
    });
    time("setSeen (bytes)", entries, () => {
      let present = 0;
      for (let i = 0; i < entries; i += 2) if (table!.setSeen(digests, i * STRIDE)) present += 1;
      return present;
    });
    time("countUnseenSince (per entry)", entries, () => table!.countUnseenSince(t0));
    time("forEach (per entry)", entries, () => {
      let seen = 0;
      table!.forEach((_key, _time, s) => {
        if (s) seen += 1;
      });
      return seen;
    });
    const out = new Uint8Array(1 << 20);
    time("writeRecords (per entry)", entries, () => {
      let records = 0;
      for (let from = 0; from !== -1; ) {
        const piece = table!.writeRecords(t0, out, from);
        records += piece.records;
        from = piece.next;
      }
      return records;
    });
  }
  if (presized) {
    const dir = await mkdtemp(path.join(tmpdir(), "chunkgc-bench-"));
    const identity = { endpoint: "http://bench", bucket: "b", store: "s" };
    await timeAsync("writeMarkerCache (per entry)", entries, async () => {
      const written = await writeMarkerCache(dir, identity, table!, { minTime: 0, now: new Date() });
      return `${written.entries} entries, ${(written.bytes / 2 ** 20).toFixed(1)} MiB`;
    });
    const loaded = new MarkTable(1 << 16);
    await timeAsync("loadMarkerCache into an empty table (per entry)", entries, async () => {
      const status = await loadMarkerCache(dir, identity, loaded);
      return `${status.state}, ${loaded.size} entries, capacity ${loaded.capacity}`;
    });
    await rm(dir, { recursive: true, force: true });
  }
  table = undefined;
  rssMiB();
}
