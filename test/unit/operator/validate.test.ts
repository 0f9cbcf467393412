import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readMeta, readStatus, validateSpec } from "../../../src/operator/validate.ts";
import { sampleResource } from "../../support/gc-fixtures.ts";

const meta = { name: "pbs-main", namespace: "backup", uid: "u-1", generation: 3 };
const spec = () => structuredClone(sampleResource().spec) as unknown as Record<string, unknown>;

describe("validateSpec", () => {
  it("accepts the example, parsing the schedule and naming the datastore Lease", () => {
    const result = validateSpec(meta, spec());
    assert.ok(result.ok);
    assert.equal(result.resource.schedule?.timeZone, "Europe/Berlin");
    assert.match(result.resource.leaseName, /^chunkgc-store1-[0-9a-f]{16}$/);
    assert.match(result.resource.datastoreKey, /s3\.eu-central-1\.amazonaws\.com/);
  });
  const invalid: [string, (s: Record<string, unknown>) => void, RegExp][] = [
    ["an unknown time zone", (s) => (s.timeZone = "Mars/Olympus"), /^spec\.timeZone: must be an IANA time zone/],
    [
      "a schedule that never fires",
      (s) => (s.schedule = "0 0 31 2 *"),
      /^spec\.schedule: invalid schedule "0 0 31 2 \*"/,
    ],
    [
      "credentials in the endpoint",
      (s) => ((s.datastore as { s3: { endpoint: string } }).s3.endpoint = "https://key:secret@s3.example.com"),
      /^spec\.datastore\.s3\.endpoint: .*credentials belong in the Secret/,
    ],
    ["a missing datastore", (s) => delete s.datastore, /^spec\.datastore: /],
  ];
  for (const [name, mutate, message] of invalid) {
    it(`rejects ${name} with a message naming the field`, () => {
      const s = spec();
      mutate(s);
      const result = validateSpec(meta, s);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.message, message);
      if (!result.ok) assert.doesNotMatch(result.message, /secret@/, "never echo credentials");
    });
  }
  it("reads metadata and a lenient status", () => {
    assert.equal(readMeta({ metadata: { name: "x" } }), undefined);
    assert.equal(readMeta({ metadata: meta })?.generation, 3);
    assert.equal(readStatus({ status: { consecutiveFailures: -1 } }), undefined, "unreadable status counts as none");
    assert.deepEqual(readStatus({ status: { consecutiveFailures: 2 } }), { consecutiveFailures: 2 });
  });
});
