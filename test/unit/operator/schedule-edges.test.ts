/**
 * Schedule decisions at their edges: which of creation, last run and last skipped slot counts, the starting deadline
 * to the millisecond, and the plan's exact shape (a field that should be absent is absent).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  InvalidScheduleError,
  latestSlotsAtOrBefore,
  parseSchedule,
  planSchedule,
} from "../../../src/operator/schedule.ts";

const t = (iso: string) => new Date(iso);
const daily = parseSchedule("0 3 * * *", "UTC");

describe("planSchedule edges", () => {
  it("counts from the latest of creation, last run and last skipped slot, whichever it is", () => {
    const base = { schedule: daily, now: t("2025-01-10T12:00:00Z"), creationTime: t("2025-01-05T00:00:00Z") };
    // A last run from before the resource existed (restored status) does not add slots before creation.
    assert.equal(planSchedule({ ...base, lastScheduleTime: t("2024-12-01T03:00:00Z") }).missedSlots, 6);
    assert.equal(planSchedule({ ...base, lastSkippedSlotTime: t("2024-12-01T03:00:00Z") }).missedSlots, 6);
    assert.equal(planSchedule({ ...base, lastScheduleTime: t("2025-01-08T03:00:00Z") }).missedSlots, 2);
    assert.equal(
      planSchedule({
        ...base,
        lastScheduleTime: t("2025-01-07T03:00:00Z"),
        lastSkippedSlotTime: t("2025-01-09T03:00:00Z"),
      }).missedSlots,
      1,
    );
  });

  it("runs a slot exactly at the starting deadline, skips it a millisecond later", () => {
    const input = {
      schedule: daily,
      creationTime: t("2025-01-01T00:00:00Z"),
      lastScheduleTime: t("2025-01-09T03:00:00Z"),
      startingDeadlineSeconds: 60,
    };
    const atDeadline = planSchedule({ ...input, now: t("2025-01-10T03:01:00.000Z") });
    assert.equal(atDeadline.runSlot?.toISOString(), "2025-01-10T03:00:00.000Z");
    const late = planSchedule({ ...input, now: t("2025-01-10T03:01:00.001Z") });
    assert.equal(late.runSlot, undefined);
    assert.equal(late.skippedSlots, 1);
    assert.equal(late.latestSkippedSlot?.toISOString(), "2025-01-10T03:00:00.000Z");
  });

  it("a single missed slot runs and leaves no skipped slot behind, not even an undefined one", () => {
    const plan = planSchedule({
      schedule: daily,
      now: t("2025-01-10T04:00:00Z"),
      creationTime: t("2025-01-01T00:00:00Z"),
      lastScheduleTime: t("2025-01-09T03:00:00Z"),
    });
    assert.deepStrictEqual(plan, {
      runSlot: t("2025-01-10T03:00:00Z"),
      missedSlots: 1,
      skippedSlots: 0,
      countCapped: false,
      nextSlot: t("2025-01-11T03:00:00Z"),
    });
  });

  it("two missed slots: the later runs, the earlier is the latest skipped", () => {
    const plan = planSchedule({
      schedule: daily,
      now: t("2025-01-10T04:00:00Z"),
      creationTime: t("2025-01-01T00:00:00Z"),
      lastScheduleTime: t("2025-01-08T03:00:00Z"),
    });
    assert.deepStrictEqual(plan, {
      runSlot: t("2025-01-10T03:00:00Z"),
      missedSlots: 2,
      skippedSlots: 1,
      countCapped: false,
      nextSlot: t("2025-01-11T03:00:00Z"),
      latestSkippedSlot: t("2025-01-09T03:00:00Z"),
    });
  });

  it("nothing missed when the reference is now itself", () => {
    const now = t("2025-01-10T03:00:00Z");
    assert.deepStrictEqual(planSchedule({ schedule: daily, now, creationTime: now }), {
      missedSlots: 0,
      skippedSlots: 0,
      countCapped: false,
      nextSlot: t("2025-01-11T03:00:00Z"),
    });
  });
});

describe("latestSlotsAtOrBefore edges", () => {
  it("never returns a slot at or before notBefore, even when the backward guess reaches earlier", () => {
    const hourly = parseSchedule("@hourly", "UTC");
    const found = latestSlotsAtOrBefore(hourly, t("2025-01-10T05:30:00Z"), t("2025-01-10T04:00:00Z"));
    assert.equal(found.latest?.toISOString(), "2025-01-10T05:00:00.000Z");
    assert.equal(found.previous, undefined);
  });

  it("finds slots without notBefore for a schedule whose backward search reaches before its first slot", () => {
    const yearly = parseSchedule("0 0 29 2 *", "UTC");
    const found = latestSlotsAtOrBefore(yearly, t("2025-01-10T00:00:00Z"));
    assert.equal(found.latest?.toISOString(), "2024-02-29T00:00:00.000Z");
  });
});

describe("invalid schedules", () => {
  it("name themselves", () => {
    assert.throws(
      () => parseSchedule("61 * * * *", "UTC"),
      (error: unknown) => error instanceof InvalidScheduleError && error.name === "InvalidScheduleError",
    );
  });
});
