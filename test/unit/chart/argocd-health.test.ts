/**
 * The Argo CD health check (charts/chunkgc/files/argocd-health.lua) run by a real Lua 5.1 interpreter (Debian's
 * lua5.1, scripts/install.d/50-lua.sh; Argo CD's gopher-lua is a Lua 5.1) against statuses the operator's own
 * reducer produces, and the argocd-cm example carries the script unchanged.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import type { GarbageCollectionStatus } from "../../../src/api/index.ts";
import { buildRunJob, jobRunInfo } from "../../../src/operator/job-builder.ts";
import { reduceStatusAll, type StatusEvent } from "../../../src/operator/status.ts";
import { sampleResource, sampleRunResult } from "../../support/gc-fixtures.ts";
import { CHART_DIR } from "../../support/helm.ts";

const SCRIPT = join(CHART_DIR, "files", "argocd-health.lua");

/** A JSON value as a Lua table constructor. */
function lua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `{${value.map(lua).join(", ")}}`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `[${JSON.stringify(k)}] = ${lua(v)}`).join(", ")}}`;
}

function health(object: unknown): { status: string; message: string } {
  const program = `obj = ${lua(object)}\nlocal hs = dofile(${JSON.stringify(SCRIPT)})\nio.write(hs.status, "\\t", hs.message or "")`;
  const out = execFileSync("lua5.1", ["-e", program], { encoding: "utf8" });
  const [status, message] = out.split("\t");
  return { status: status ?? "", message: message ?? "" };
}

const T = Date.parse("2025-03-01T02:30:00Z");
const resource = sampleResource();
const runJob = buildRunJob({ resource, run: { trigger: "Schedule", scheduledTime: new Date(T) } });
runJob.metadata!.creationTimestamp = new Date(T);
const run = jobRunInfo(runJob)!;
const context = { generation: 2, now: new Date(T + 60_000) };
const accepted: StatusEvent = { type: "SpecAccepted", suspended: false, nextScheduleTime: new Date(T + 86_400_000) };
const object = (status: GarbageCollectionStatus | undefined, generation = 2) => ({
  apiVersion: "chunkgc.io/v1alpha1",
  kind: "GarbageCollection",
  metadata: { name: "pbs-main", namespace: "backup", generation },
  spec: resource.spec,
  ...(status ? { status } : {}),
});
const status = (...events: StatusEvent[]) => reduceStatusAll(undefined, events, context);

describe("Argo CD health check (lua5.1)", () => {
  const cases: [string, unknown, string, RegExp][] = [
    ["no status yet", object(undefined), "Progressing", /waiting for the operator/],
    ["a spec not yet observed", object(status(accepted), 3), "Progressing", /latest spec/],
    ["accepted, no run yet", object(status(accepted)), "Healthy", /next run/],
    [
      "a run in progress is healthy, not progressing",
      object(status(accepted, { type: "RunStarted", run })),
      "Healthy",
      /in progress/,
    ],
    [
      "a run whose pod cannot start",
      object(
        status(
          accepted,
          { type: "RunStarted", run },
          {
            type: "RunProgress",
            jobName: run.jobName,
            progress: { phase: "CannotStart", reason: "ImagePullBackOff", message: "Back-off pulling image" },
          },
        ),
      ),
      "Degraded",
      /ImagePullBackOff: .*Back-off pulling image/,
    ],
    [
      "the latest run failed",
      object(
        status(
          accepted,
          { type: "RunStarted", run },
          {
            type: "RunFailed",
            run,
            completionTime: new Date(T + 30_000),
            reason: "EngineError",
            message: "bucket unreachable",
          },
        ),
      ),
      "Degraded",
      /EngineError/,
    ],
    [
      "the latest run succeeded",
      object(
        status(
          accepted,
          { type: "RunStarted", run },
          {
            type: "RunFinished",
            run,
            completionTime: new Date(T + 30_000),
            result: sampleRunResult(),
          },
        ),
      ),
      "Healthy",
      /next run/,
    ],
    [
      "a missing Secret",
      object(
        status({ type: "DependencyMissing", reason: "SecretNotFound", message: "Secret backup/pbs-s3 not found" }),
      ),
      "Degraded",
      /SecretNotFound/,
    ],
    [
      "a claim that binds with the first run",
      object(status({ ...accepted, notReady: { reason: "ClaimPending", message: "Pending" } } as StatusEvent)),
      "Progressing",
      /ClaimPending/,
    ],
    [
      "a run that cannot start while its claim waits for it",
      object(
        status(
          { ...accepted, notReady: { reason: "ClaimPending", message: "Pending" } } as StatusEvent,
          { type: "RunStarted", run },
          {
            type: "RunProgress",
            jobName: run.jobName,
            progress: { phase: "CannotStart", reason: "Unschedulable", message: "0/1 nodes are available" },
          },
        ),
      ),
      "Degraded",
      /Unschedulable/,
    ],
    [
      "an invalid spec",
      object(status({ type: "SpecInvalid", message: "spec.schedule: bad" })),
      "Degraded",
      /InvalidSpec/,
    ],
    ["suspended", object(status({ type: "SpecAccepted", suspended: true })), "Suspended", /suspended/],
  ];
  for (const [name, input, expected, message] of cases) {
    it(name, () => {
      const result = health(input);
      assert.equal(result.status, expected, result.message);
      assert.match(result.message, message);
    });
  }
});

describe("Argo CD example", () => {
  it("argocd-cm carries the chart's script unchanged, under the resource's key", () => {
    const cm = parse(readFileSync(new URL("../../../examples/argocd/argocd-cm.yaml", import.meta.url), "utf8")) as {
      data: Record<string, string>;
    };
    assert.equal(cm.data["resource.customizations.health.chunkgc.io_GarbageCollection"], readFileSync(SCRIPT, "utf8"));
  });
});
