import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideAdmission } from "../../../../src/operator/controller/datastore-leases.ts";
import { at, held } from "../lease-fixtures.ts";

describe("decideAdmission (one run per datastore)", () => {
  it("another resource's running Job blocks, whatever the Lease says", () => {
    assert.deepEqual(decideAdmission({ lease: undefined, self: "a/x", now: at(0), otherActiveRuns: ["b/y", "a/w"] }), {
      admitted: false,
      holder: "a/w",
      reason: "ActiveRun",
    });
  });
  it("our own running Job does not block us", () => {
    assert.deepEqual(decideAdmission({ lease: undefined, self: "a/x", now: at(0), otherActiveRuns: ["a/x"] }), {
      admitted: true,
      decision: { action: "create" },
    });
  });
  it("a fresh Lease of another resource blocks, naming the holder", () => {
    assert.deepEqual(decideAdmission({ lease: held("b/y", -5), self: "a/x", now: at(0), otherActiveRuns: [] }), {
      admitted: false,
      holder: "b/y",
      reason: "Lease",
    });
  });
  it("an expired Lease with no running Job is taken over", () => {
    assert.deepEqual(decideAdmission({ lease: held("b/y", -500), self: "a/x", now: at(0), otherActiveRuns: [] }), {
      admitted: true,
      decision: { action: "acquire", previousHolder: "b/y" },
    });
  });
});
