/**
 * Schedules against the real control plane, in real time (one minute boundary, shared by every resource here):
 * a daily schedule in Asia/Kolkata (UTC+05:30) fires at the right UTC instant and names its Job after the slot;
 * a suspended resource starts nothing; resuming it catches up once (CronJob-like), or, with a starting deadline
 * that has passed, records the slot as skipped (status and Event) instead.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { testCluster } from "../support/cluster.ts";
import {
  condition,
  createGc,
  createS3Secret,
  gcSpecFor,
  getGc,
  installCrd,
  jobsOf,
  patchGc,
  podS3Target,
  startTestOperator,
  waitForEvents,
  waitForGc,
} from "../support/operator.ts";
import { clusterS3Server, createTestBucket } from "../support/s3-servers.ts";

const cluster = await testCluster();
const server = await clusterS3Server();

/**
 * The next minute boundary at least `marginMs` away, with no other boundary between now and it (every-minute
 * schedules must miss exactly that one slot): when the next boundary is too close, the clock passes it first.
 */
async function nextBoundary(marginMs: number): Promise<Date> {
  const minute = 60_000;
  let at = Math.ceil((Date.now() + 1) / minute) * minute;
  if (at - Date.now() < marginMs) {
    await new Promise((resolve) => setTimeout(resolve, at - Date.now() + 500));
    at += minute;
  }
  return new Date(at);
}

/** Minute and hour of an instant in a time zone. */
function zonedClock(at: Date, timeZone: string): { minute: number; hour: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", { timeZone, hour: "numeric", minute: "numeric", hourCycle: "h23" })
      .formatToParts(at)
      .map((part) => [part.type, part.value]),
  );
  return { minute: Number(parts.minute), hour: Number(parts.hour) };
}

const kube = (date: Date) => date.toISOString().replace(".000Z", "Z");

describe("operator: schedules in real time", () => {
  let namespace = "";
  let bucket = "";
  let slot: Date;
  let operator: Awaited<ReturnType<typeof startTestOperator>>;

  const spec = (store: string, extra: Record<string, unknown>) =>
    gcSpecFor(podS3Target(cluster, server), bucket, { store, ...extra });

  before(async () => {
    await installCrd(cluster);
    bucket = await createTestBucket(server, "op-sched");
    namespace = await cluster.createNamespace("op-sched");
    await createS3Secret(cluster, namespace, "pbs-s3", server);
    operator = await startTestOperator(cluster, { label: "schedule", namespace });
    // Room for creating three resources and their first reconcile on a loaded machine before the slot.
    slot = await nextBoundary(25_000);
    const { minute, hour } = zonedClock(slot, "Asia/Kolkata");
    const created = await Promise.all([
      createGc(
        cluster,
        namespace,
        "kolkata",
        spec("storeA", { schedule: `${minute} ${hour} * * *`, timeZone: "Asia/Kolkata" }),
      ),
      createGc(cluster, namespace, "paused", spec("storeB", { schedule: "* * * * *", suspend: true })),
      createGc(
        cluster,
        namespace,
        "paused-deadline",
        spec("storeC", { schedule: "* * * * *", suspend: true, startingDeadlineSeconds: 5 }),
      ),
    ]);
    for (const response of created) assert.equal(response.status, 201, response.body.message);
    assert.ok(Date.now() < slot.getTime() - 2000, "the resources exist before the slot");
  });
  after(() => operator?.stop());

  test("before the slot: the time zone shows in nextScheduleTime; suspended resources announce nothing", async () => {
    const announced = await waitForGc(
      cluster,
      namespace,
      "kolkata",
      "nextScheduleTime",
      (gc) => gc.status?.nextScheduleTime,
    );
    assert.equal(announced, kube(slot), "05:30 off UTC, read in the zone");
    const paused = await waitForGc(cluster, namespace, "paused", "Ready", (gc) => condition(gc, "Ready"));
    // Suspended, unless the operator reports first that the WaitForFirstConsumer claim of its template is still
    // Pending (no run pod has consumed it yet; local-path binds on first use).
    assert.ok(["Suspended", "ClaimPending"].includes(paused.reason ?? ""), `Ready reason ${paused.reason}`);
    assert.equal((await getGc(cluster, namespace, "paused")).status?.nextScheduleTime, undefined);
    assert.ok(Date.now() < slot.getTime(), "still before the slot");
    assert.deepEqual(await jobsOf(cluster, namespace, "kolkata"), [], "nothing before the slot");
  });

  test("after the slot: suspended resources started nothing; resuming catches up once, or skips past the deadline", async () => {
    // Past the slot and past paused-deadline's 5 s starting deadline, well before the next minute.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, slot.getTime() + 6000 - Date.now())));
    for (const name of ["paused", "paused-deadline"]) {
      assert.deepEqual(await jobsOf(cluster, namespace, name), [], `${name}: no Job while suspended`);
    }
    await Promise.all(
      ["paused", "paused-deadline"].map((name) => patchGc(cluster, namespace, name, { spec: { suspend: false } })),
    );
    assert.ok(Date.now() < slot.getTime() + 50_000, "resumed within the slot's minute");

    const skipped = await waitForGc(cluster, namespace, "paused-deadline", "the skipped slot", (g) =>
      g.status?.skippedSlots ? g : undefined,
    );
    assert.equal(skipped.status?.skippedSlots, 1);
    assert.equal(skipped.status?.lastSkippedSlotTime, kube(slot));
    const events = await waitForEvents(cluster, namespace, "paused-deadline", "a RunSkipped Event", (all) =>
      all.some((e) => e.reason === "RunSkipped"),
    );
    const note = events.find((e) => e.reason === "RunSkipped")?.note;
    assert.match(note ?? "", /startingDeadlineSeconds \(5\)/, "a RunSkipped Event");
    const deadlineJobs = await jobsOf(cluster, namespace, "paused-deadline");
    assert.ok(
      deadlineJobs.every((job) => job.metadata?.annotations?.["chunkgc.io/scheduled-time"] !== kube(slot)),
      "no Job for the skipped slot",
    );

    const caughtUp = await waitForGc(cluster, namespace, "paused", "the catch-up run", (gc) =>
      gc.status?.history?.find((entry) => entry.scheduledTime === kube(slot)),
    );
    assert.equal(caughtUp.result, "Succeeded", caughtUp.message);
    assert.equal(caughtUp.jobName, `paused-${slot.getTime() / 60_000}`);
    const paused = await getGc(cluster, namespace, "paused");
    assert.equal(paused.status?.skippedSlots ?? 0, 0, "a single missed slot is caught up, not skipped");
    assert.equal(condition(paused, "Ready")?.reason, "Ready");
  });

  test("the Kolkata slot ran at its UTC instant, named after the slot", async () => {
    const run = await waitForGc(
      cluster,
      namespace,
      "kolkata",
      "the scheduled run",
      (gc) => gc.status?.lastRun,
      slot.getTime() - Date.now() + 90_000,
    );
    assert.equal(run.result, "Succeeded", run.message);
    assert.equal(run.trigger, "Schedule");
    assert.equal(run.scheduledTime, kube(slot));
    assert.equal(run.jobName, `kolkata-${slot.getTime() / 60_000}`, "one Job name per slot");
    assert.ok(Date.parse(run.startTime) >= slot.getTime(), "not before the slot");
    assert.ok(Date.parse(run.startTime) < slot.getTime() + 15_000, "promptly after it");
    const gc = await getGc(cluster, namespace, "kolkata");
    assert.equal(gc.status?.lastScheduleTime, kube(slot));
    assert.equal(gc.status?.nextScheduleTime, kube(new Date(slot.getTime() + 24 * 3600_000)));
    assert.equal(gc.status?.skippedSlots, undefined);
  });
});
