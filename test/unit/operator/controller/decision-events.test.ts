import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  blockedEvent,
  conditionChanged,
  runFinishedEvent,
  slotsSkippedEvent,
} from "../../../../src/operator/controller/decision-events.ts";
import { reduceStatus } from "../../../../src/operator/status.ts";

describe("decision events", () => {
  it("a condition change is news, an unchanged condition is not", () => {
    const context = { generation: 1, now: new Date("2025-03-01T00:00:00Z") };
    const blocked = reduceStatus(undefined, { type: "Blocked", holder: "a/b" }, context);
    assert.equal(conditionChanged(undefined, blocked, "Blocked"), true);
    const again = reduceStatus(blocked, { type: "Blocked", holder: "a/b" }, { ...context, now: new Date() });
    assert.equal(conditionChanged(blocked, again, "Blocked"), false);
    const other = reduceStatus(blocked, { type: "Blocked", holder: "c/d" }, context);
    assert.equal(conditionChanged(blocked, other, "Blocked"), true);
  });
  it("says what happened", () => {
    assert.equal(
      blockedEvent("a/b", '["https://s3.example.com","pbs","store1"]').note,
      "a due run waits: a/b is collecting the same datastore (store store1 in bucket pbs at https://s3.example.com)",
    );
    const skipped = slotsSkippedEvent({ count: 3, latest: new Date("2025-03-01T04:00:00Z"), capped: false }, 300);
    assert.equal(skipped.reason, "RunSkipped");
    assert.match(
      skipped.note,
      /skipped 3 schedule slots, the latest 2025-03-01T04:00:00Z: .*startingDeadlineSeconds \(300\)/,
    );
    const failed = runFinishedEvent("ns", {
      jobName: "j",
      trigger: "Generation",
      generation: 1,
      startTime: "2025-03-01T00:00:00Z",
      completionTime: "2025-03-01T00:01:00Z",
      durationSeconds: 60,
      result: "Failed",
      reason: "ResultMalformed",
      message: "not JSON",
      dryRun: false,
    });
    assert.deepEqual(
      { type: failed.type, reason: failed.reason, note: failed.note },
      { type: "Warning", reason: "RunFailed", note: "j (ResultMalformed): not JSON" },
    );
  });
});
