import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CronExpressionParser } from "cron-parser";
import {
  InvalidScheduleError,
  latestSlotsAtOrBefore,
  MISSED_SLOT_COUNT_LIMIT,
  nextSlotAfter,
  parseSchedule,
  planSchedule,
  type SchedulePlan,
  slotsAfter,
} from "../../../src/operator/schedule.ts";

const t = (iso: string) => new Date(iso);
const iso = (dates: Date[]) => dates.map((date) => date.toISOString().replace(".000Z", "Z"));

describe("parseSchedule", () => {
  const accepted: [string, string][] = [
    ["30 3 * * *", "30 3 * * *"],
    ["@daily", "0 0 * * *"],
    ["@hourly", "0 * * * *"],
    ["@weekly", "0 0 * * 0"],
    ["@monthly", "0 0 1 * *"],
    ["@yearly", "0 0 1 1 *"],
    ["0 0 29 2 *", "0 0 29 2 *"],
    ["*/15 8-18 * * MON-FRI", "*/15 8-18 * * MON-FRI"],
  ];
  for (const [input, fields] of accepted) {
    it(`accepts ${input}`, () => assert.equal(parseSchedule(input, "Europe/Berlin").fields, fields));
  }
  const rejected: [string, string, RegExp][] = [
    ["0 30 3 * * *", "UTC", /6 fields/],
    ["* * * *", "UTC", /4 fields/],
    ["", "UTC", /0 fields/],
    ["@reboot", "UTC", /unknown schedule macro/],
    ["61 * * * *", "UTC", /61/],
    ["0 0 30 2 *", "UTC", /day of month/i],
    ["30 3 * * *", "Mars/Olympus", /unknown IANA time zone/],
    ["30 3 * * *", "+02:00", /unknown IANA time zone/],
    ["H 3 * * *", "UTC", /hash jitter/],
  ];
  for (const [input, zone, message] of rejected) {
    it(`rejects ${JSON.stringify(input)} in ${zone}`, () => {
      assert.throws(
        () => parseSchedule(input, zone),
        (error: unknown) =>
          error instanceof InvalidScheduleError && message.test(error.message) && error.schedule === input,
      );
    });
  }
});

describe("next slots", () => {
  const cases: [string, string, string, string, number, string[]][] = [
    [
      "daily UTC, strictly after a slot",
      "30 3 * * *",
      "UTC",
      "2025-01-01T03:30:00Z",
      2,
      ["2025-01-02T03:30:00Z", "2025-01-03T03:30:00Z"],
    ],
    ["daily UTC, a millisecond before", "30 3 * * *", "UTC", "2025-01-01T03:29:59.999Z", 1, ["2025-01-01T03:30:00Z"]],
    [
      "daily Berlin in winter and summer",
      "30 3 * * *",
      "Europe/Berlin",
      "2025-03-28T12:00:00Z",
      3,
      ["2025-03-29T02:30:00Z", "2025-03-30T01:30:00Z", "2025-03-31T01:30:00Z"],
    ],
    // 02:30 does not exist on 2025-03-30 in Berlin: the slot runs once, an hour later (03:30 CEST = 01:30Z).
    [
      "Berlin spring-forward, slot in the gap",
      "30 2 * * *",
      "Europe/Berlin",
      "2025-03-29T00:00:00Z",
      3,
      ["2025-03-29T01:30:00Z", "2025-03-30T01:30:00Z", "2025-03-31T00:30:00Z"],
    ],
    // 02:30 happens twice on 2025-10-26 in Berlin (CEST 00:30Z, CET 01:30Z): it runs once, at the first.
    [
      "Berlin fall-back, slot in the repeated hour",
      "30 2 * * *",
      "Europe/Berlin",
      "2025-10-25T00:00:00Z",
      3,
      ["2025-10-25T00:30:00Z", "2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"],
    ],
    [
      "Berlin fall-back, after the first 02:30",
      "30 2 * * *",
      "Europe/Berlin",
      "2025-10-26T00:30:00Z",
      1,
      ["2025-10-27T01:30:00Z"],
    ],
    [
      "Berlin spring-forward, after the shifted slot",
      "30 2 * * *",
      "Europe/Berlin",
      "2025-03-30T01:30:00Z",
      1,
      ["2025-03-31T00:30:00Z"],
    ],
    [
      "New York spring-forward, slot in the gap",
      "30 2 * * *",
      "America/New_York",
      "2025-03-08T00:00:00Z",
      3,
      ["2025-03-08T07:30:00Z", "2025-03-09T07:30:00Z", "2025-03-10T06:30:00Z"],
    ],
    [
      "New York fall-back, slot in the repeated hour",
      "30 1 * * *",
      "America/New_York",
      "2025-11-01T12:00:00Z",
      2,
      ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"],
    ],
    [
      "weekly macro in New York",
      "@weekly",
      "America/New_York",
      "2025-01-01T00:00:00Z",
      2,
      ["2025-01-05T05:00:00Z", "2025-01-12T05:00:00Z"],
    ],
    [
      "monthly macro in Berlin",
      "@monthly",
      "Europe/Berlin",
      "2025-01-15T00:00:00Z",
      2,
      ["2025-01-31T23:00:00Z", "2025-02-28T23:00:00Z"],
    ],
    ["yearly macro in UTC", "@yearly", "UTC", "2025-06-01T00:00:00Z", 1, ["2026-01-01T00:00:00Z"]],
  ];
  for (const [name, expr, zone, from, count, expected] of cases) {
    it(name, () => {
      const schedule = parseSchedule(expr, zone);
      assert.deepEqual(iso(slotsAfter(schedule, t(from), count)), expected);
      assert.equal(nextSlotAfter(schedule, t(from)).toISOString().replace(".000Z", "Z"), expected[0]);
    });
  }

  const hourlyDays: [string, string, string, number][] = [
    ["spring-forward day", "2025-03-29T23:00:00Z", "2025-03-30T22:00:00Z", 23],
    ["fall-back day", "2025-10-25T22:00:00Z", "2025-10-26T23:00:00Z", 25],
    ["ordinary day", "2025-06-30T22:00:00Z", "2025-07-01T22:00:00Z", 24],
  ];
  for (const [name, from, until, expected] of hourlyDays) {
    it(`hourly in Berlin follows real time on a ${name} (${expected} slots)`, () => {
      const slots = slotsAfter(parseSchedule("@hourly", "Europe/Berlin"), new Date(t(from).getTime() - 1), 30);
      const inDay = slots.filter((slot) => slot < t(until));
      assert.equal(inDay.length, expected);
      for (let i = 1; i < inDay.length; i++) assert.equal(inDay[i]!.getTime() - inDay[i - 1]!.getTime(), 3_600_000);
    });
  }
});

describe("latest slots before a time", () => {
  const cases: [string, string, string, string, string | undefined, string | undefined][] = [
    ["exactly on a slot", "30 3 * * *", "UTC", "2025-01-02T03:30:00Z", "2025-01-02T03:30:00Z", "2025-01-01T03:30:00Z"],
    ["between slots", "30 3 * * *", "UTC", "2025-01-02T12:00:00Z", "2025-01-02T03:30:00Z", "2025-01-01T03:30:00Z"],
    // The library's backward iteration would answer 01:30Z (the repeated 02:30); forward iteration runs 00:30Z.
    [
      "after a fall-back day",
      "30 2 * * *",
      "Europe/Berlin",
      "2025-10-27T00:00:00Z",
      "2025-10-26T00:30:00Z",
      "2025-10-25T00:30:00Z",
    ],
    // Backward iteration would skip the shifted 03:30 of the spring-forward day.
    [
      "after a spring-forward day",
      "30 2 * * *",
      "Europe/Berlin",
      "2025-03-31T00:00:00Z",
      "2025-03-30T01:30:00Z",
      "2025-03-29T01:30:00Z",
    ],
  ];
  for (const [name, expr, zone, at, latest, previous] of cases) {
    it(name, () => {
      const found = latestSlotsAtOrBefore(parseSchedule(expr, zone), t(at));
      assert.equal(found.latest?.toISOString().replace(".000Z", "Z"), latest);
      assert.equal(found.previous?.toISOString().replace(".000Z", "Z"), previous);
    });
  }
  it("respects notBefore (exclusive)", () => {
    const found = latestSlotsAtOrBefore(
      parseSchedule("30 3 * * *", "UTC"),
      t("2025-01-05T12:00:00Z"),
      t("2025-01-04T03:30:00Z"),
    );
    assert.equal(found.latest?.toISOString(), "2025-01-05T03:30:00.000Z");
    assert.equal(found.previous, undefined);
  });
});

type ExpectedPlan = {
  runSlot?: string;
  missedSlots: number;
  skippedSlots: number;
  latestSkippedSlot?: string;
  countCapped?: boolean;
  nextSlot: string;
};

function readable(plan: SchedulePlan): ExpectedPlan {
  const s = (date: Date | undefined) => date?.toISOString().replace(".000Z", "Z");
  const out: ExpectedPlan = {
    missedSlots: plan.missedSlots,
    skippedSlots: plan.skippedSlots,
    nextSlot: s(plan.nextSlot)!,
  };
  if (plan.runSlot) out.runSlot = s(plan.runSlot);
  if (plan.latestSkippedSlot) out.latestSkippedSlot = s(plan.latestSkippedSlot);
  if (plan.countCapped) out.countCapped = true;
  return out;
}

describe("planSchedule: missed slots and catch-up", () => {
  const created = "2024-12-01T00:00:00Z";
  const cases: {
    name: string;
    expr: string;
    zone?: string;
    now: string;
    last?: string;
    skipped?: string;
    created?: string;
    deadline?: number;
    limit?: number;
    expected: ExpectedPlan;
  }[] = [
    {
      name: "nothing missed: wait for the next slot",
      expr: "30 3 * * *",
      now: "2025-01-02T03:00:00Z",
      last: "2025-01-01T03:30:00Z",
      expected: { missedSlots: 0, skippedSlots: 0, nextSlot: "2025-01-02T03:30:00Z" },
    },
    {
      name: "reconcile exactly at the slot: run it",
      expr: "30 3 * * *",
      now: "2025-01-02T03:30:00Z",
      last: "2025-01-01T03:30:00Z",
      expected: { runSlot: "2025-01-02T03:30:00Z", missedSlots: 1, skippedSlots: 0, nextSlot: "2025-01-03T03:30:00Z" },
    },
    {
      name: "a slot just passed: run it",
      expr: "30 3 * * *",
      now: "2025-01-02T03:30:20Z",
      last: "2025-01-01T03:30:00Z",
      deadline: 300,
      expected: { runSlot: "2025-01-02T03:30:00Z", missedSlots: 1, skippedSlots: 0, nextSlot: "2025-01-03T03:30:00Z" },
    },
    {
      name: "the run for the latest slot was started already",
      expr: "30 3 * * *",
      now: "2025-01-02T03:31:00Z",
      last: "2025-01-02T03:30:00Z",
      expected: { missedSlots: 0, skippedSlots: 0, nextSlot: "2025-01-03T03:30:00Z" },
    },
    {
      name: "three days down: one catch-up run for the latest slot, two skipped",
      expr: "30 3 * * *",
      now: "2025-01-04T10:00:00Z",
      last: "2025-01-01T03:30:00Z",
      expected: {
        runSlot: "2025-01-04T03:30:00Z",
        missedSlots: 3,
        skippedSlots: 2,
        latestSkippedSlot: "2025-01-03T03:30:00Z",
        nextSlot: "2025-01-05T03:30:00Z",
      },
    },
    {
      name: "down past the starting deadline: everything skipped",
      expr: "30 3 * * *",
      now: "2025-01-04T10:00:00Z",
      last: "2025-01-01T03:30:00Z",
      deadline: 3600,
      expected: {
        missedSlots: 3,
        skippedSlots: 3,
        latestSkippedSlot: "2025-01-04T03:30:00Z",
        nextSlot: "2025-01-05T03:30:00Z",
      },
    },
    {
      name: "late but within the deadline",
      expr: "30 3 * * *",
      now: "2025-01-04T04:29:00Z",
      last: "2025-01-01T03:30:00Z",
      deadline: 3600,
      expected: {
        runSlot: "2025-01-04T03:30:00Z",
        missedSlots: 3,
        skippedSlots: 2,
        latestSkippedSlot: "2025-01-03T03:30:00Z",
        nextSlot: "2025-01-05T03:30:00Z",
      },
    },
    {
      name: "deadline 0 only runs a slot reconciled exactly on time",
      expr: "30 3 * * *",
      now: "2025-01-02T03:30:01Z",
      last: "2025-01-01T03:30:00Z",
      deadline: 0,
      expected: {
        missedSlots: 1,
        skippedSlots: 1,
        latestSkippedSlot: "2025-01-02T03:30:00Z",
        nextSlot: "2025-01-03T03:30:00Z",
      },
    },
    {
      name: "slots already counted as skipped are not counted again",
      expr: "30 3 * * *",
      now: "2025-01-04T10:00:00Z",
      last: "2025-01-01T03:30:00Z",
      skipped: "2025-01-04T03:30:00Z",
      deadline: 3600,
      expected: { missedSlots: 0, skippedSlots: 0, nextSlot: "2025-01-05T03:30:00Z" },
    },
    {
      name: "a slot after the last skipped one is due",
      expr: "30 3 * * *",
      now: "2025-01-05T03:30:10Z",
      last: "2025-01-01T03:30:00Z",
      skipped: "2025-01-04T03:30:00Z",
      deadline: 3600,
      expected: { runSlot: "2025-01-05T03:30:00Z", missedSlots: 1, skippedSlots: 0, nextSlot: "2025-01-06T03:30:00Z" },
    },
    {
      name: "a new resource does not run for slots before its creation",
      expr: "30 3 * * *",
      created: "2025-01-02T10:00:00Z",
      now: "2025-01-02T10:00:05Z",
      expected: { missedSlots: 0, skippedSlots: 0, nextSlot: "2025-01-03T03:30:00Z" },
    },
    {
      name: "never scheduled, operator was down since creation",
      expr: "30 3 * * *",
      created: "2025-01-02T10:00:00Z",
      now: "2025-01-04T10:00:00Z",
      expected: {
        runSlot: "2025-01-04T03:30:00Z",
        missedSlots: 2,
        skippedSlots: 1,
        latestSkippedSlot: "2025-01-03T03:30:00Z",
        nextSlot: "2025-01-05T03:30:00Z",
      },
    },
    {
      name: "missed slots across Berlin's spring-forward",
      expr: "30 2 * * *",
      zone: "Europe/Berlin",
      now: "2025-04-02T12:00:00Z",
      last: "2025-03-29T01:30:00Z",
      expected: {
        runSlot: "2025-04-02T00:30:00Z",
        missedSlots: 4,
        skippedSlots: 3,
        latestSkippedSlot: "2025-04-01T00:30:00Z",
        nextSlot: "2025-04-03T00:30:00Z",
      },
    },
    {
      name: "missed slots across Berlin's fall-back: the repeated 02:30 counts once",
      expr: "30 2 * * *",
      zone: "Europe/Berlin",
      now: "2025-10-27T12:00:00Z",
      last: "2025-10-24T00:30:00Z",
      expected: {
        runSlot: "2025-10-27T01:30:00Z",
        missedSlots: 3,
        skippedSlots: 2,
        latestSkippedSlot: "2025-10-26T00:30:00Z",
        nextSlot: "2025-10-28T01:30:00Z",
      },
    },
    {
      name: "a week of minutely slots stops counting at the limit",
      expr: "* * * * *",
      now: "2025-01-08T00:00:30Z",
      last: "2025-01-01T00:00:00Z",
      limit: 50,
      expected: {
        runSlot: "2025-01-08T00:00:00Z",
        missedSlots: 50,
        skippedSlots: 49,
        latestSkippedSlot: "2025-01-07T23:59:00Z",
        countCapped: true,
        nextSlot: "2025-01-08T00:01:00Z",
      },
    },
    {
      name: "capped counting finds the forward latest slot across a fall-back",
      expr: "30 2 * * *",
      zone: "Europe/Berlin",
      now: "2025-10-26T12:00:00Z",
      last: "2025-10-20T00:30:00Z",
      limit: 2,
      expected: {
        runSlot: "2025-10-26T00:30:00Z",
        missedSlots: 2,
        skippedSlots: 1,
        latestSkippedSlot: "2025-10-25T00:30:00Z",
        countCapped: true,
        nextSlot: "2025-10-27T01:30:00Z",
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planSchedule({
        schedule: parseSchedule(c.expr, c.zone ?? "UTC"),
        now: t(c.now),
        lastScheduleTime: c.last === undefined ? undefined : t(c.last),
        lastSkippedSlotTime: c.skipped === undefined ? undefined : t(c.skipped),
        creationTime: t(c.created ?? created),
        startingDeadlineSeconds: c.deadline,
        countLimit: c.limit,
      });
      assert.deepEqual(readable(plan), c.expected);
    });
  }

  it("stops counting a year of hourly slots at the default limit: bounded work, not one step per slot", (context) => {
    // Work is measured in steps of the cron library (deterministic), not in wall-clock time.
    let steps = 0;
    const parse = CronExpressionParser.parse.bind(CronExpressionParser);
    context.mock.method(CronExpressionParser, "parse", (...args: Parameters<typeof CronExpressionParser.parse>) => {
      const expression = parse(...args);
      for (const name of ["next", "prev"] as const) {
        const step = expression[name].bind(expression);
        expression[name] = () => {
          steps += 1;
          return step();
        };
      }
      return expression;
    });
    const schedule = parseSchedule("@hourly", "Europe/Berlin");
    steps = 0;
    const plan = planSchedule({
      schedule,
      now: t("2026-01-01T00:30:00Z"),
      lastScheduleTime: t("2025-01-01T00:00:00Z"),
      creationTime: t(created),
    });
    assert.equal(plan.countCapped, true);
    assert.equal(plan.missedSlots, MISSED_SLOT_COUNT_LIMIT);
    assert.equal(plan.runSlot?.toISOString(), "2026-01-01T00:00:00.000Z");
    // 8760 hourly slots in the year; counting stops at the limit, then the latest two are found near `now`.
    assert.ok(steps > MISSED_SLOT_COUNT_LIMIT && steps < MISSED_SLOT_COUNT_LIMIT + 20, `${steps} cron steps`);
  });
});

/**
 * Schedule decisions at their edges: which of creation, last run and last skipped slot counts, the starting deadline
 * to the millisecond, and the plan's exact shape (a field that should be absent is absent).
 */
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
