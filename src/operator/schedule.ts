import { CronExpressionParser } from "cron-parser";
import { normalizeScheduleSyntax } from "../api/schedule-syntax.ts";
import { isIanaTimeZone } from "../api/spec.ts";

/**
 * Schedule math for the operator, pure: the next slot of a cron schedule in an IANA time zone, and what to do about
 * slots missed while the operator was away (at most one catch-up run, the rest counted as skipped). The operator
 * requeues itself to the next slot; nothing here keeps time.
 *
 * Time-zone transitions follow the cron library's forward iteration, which every function here uses (its backward
 * iteration disagrees around transitions and is only used as a hint):
 * - a slot inside the hour skipped by a spring-forward transition runs once, one hour later (02:30 → 03:30);
 * - a slot inside the hour repeated by a fall-back transition runs once, at its first occurrence;
 * - hourly and finer schedules follow real time: 23 hourly slots on a spring-forward day, 25 on a fall-back day.
 */

/** A schedule that cannot be used: names the schedule and time zone and says why. */
export class InvalidScheduleError extends Error {
  readonly schedule: string;
  readonly timeZone: string;
  constructor(schedule: string, timeZone: string, problem: string) {
    super(`invalid schedule ${JSON.stringify(schedule)} in time zone ${JSON.stringify(timeZone)}: ${problem}`);
    this.name = "InvalidScheduleError";
    this.schedule = schedule;
    this.timeZone = timeZone;
  }
}

export interface CronSchedule {
  /** What the user wrote. */
  readonly source: string;
  /** Five fields, macros expanded. */
  readonly fields: string;
  readonly timeZone: string;
}

/** Most missed slots counted one by one; beyond it counts are lower bounds (`countCapped`). */
export const MISSED_SLOT_COUNT_LIMIT = 1000;
/** How far before its backward-iteration guess the latest slot is searched for (covers any DST shift). */
const BACKWARD_GUESS_MARGIN_MS = 3 * 3_600_000;
/** A fixed probe time for checking that a schedule ever fires (within the library's search limit). */
const PROBE_TIME = new Date("2000-01-01T00:00:00Z");

/** Validates a schedule and time zone; throws InvalidScheduleError. */
export function parseSchedule(schedule: string, timeZone = "UTC"): CronSchedule {
  const syntax = normalizeScheduleSyntax(schedule);
  if (!syntax.ok) throw new InvalidScheduleError(schedule, timeZone, syntax.message);
  if (!isIanaTimeZone(timeZone)) throw new InvalidScheduleError(schedule, timeZone, "unknown IANA time zone");
  const parsed: CronSchedule = { source: schedule, fields: syntax.fields, timeZone };
  try {
    iterator(parsed, PROBE_TIME).next();
  } catch (error) {
    throw new InvalidScheduleError(schedule, timeZone, error instanceof Error ? error.message : String(error));
  }
  return parsed;
}

function iterator(schedule: CronSchedule, from: Date) {
  return CronExpressionParser.parse(schedule.fields, { currentDate: from, tz: schedule.timeZone });
}

/** The first slot strictly after `after`. */
export function nextSlotAfter(schedule: CronSchedule, after: Date): Date {
  return iterator(schedule, after).next().toDate();
}

/** The first `count` slots strictly after `after`. */
export function slotsAfter(schedule: CronSchedule, after: Date, count: number): Date[] {
  const it = iterator(schedule, after);
  return Array.from({ length: count }, () => it.next().toDate());
}

/**
 * The latest two slots in (notBefore, at], latest last, found by forward iteration from just before a backward
 * guess. Either may be missing when fewer slots exist in the range.
 */
export function latestSlotsAtOrBefore(
  schedule: CronSchedule,
  at: Date,
  notBefore?: Date,
): { latest?: Date; previous?: Date } {
  let start: number | undefined;
  try {
    const back = iterator(schedule, at);
    back.prev();
    back.prev();
    start = back.prev().getTime() - BACKWARD_GUESS_MARGIN_MS;
  } catch {
    start = undefined; // no slots that far back: search from notBefore
  }
  if (notBefore !== undefined && (start === undefined || start < notBefore.getTime())) start = notBefore.getTime();
  if (start === undefined) start = at.getTime() - 366 * 24 * 3_600_000;
  const forward = iterator(schedule, new Date(start));
  let latest: Date | undefined;
  let previous: Date | undefined;
  for (;;) {
    const slot = forward.next().toDate();
    if (slot > at) break;
    previous = latest;
    latest = slot;
  }
  return { latest, previous };
}

export interface SchedulePlanInput {
  schedule: CronSchedule;
  now: Date;
  /** The latest slot a run was started for (status.lastScheduleTime); slots up to it are done. */
  lastScheduleTime?: Date;
  /** The latest slot already counted as skipped (status.lastSkippedSlotTime); never counted twice. */
  lastSkippedSlotTime?: Date;
  /** When the resource was created: slots before it never count as missed. */
  creationTime: Date;
  /** A missed slot older than this is skipped instead of run. */
  startingDeadlineSeconds?: number;
  /** Override MISSED_SLOT_COUNT_LIMIT (tests). */
  countLimit?: number;
}

export interface SchedulePlan {
  /** The slot to start a run for now: the latest missed slot, if within the starting deadline. */
  runSlot?: Date;
  /** Slots in (the latest of creationTime, lastScheduleTime and lastSkippedSlotTime, now]. */
  missedSlots: number;
  /** Missed slots that will never run: all but runSlot. */
  skippedSlots: number;
  /** The latest of the skipped slots. */
  latestSkippedSlot?: Date;
  /** True when counting stopped at the limit: missedSlots and skippedSlots are then lower bounds. */
  countCapped: boolean;
  /** The first slot after now: where to requeue. */
  nextSlot: Date;
}

/** What a reconcile at `now` should do about the schedule: at most one run, the rest skipped and counted. */
export function planSchedule(input: SchedulePlanInput): SchedulePlan {
  const { schedule, now } = input;
  const limit = input.countLimit ?? MISSED_SLOT_COUNT_LIMIT;
  let reference = input.creationTime;
  for (const done of [input.lastScheduleTime, input.lastSkippedSlotTime]) {
    if (done !== undefined && done > reference) reference = done;
  }
  const nextSlot = nextSlotAfter(schedule, now);
  if (reference >= now) return { missedSlots: 0, skippedSlots: 0, countCapped: false, nextSlot };

  let missedSlots = 0;
  let countCapped = false;
  let latest: Date | undefined;
  let previous: Date | undefined;
  const it = iterator(schedule, reference);
  for (;;) {
    const slot = it.next().toDate();
    if (slot > now) break;
    missedSlots += 1;
    previous = latest;
    latest = slot;
    if (missedSlots >= limit) {
      countCapped = true;
      ({ latest, previous } = latestSlotsAtOrBefore(schedule, now, reference));
      break;
    }
  }
  if (latest === undefined) return { missedSlots: 0, skippedSlots: 0, countCapped: false, nextSlot };

  const deadline = input.startingDeadlineSeconds;
  const tooLate = deadline !== undefined && now.getTime() - latest.getTime() > deadline * 1000;
  if (tooLate) return { missedSlots, skippedSlots: missedSlots, latestSkippedSlot: latest, countCapped, nextSlot };
  const plan: SchedulePlan = { runSlot: latest, missedSlots, skippedSlots: missedSlots - 1, countCapped, nextSlot };
  if (missedSlots > 1 && previous !== undefined) plan.latestSkippedSlot = previous;
  return plan;
}
