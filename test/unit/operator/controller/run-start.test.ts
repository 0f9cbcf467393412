import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Job } from "@kubernetes/client-node";
import { withRunEnv } from "../../../../src/operator/controller/run-start.ts";
import { buildRunJob } from "../../../../src/operator/job-builder.ts";
import { sampleResource } from "../../../support/gc-fixtures.ts";

describe("withRunEnv", () => {
  it("appends the hook's variables to the engine container only, leaving the input alone", () => {
    const job: V1Job = buildRunJob({ resource: sampleResource(), run: { trigger: "Generation", generation: 1 } });
    const before = structuredClone(job);
    const out = withRunEnv(job, [{ name: "CHUNKGC_NOW", value: "2025-03-01T00:00:00Z" }]);
    assert.deepEqual(job, before);
    const env = out.spec?.template.spec?.containers[0]?.env ?? [];
    assert.deepEqual(env.at(-1), { name: "CHUNKGC_NOW", value: "2025-03-01T00:00:00Z" });
    assert.equal(env.length, (before.spec?.template.spec?.containers[0]?.env ?? []).length + 1);
    assert.equal(withRunEnv(job, []), job);
  });
});
