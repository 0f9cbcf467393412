/** examples/garbagecollection.yaml is a valid GarbageCollection in the shape issue 5 promises users. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse } from "yaml";
import { API_VERSION, GarbageCollectionSpecSchema, KIND } from "../../../src/api/index.ts";

test("the example parses with the spec schema and keeps the documented field values", () => {
  const example = parse(readFileSync(new URL("../../../examples/garbagecollection.yaml", import.meta.url), "utf8")) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string };
    spec: unknown;
  };
  assert.equal(example.apiVersion, API_VERSION);
  assert.equal(example.kind, KIND);
  assert.deepEqual(example.metadata, { name: "pbs-main", namespace: "backup" });
  const spec = GarbageCollectionSpecSchema.parse(example.spec);
  assert.equal(spec.schedule, "30 3 * * *");
  assert.equal(spec.timeZone, "Europe/Berlin");
  assert.equal(spec.gracePeriod, "24h5m");
  assert.equal(spec.dryRun, false);
  assert.equal(spec.datastore.s3.credentialsSecretRef?.name, "pbs-s3");
  assert.equal(spec.markerCache.volumeClaimTemplate?.storage, "10Gi");
});
