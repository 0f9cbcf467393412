import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { leaseOver, leaseSafetyMarginMs } from "../../../src/engine/lock.ts";

describe("lease over, by the holder's clock", () => {
  test("a margin of a tenth of the lease (at most 30 s) before the recorded expiry", () => {
    assert.equal(leaseSafetyMarginMs(10_000), 1_000);
    assert.equal(leaseSafetyMarginMs(300_000), 30_000);
    assert.equal(leaseSafetyMarginMs(3_600_000), 30_000);
  });
  test("not over before the margin; over from it on, and after the expiry", () => {
    assert.equal(leaseOver(100_000, 10_000, 98_999), false);
    assert.equal(leaseOver(100_000, 10_000, 99_000), true);
    assert.equal(leaseOver(100_000, 10_000, 100_000), true);
    assert.equal(leaseOver(100_000, 10_000, 5_000_000), true);
  });
});
