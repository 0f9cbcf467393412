import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generationOfKey, type LockRecord, lockKey, lockVerdict } from "../../../src/engine/lock.ts";

const record = (overrides: Partial<LockRecord> = {}): LockRecord => ({
  generation: 3,
  owner: "a",
  host: "h",
  pid: 1,
  acquiredAt: "",
  renewedAt: "",
  expiresAtMs: 10_000,
  released: false,
  token: "t",
  ...overrides,
});

describe("lock verdict", () => {
  test("no lock yet: take generation 1", () =>
    assert.deepEqual(lockVerdict(undefined, 0, 0), { action: "take", generation: 1 }));
  test("a live lease is busy", () => assert.equal(lockVerdict(record(), 3, 9_999).action, "busy"));
  test("an expired lease is taken over with the next generation", () =>
    assert.deepEqual(lockVerdict(record(), 3, 10_000), { action: "take", generation: 4 }));
  test("a released lock is free", () =>
    assert.deepEqual(lockVerdict(record({ released: true }), 3, 0), { action: "take", generation: 4 }));
});

describe("lock keys", () => {
  test("zero-padded generations sort in order and parse back", () => {
    assert.equal(lockKey("s", 12), "s/.chunkgc/lock/000000000012");
    assert.ok(lockKey("s", 9) < lockKey("s", 10));
    assert.equal(generationOfKey("s", lockKey("s", 42)), 42);
    assert.equal(generationOfKey("s", "s/.chunkgc/lock/junk"), undefined);
  });
});
