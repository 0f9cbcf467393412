/**
 * Lock expiry at its edges: who may take the lock when, which keys are lock generations, and when a holder must
 * consider its own lease over.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  generationOfKey,
  LockBusyError,
  LockLostError,
  type LockRecord,
  LockRecordSchema,
  leaseOver,
  leaseSafetyMarginMs,
  lockKey,
  lockPrefix,
  lockVerdict,
} from "../../../src/engine/lock.ts";

const holder = (overrides: Partial<LockRecord> = {}): LockRecord => ({
  generation: 7,
  owner: "gc-a",
  host: "node-1",
  pid: 42,
  acquiredAt: "2026-01-01T00:00:00.000Z",
  renewedAt: "2026-01-01T00:00:00.000Z",
  expiresAtMs: 50_000,
  released: false,
  token: "t",
  ...overrides,
});

describe("lock verdict at the expiry", () => {
  test("busy up to the millisecond before the expiry, free at it", () => {
    assert.deepEqual(lockVerdict(holder(), 7, 49_999), { action: "busy", holder: holder() });
    assert.deepEqual(lockVerdict(holder(), 7, 50_000), { action: "take", generation: 8 });
  });
  test("the next generation follows the newest key, not the record's own field", () => {
    assert.deepEqual(lockVerdict(holder({ generation: 3 }), 9, 60_000), { action: "take", generation: 10 });
  });
  test("a released record is free even while its lease would last", () => {
    assert.deepEqual(lockVerdict(holder({ released: true }), 7, 0), { action: "take", generation: 8 });
  });
});

describe("lock records", () => {
  test("an old record without the newer fields is read as not released, without token", () => {
    const { released: _released, token: _token, ...old } = holder();
    const parsed = LockRecordSchema.parse(old);
    assert.equal(parsed.released, false);
    assert.equal(parsed.token, "");
  });
  test("a record missing its expiry is not a lock record", () => {
    const { expiresAtMs: _expires, ...partial } = holder();
    assert.equal(LockRecordSchema.safeParse(partial).success, false);
  });
});

describe("lock generation keys", () => {
  test("only exactly twelve digits right under the lock prefix are generations", () => {
    const prefix = lockPrefix("ds");
    assert.equal(prefix, "ds/.chunkgc/lock/");
    assert.equal(generationOfKey("ds", `${prefix}000000000005`), 5);
    assert.equal(generationOfKey("ds", `${prefix}x000000000005`), undefined);
    assert.equal(generationOfKey("ds", `${prefix}000000000005x`), undefined);
    assert.equal(generationOfKey("ds", `${prefix}00000000005`), undefined);
    assert.equal(generationOfKey("ds", `${prefix}0000000000005`), undefined);
    assert.equal(lockKey("ds", 5), `${prefix}000000000005`);
  });
});

describe("a holder's own lease", () => {
  test("the safety margin is a tenth of the lease, rounded down, capped at 30 s", () => {
    assert.equal(leaseSafetyMarginMs(12_345), 1_234);
    assert.equal(leaseSafetyMarginMs(299_999), 29_999);
    assert.equal(leaseSafetyMarginMs(300_010), 30_000);
  });
  test("over from expiry minus the margin on", () => {
    assert.equal(leaseOver(60_000, 20_000, 57_999), false);
    assert.equal(leaseOver(60_000, 20_000, 58_000), true);
  });
});

describe("lock errors", () => {
  test("busy and lost both exit with 4; busy names the holder and its lease", () => {
    const busy = new LockBusyError("ds", holder({ expiresAtMs: Date.parse("2026-01-01T00:10:00.000Z") }));
    assert.equal(busy.exitCode, 4);
    assert.equal(busy.name, "LockBusyError");
    assert.match(busy.message, /ds is locked by gc-a on node-1 \(generation 7, lease until 2026-01-01T00:10:00.000Z\)/);
    const lost = new LockLostError("gone");
    assert.equal(lost.exitCode, 4);
    assert.equal(lost.name, "LockLostError");
  });
});
