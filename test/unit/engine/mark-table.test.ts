import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { MARK_RECORD_SIZE, MAX_LOAD_FACTOR, MarkTable, SEGMENTS } from "../../../src/engine/mark-table.ts";

function digest(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(text).digest());
}

function hex(bytes: Uint8Array, offset = 0): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + offset, 32).toString("hex");
}

/** A digest whose first 9 bytes (the key) are the segment byte and two key words (big-endian), the rest random. */
function digestWithWords(segment: number, k1: number, k2: number): Uint8Array {
  const bytes = new Uint8Array(randomBytes(32));
  const view = new DataView(bytes.buffer);
  view.setUint8(0, segment);
  view.setUint32(1, k1);
  view.setUint32(5, k2);
  return bytes;
}

describe("MarkTable", () => {
  it("stores the later time, reports new keys, and returns 0 for absent keys", () => {
    const table = new MarkTable();
    const a = digest("a");
    assert.equal(table.timeOf(a, 0), 0);
    assert.equal(table.has(a, 0), false);
    assert.equal(table.mark(a, 0, 1000), true);
    assert.equal(table.mark(a, 0, 900), false);
    assert.equal(table.timeOf(a, 0), 1000);
    assert.equal(table.mark(a, 0, 2000), false);
    assert.equal(table.timeOf(a, 0), 2000);
    assert.equal(table.size, 1);
    assert.equal(table.timeOf(digest("b"), 0), 0);
  });

  it("handles times up to 2^32 - 1 as unsigned and rejects others", () => {
    const table = new MarkTable();
    const a = digest("a");
    table.mark(a, 0, 2 ** 31 + 5);
    assert.equal(table.timeOf(a, 0), 2 ** 31 + 5);
    table.mark(a, 0, 2 ** 31 - 1);
    assert.equal(table.timeOf(a, 0), 2 ** 31 + 5, "unsigned comparison keeps the later time");
    table.mark(a, 0, 2 ** 32 - 1);
    assert.equal(table.timeOf(a, 0), 2 ** 32 - 1);
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) assert.throws(() => table.mark(a, 0, bad), RangeError);
  });

  it("only the first 9 bytes are the key", () => {
    const table = new MarkTable();
    const a = digest("a");
    const b = new Uint8Array(a);
    b[9] = (b[9]! + 1) & 0xff;
    b[31] = (b[31]! + 1) & 0xff;
    table.mark(a, 0, 10);
    assert.equal(table.mark(b, 0, 20), false);
    assert.equal(table.timeOf(a, 0), 20);
    for (const byte of [0, 1, 4, 5, 8]) {
      const c = new Uint8Array(a);
      c[byte] = (c[byte]! + 1) & 0xff;
      assert.equal(table.timeOf(c, 0), 0, `byte ${byte} is part of the key`);
    }
  });

  it("two chunks that share a key (a collision) share one entry that never gets older than either's mark", () => {
    // Keys are 72 bits: two distinct digests equal in their first 9 bytes are one entry. Whatever order they are
    // marked in, neither may look unmarked or older than its own mark (that could delete a referenced chunk); the
    // other may look newer (that only keeps garbage).
    const referenced = digest("referenced");
    const twin = new Uint8Array(referenced);
    twin[20] = (twin[20]! + 1) & 0xff;
    const zeroWords = new Uint8Array(32);
    zeroWords[0] = 0x5c;
    zeroWords[31] = 1;
    const zeroTwin = new Uint8Array(zeroWords);
    zeroTwin[31] = 2;
    for (const [a, b] of [
      [referenced, twin],
      [zeroWords, zeroTwin],
    ] as const) {
      for (const [first, second] of [
        [1000, 500],
        [500, 1000],
        [1000, 1000],
      ] as const) {
        for (const api of ["bytes", "hex", "all"] as const) {
          const table = new MarkTable(0);
          if (api === "bytes") {
            table.mark(a, 0, first);
            table.mark(b, 0, second);
          } else if (api === "hex") {
            table.markHex(hex(a), first);
            table.markHex(hex(b), second);
          } else {
            table.markAll(a, first);
            table.markAll(b, second);
          }
          const later = Math.max(first, second);
          assert.equal(table.size, 1, "one entry for both");
          assert.equal(table.timeOf(a, 0), later, `${api} ${first}/${second}: the first chunk keeps the later time`);
          assert.equal(table.timeOf(b, 0), later, `${api} ${first}/${second}: the second chunk keeps the later time`);
          assert.equal(table.seenTimeOfHex(hex(a)), later);
          assert.equal(table.countUnseenSince(0), 0, "seen through either twin");
        }
      }
    }
  });

  it("reads digests at offsets and rejects out-of-range offsets", () => {
    const table = new MarkTable();
    const buffer = new Uint8Array(5 + 64);
    buffer.set(digest("x"), 5);
    buffer.set(digest("y"), 37);
    table.mark(buffer, 5, 1);
    table.mark(buffer, 37, 2);
    assert.equal(table.timeOf(digest("x"), 0), 1);
    assert.equal(table.timeOf(digest("y"), 0), 2);
    assert.throws(() => table.mark(buffer, 61, 1), RangeError, "9 key bytes from offset 61 end past the buffer");
    assert.equal(table.mark(buffer, 60, 1), true, "9 key bytes from offset 60 fit");
    assert.throws(() => table.timeOf(buffer, -1), RangeError);
  });

  it("keeps each segment's zero-words key outside the slots, apart from the other segments'", () => {
    const table = new MarkTable();
    const zero = new Uint8Array(32);
    // The same zero key words in another segment are another key.
    const zeroOfSegment7 = digestWithWords(7, 0, 0);
    assert.equal(table.mark(zeroOfSegment7, 0, 77), true);
    assert.equal(table.timeOf(zero, 0), 0);
    assert.equal(table.has(zero, 0), false);
    assert.equal(table.timeOfHex(`07${"0".repeat(62)}`), 77);
    table.clear();
    assert.equal(table.timeOf(zero, 0), 0);
    assert.equal(table.has(zero, 0), false);
    assert.equal(table.setSeen(zero, 0), false);
    assert.equal(table.mark(zero, 0, 5), true);
    assert.equal(table.mark(zero, 0, 3), false);
    assert.equal(table.timeOf(zero, 0), 5);
    assert.equal(table.size, 1);
    // Keys with zero words that are not all zero are ordinary keys.
    for (const [segment, k1, k2] of [
      [0, 0, 1],
      [0, 1, 0],
      [0, 0x80000000, 0],
      [0, 0, 0xffffffff],
    ] as const) {
      const d = digestWithWords(segment, k1, k2);
      assert.equal(table.mark(d, 0, 7), true);
      assert.equal(table.timeOf(d, 0), 7);
    }
    assert.equal(table.size, 5);
    assert.equal(table.timeOf(zero, 0), 5);
    assert.equal(table.timeOfHex("0".repeat(64)), 5);
    assert.equal(table.countUnseenSince(0), 5);
    assert.equal(table.setSeenHex("0".repeat(64)), true);
    assert.equal(table.countUnseenSince(0), 4);
    const seen: Array<[string, number, boolean]> = [];
    table.forEach((key, time, s) => {
      seen.push([Buffer.from(key).toString("hex"), time, s]);
    });
    assert.deepEqual(
      seen.find(([k]) => k === "0".repeat(18)),
      ["0".repeat(18), 5, true],
    );
    assert.equal(seen.length, 5);
  });

  it("finds keys whose first word is zero past an empty slot at their home position", () => {
    // k1 = 0 → home slot 0; a colliding key with the same k1 must probe, and must not skip over empty slots.
    const table = new MarkTable(4);
    const a = digestWithWords(0, 0, 1);
    const b = digestWithWords(0, 0, 2);
    table.mark(a, 0, 1);
    table.mark(b, 0, 2);
    assert.equal(table.timeOf(a, 0), 1);
    assert.equal(table.timeOf(b, 0), 2);
    assert.equal(table.timeOf(digestWithWords(0, 0, 3), 0), 0);
  });

  it("wraps around at the end of the slots (first word 0xffffffff)", () => {
    const table = new MarkTable(4);
    const keys = [1, 2, 3, 4, 5].map((k2) => digestWithWords(0xff, 0xffffffff, k2));
    for (const [i, key] of keys.entries()) table.mark(key, 0, i + 1);
    for (const [i, key] of keys.entries()) assert.equal(table.timeOf(key, 0), i + 1);
  });

  it("grows one segment at a time, by half, above load 0.9, keeping every entry, time and seen flag", () => {
    const table = new MarkTable(0);
    const initial = table.capacity;
    assert.equal(initial, SEGMENTS * 16, "256 segments of 16 slots");
    // Keys whose first byte is 0x2a all live in one segment: 14 fit its 16 slots, the 15th grows it (alone) to 24.
    // The segment's zero-words key lives outside the slots and does not count towards the load.
    const digests: Uint8Array[] = [];
    for (let i = 0; i < 14; i++) digests.push(digestWithWords(0x2a, i * 0x1000000, 7));
    for (const [i, d] of digests.entries()) table.mark(d, 0, 100 + i);
    table.mark(digestWithWords(0x2a, 0, 0), 0, 99);
    assert.equal(table.capacity, initial, "14 entries fit 16 slots at load 0.9");
    table.setSeen(digests[3]!, 0);
    const extra = digestWithWords(0x2a, 0xffffffff, 1);
    table.mark(extra, 0, 1);
    assert.equal(table.capacity, initial + 8, "only the full segment grew, by half");
    for (const [i, d] of digests.entries()) assert.equal(table.timeOf(d, 0), 100 + i);
    assert.equal(table.timeOf(extra, 0), 1);
    assert.equal(table.timeOf(digestWithWords(0x2a, 0, 0), 0), 99, "the zero-words key moved with the segment");
    assert.equal(table.countUnseenSince(0), 15, "the seen flag moved with its entry");
    let seenCount = 0;
    table.forEach((key, _time, seen) => {
      if (seen) {
        seenCount += 1;
        assert.deepEqual(Buffer.from(key), Buffer.from(digests[3]!.subarray(0, 9)));
      }
    });
    assert.equal(seenCount, 1);

    const grown = new MarkTable();
    for (let i = 0; i < 10_000; i++) grown.mark(digest(`g${i}`), 0, i);
    assert.equal(grown.size, 10_000);
    assert.ok(grown.size / grown.capacity <= MAX_LOAD_FACTOR);
    assert.ok(grown.size / grown.capacity > MAX_LOAD_FACTOR / 2);
    for (let i = 0; i < 10_000; i += 97) assert.equal(grown.timeOf(digest(`g${i}`), 0), i);
  });

  it("grows without a spike: no single insert adds more than a few segments' worth of memory", () => {
    // A one-array table doubles: one insert then allocates as much again as the whole table (plus the old copy
    // until it is freed). Segment by segment, one insert allocates at most one grown segment.
    const table = new MarkTable(0);
    const bytes = randomBytes(200_000 * 32);
    let largestStep = 0;
    let before = table.approximateBytes();
    for (let i = 0; i < 200_000; i++) {
      table.mark(bytes, i * 32, 1);
      const after = table.approximateBytes();
      largestStep = Math.max(largestStep, after - before);
      before = after;
    }
    assert.equal(table.size, 200_000);
    assert.ok(
      largestStep <= (before / SEGMENTS) * 2,
      `largest single growth ${largestStep} bytes of ${before}: more than one segment grew at once`,
    );
  });

  it("pre-sizes for the expected count, and reserve makes room without growth afterwards", () => {
    const table = new MarkTable(100_000);
    const capacity = table.capacity;
    assert.ok(capacity * MAX_LOAD_FACTOR >= 100_000);
    const bytes = randomBytes(100_000 * 32);
    for (let i = 0; i < 100_000; i++) table.mark(bytes, i * 32, 1);
    assert.equal(table.capacity, capacity);
    table.reserve(300_000);
    const reserved = table.capacity;
    assert.ok(reserved * MAX_LOAD_FACTOR >= 300_000);
    for (let i = 0; i < 100_000; i += 1000) assert.equal(table.timeOf(bytes, i * 32), 1);
    const more = randomBytes(200_000 * 32);
    for (let i = 0; i < 200_000; i++) table.mark(more, i * 32, 2);
    assert.equal(table.capacity, reserved);
    assert.equal(table.size, 300_000);
  });

  it("the hex API equals the byte API", () => {
    const table = new MarkTable();
    const digests = Array.from({ length: 2000 }, (_, i) => digest(`h${i}`));
    for (const [i, d] of digests.entries()) {
      if (i % 2 === 0) assert.equal(table.mark(d, 0, i + 1), true);
      else assert.equal(table.markHex(hex(d), i + 1), true);
    }
    for (const [i, d] of digests.entries()) {
      assert.equal(table.timeOfHex(hex(d)), i + 1);
      assert.equal(table.timeOf(d, 0), i + 1);
      assert.equal(table.hasHex(hex(d)), true);
      assert.equal(table.markHex(hex(d), 0), false);
    }
    for (const [i, d] of digests.entries()) {
      if (i % 3 === 0) assert.equal(table.setSeenHex(hex(d)), true);
      if (i % 3 === 1) assert.equal(table.setSeen(d, 0), true);
    }
    const unseen = digests.filter((_, i) => i % 3 === 2).length;
    assert.equal(table.countUnseenSince(0), unseen);
    assert.equal(table.setSeenHex(hex(digest("absent"))), false);
    assert.equal(table.size, 2000, "setSeen does not insert");
  });

  it("seenTimeOfHex flags and returns the time in one call", () => {
    const table = new MarkTable();
    const a = digest("a");
    table.mark(a, 0, 42);
    table.mark(new Uint8Array(32), 0, 7);
    assert.equal(table.seenTimeOfHex(hex(digest("absent"))), 0);
    assert.equal(table.size, 2);
    assert.equal(table.countUnseenSince(0), 2);
    assert.equal(table.seenTimeOfHex(hex(a)), 42);
    assert.equal(table.countUnseenSince(0), 1);
    assert.equal(table.seenTimeOfHex("0".repeat(64)), 7);
    assert.equal(table.countUnseenSince(0), 0);
  });

  it("markAll equals mark for each digest, growing as needed", () => {
    const count = 50_000;
    const bytes = new Uint8Array(randomBytes(count * 32));
    // Duplicates inside one list, and the zero key.
    bytes.copyWithin(32 * 10, 0, 32);
    bytes.fill(0, 32 * 20, 32 * 21);
    const one = new MarkTable();
    const all = new MarkTable();
    let added = 0;
    for (let i = 0; i < count; i++) if (one.mark(bytes, i * 32, 5)) added += 1;
    assert.equal(all.markAll(bytes.subarray(0, 32 * 1000), 5) + all.markAll(bytes.subarray(32 * 1000), 5), added);
    assert.equal(all.size, one.size);
    assert.equal(all.size, count - 1);
    assert.equal(all.markAll(bytes, 9), 0);
    for (let i = 0; i < count; i++) {
      if (all.timeOf(bytes, i * 32) !== 9 || one.timeOf(bytes, i * 32) !== 5) assert.fail(`digest ${i}`);
    }
    assert.throws(() => all.markAll(new Uint8Array(33), 1), RangeError);
    assert.throws(() => all.markAll(bytes, -1), RangeError);
    assert.equal(all.markAll(new Uint8Array(0), 1), 0);
  });

  it("rejects hex that is not a 64-character lowercase digest", () => {
    const table = new MarkTable();
    const good = hex(digest("a"));
    for (const bad of [
      good.slice(1),
      `${good}0`,
      good.toUpperCase(),
      `g${good.slice(1)}`,
      `${good.slice(0, 17)}-${good.slice(18)}`,
      `-${good.slice(1)}`,
    ]) {
      assert.throws(() => table.markHex(bad, 1), RangeError, bad);
      assert.throws(() => table.timeOfHex(bad), RangeError, bad);
    }
    // Characters after the 18th are not part of the key, so they are not parsed.
    assert.equal(table.markHex(`${good.slice(0, 18)}${"z".repeat(46)}`, 1), true);
    assert.equal(table.timeOf(digest("a"), 0), 1);
  });

  it("counts unseen entries since a time", () => {
    const table = new MarkTable();
    const digests = Array.from({ length: 10 }, (_, i) => digest(`u${i}`));
    for (const [i, d] of digests.entries()) table.mark(d, 0, i < 5 ? 100 : 200);
    table.setSeen(digests[0]!, 0);
    table.setSeen(digests[6]!, 0);
    assert.equal(table.countUnseenSince(0), 8);
    assert.equal(table.countUnseenSince(200), 4);
    assert.equal(table.countUnseenSince(201), 0);
    assert.equal(table.countSince(200), 5);
    assert.equal(table.countSince(0), 10);
  });

  it("exports records in pieces, including the zero key, filtered by time", () => {
    const table = new MarkTable();
    const digests = Array.from({ length: 1000 }, (_, i) => digest(`e${i}`));
    for (const [i, d] of digests.entries()) table.mark(d, 0, i);
    table.mark(new Uint8Array(32), 0, 999);
    const expected = new Map<string, number>();
    for (const [i, d] of digests.entries())
      if (i >= 500) expected.set(Buffer.from(d.subarray(0, 9)).toString("hex"), i);
    expected.set("0".repeat(18), 999);
    // Another segment's zero-words key, and one too old to export.
    table.mark(digestWithWords(0xff, 0, 0), 0, 600);
    expected.set(`ff${"0".repeat(16)}`, 600);
    table.mark(digestWithWords(0x80, 0, 0), 0, 499);
    const out = new Uint8Array(7 * MARK_RECORD_SIZE + 3);
    const got = new Map<string, number>();
    let from = 0;
    let calls = 0;
    while (from !== -1) {
      const { records, next } = table.writeRecords(500, out, from);
      assert.ok(records <= 7);
      for (let r = 0; r < records; r++) {
        const at = r * MARK_RECORD_SIZE;
        const key = Buffer.from(out.subarray(at, at + 9)).toString("hex");
        assert.equal(got.has(key), false);
        got.set(key, new DataView(out.buffer).getUint32(at + 9, true));
      }
      from = next;
      calls += 1;
      assert.ok(calls < 10_000);
    }
    assert.deepEqual(got, expected);
    assert.equal(table.countSince(500), expected.size);
  });

  it("clear empties the table", () => {
    const table = new MarkTable();
    table.mark(digest("a"), 0, 1);
    table.mark(new Uint8Array(32), 0, 1);
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(table.timeOf(digest("a"), 0), 0);
    assert.equal(table.has(new Uint8Array(32), 0), false);
  });

  it("round-trips 1M random digests and reports its memory per entry", () => {
    const count = 1_000_000;
    const bytes = randomBytes(count * 32);
    const table = new MarkTable();
    const base = 1_700_000_000;
    let added = 0;
    for (let i = 0; i < count; i++) if (table.mark(bytes, i * 32, base + (i % 1000))) added += 1;
    assert.equal(added, count);
    assert.equal(table.size, count);
    for (let i = 0; i < count; i++) {
      if (table.timeOf(bytes, i * 32) !== base + (i % 1000)) assert.fail(`digest ${i} lost its time`);
    }
    const absent = randomBytes(10_000 * 32);
    let found = 0;
    for (let i = 0; i < 10_000; i++) if (table.has(absent, i * 32)) found += 1;
    assert.equal(found, 0);
    for (let i = 0; i < count; i += 2) table.setSeen(bytes, i * 32);
    assert.equal(table.countUnseenSince(0), count / 2);
    let visited = 0;
    table.forEach(() => {
      visited += 1;
    });
    assert.equal(visited, count);
    const perEntry = table.approximateBytes() / table.size;
    const perSlot = table.approximateBytes() / table.capacity;
    console.log(
      `MarkTable 1M: capacity ${table.capacity}, load ${(table.size / table.capacity).toFixed(3)}, ` +
        `${perSlot.toFixed(2)} bytes/slot, ${perEntry.toFixed(2)} bytes/entry`,
    );
    assert.ok(perSlot <= 20, `${perSlot} bytes per slot`);
    assert.ok(perEntry <= 20 / (MAX_LOAD_FACTOR / 2), `${perEntry} bytes per entry`);
    const sized = new MarkTable(count);
    for (let i = 0; i < count; i++) sized.mark(bytes, i * 32, 1);
    // 12.125 / 0.9 bytes per entry, plus the headroom that lets every segment take its share without growing.
    assert.ok(sized.approximateBytes() / sized.size <= 14.5, "pre-sized: about 12.125 / 0.9 bytes per entry");
    assert.equal(sized.capacity, new MarkTable(count).capacity, "a table pre-sized for its entries never grew");
  });
});
