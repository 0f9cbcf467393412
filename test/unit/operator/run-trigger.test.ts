import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GarbageCollectionStatus } from "../../../src/api/index.ts";
import { generationRunDone, planTrigger, type TriggerInput } from "../../../src/operator/run-trigger.ts";
import { parseSchedule } from "../../../src/operator/schedule.ts";

const created = new Date("2025-03-01T00:00:00Z");
const hourly = parseSchedule("0 * * * *", "UTC");
const berlin = parseSchedule("30 3 * * *", "Europe/Berlin");

function input(patch: Partial<TriggerInput>): TriggerInput {
  return {
    name: "pbs-main",
    generation: 1,
    creationTime: created,
    suspend: false,
    jobNames: new Set(),
    now: new Date("2025-03-01T00:30:00Z"),
    ...patch,
  };
}

const lastRun = (generation: number): NonNullable<GarbageCollectionStatus["lastRun"]> => ({
  jobName: "pbs-main-x",
  trigger: "RunRequest",
  generation,
  startTime: "2025-03-01T00:10:00Z",
  completionTime: "2025-03-01T00:11:00Z",
  durationSeconds: 60,
  result: "Failed",
  reason: "EngineError",
  dryRun: false,
});

describe("planTrigger without schedule: once per generation", () => {
  it("a new resource runs its generation", () => {
    assert.deepEqual(planTrigger(input({})), { run: { trigger: "Generation", generation: 1 } });
  });
  it("a run of any trigger at this generation counts, even a failed one", () => {
    assert.deepEqual(planTrigger(input({ status: { lastRun: lastRun(1) } })), {});
    assert.equal(generationRunDone(input({ status: { lastRun: lastRun(1) } })), true);
  });
  it("a spec change runs again", () => {
    assert.deepEqual(planTrigger(input({ generation: 2, status: { lastRun: lastRun(1) } })), {
      run: { trigger: "Generation", generation: 2 },
    });
  });
  it("an existing Job of the generation counts (status not written yet)", () => {
    assert.deepEqual(planTrigger(input({ jobNames: new Set(["pbs-main-g1"]) })), {});
  });
  it("suspended: nothing", () => {
    assert.deepEqual(planTrigger(input({ suspend: true })), {});
  });
});

describe("planTrigger: run requests", () => {
  const annotations = { "chunkgc.io/run-requested": "2025-03-01T00:29:00Z" };
  it("a new value starts a RunRequest run, remembering the previous value for the Job name", () => {
    assert.deepEqual(
      planTrigger(input({ annotations, status: { lastHandledRunRequest: "earlier", lastRun: lastRun(1) } })),
      {
        run: { trigger: "RunRequest", runRequest: "2025-03-01T00:29:00Z", previousRunRequest: "earlier" },
      },
    );
  });
  it("takes precedence over the generation run (and satisfies it)", () => {
    assert.equal(planTrigger(input({ annotations })).run?.trigger, "RunRequest");
  });
  it("a handled value does nothing", () => {
    const status = { lastHandledRunRequest: "2025-03-01T00:29:00Z", lastRun: lastRun(1) };
    assert.deepEqual(planTrigger(input({ annotations, status })), {});
  });
  it("waits while suspended", () => {
    assert.deepEqual(planTrigger(input({ annotations, suspend: true })), {});
  });
  it("with a schedule, requests still run and the next slot is reported", () => {
    assert.deepEqual(planTrigger(input({ annotations, schedule: hourly })), {
      run: { trigger: "RunRequest", runRequest: "2025-03-01T00:29:00Z" },
      nextScheduleTime: new Date("2025-03-01T01:00:00Z"),
    });
  });
});

describe("planTrigger: schedules", () => {
  it("nothing due yet: only the next slot", () => {
    assert.deepEqual(planTrigger(input({ schedule: hourly })), { nextScheduleTime: new Date("2025-03-01T01:00:00Z") });
  });
  it("a due slot runs", () => {
    const plan = planTrigger(input({ schedule: hourly, now: new Date("2025-03-01T01:00:02Z") }));
    assert.deepEqual(plan, {
      run: { trigger: "Schedule", scheduledTime: new Date("2025-03-01T01:00:00Z") },
      nextScheduleTime: new Date("2025-03-01T02:00:00Z"),
    });
  });
  it("after downtime: one catch-up run for the latest slot, the rest skipped", () => {
    const plan = planTrigger(
      input({
        schedule: hourly,
        status: { lastScheduleTime: "2025-03-01T01:00:00Z" },
        now: new Date("2025-03-01T05:10:00Z"),
      }),
    );
    assert.deepEqual(plan, {
      run: { trigger: "Schedule", scheduledTime: new Date("2025-03-01T05:00:00Z") },
      skipped: { count: 3, latest: new Date("2025-03-01T04:00:00Z"), capped: false },
      nextScheduleTime: new Date("2025-03-01T06:00:00Z"),
    });
  });
  it("skipped slots already recorded are not counted again", () => {
    const plan = planTrigger(
      input({
        schedule: hourly,
        status: { lastScheduleTime: "2025-03-01T01:00:00Z", lastSkippedSlotTime: "2025-03-01T04:00:00Z" },
        now: new Date("2025-03-01T05:10:00Z"),
      }),
    );
    assert.equal(plan.skipped, undefined);
    assert.deepEqual(plan.run, { trigger: "Schedule", scheduledTime: new Date("2025-03-01T05:00:00Z") });
  });
  it("a slot older than startingDeadlineSeconds is skipped, not run", () => {
    const plan = planTrigger(
      input({
        schedule: hourly,
        startingDeadlineSeconds: 300,
        status: { lastScheduleTime: "2025-03-01T01:00:00Z" },
        now: new Date("2025-03-01T02:10:00Z"),
      }),
    );
    assert.deepEqual(plan, {
      skipped: { count: 1, latest: new Date("2025-03-01T02:00:00Z"), capped: false },
      nextScheduleTime: new Date("2025-03-01T03:00:00Z"),
    });
  });
  it("reads the schedule in its time zone (03:30 Berlin is 02:30 UTC in winter)", () => {
    const plan = planTrigger(input({ schedule: berlin, now: new Date("2025-03-01T02:30:05Z") }));
    assert.deepEqual(plan.run, { trigger: "Schedule", scheduledTime: new Date("2025-03-01T02:30:00Z") });
    assert.deepEqual(plan.nextScheduleTime, new Date("2025-03-02T02:30:00Z"));
  });
  it("suspended: no slot planned, no next time; resuming catches up once (CronJob-like)", () => {
    const status = { lastScheduleTime: "2025-03-01T01:00:00Z" };
    const now = new Date("2025-03-01T04:10:00Z");
    assert.deepEqual(planTrigger(input({ schedule: hourly, suspend: true, status, now })), {});
    const resumed = planTrigger(input({ schedule: hourly, status, now }));
    assert.deepEqual(resumed.run, { trigger: "Schedule", scheduledTime: new Date("2025-03-01T04:00:00Z") });
    assert.equal(resumed.skipped?.count, 2);
  });
  it("slots before the resource existed never count", () => {
    const plan = planTrigger(
      input({
        schedule: hourly,
        creationTime: new Date("2025-03-01T04:59:00Z"),
        now: new Date("2025-03-01T04:59:30Z"),
      }),
    );
    assert.deepEqual(plan, { nextScheduleTime: new Date("2025-03-01T05:00:00Z") });
  });
});
