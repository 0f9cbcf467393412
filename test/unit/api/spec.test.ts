import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GarbageCollectionSchema, GarbageCollectionSpecSchema, isIanaTimeZone } from "../../../src/api/index.ts";

const minimal = {
  datastore: {
    s3: {
      endpoint: "https://s3.eu-central-1.amazonaws.com",
      bucket: "pbs",
      store: "store1",
      credentialsSecretRef: { name: "pbs-s3" },
    },
  },
  markerCache: { claimName: "gc-cache" },
};

function withSpec(patch: Record<string, unknown>): Record<string, unknown> {
  return { ...minimal, ...patch };
}

function issuesOf(input: unknown): string[] {
  const result = GarbageCollectionSpecSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

describe("GarbageCollection spec", () => {
  it("fills every default of a minimal spec", () => {
    const spec = GarbageCollectionSpecSchema.parse(minimal);
    assert.deepEqual(spec, {
      datastore: {
        s3: {
          endpoint: "https://s3.eu-central-1.amazonaws.com",
          region: "us-east-1",
          bucket: "pbs",
          store: "store1",
          pathStyle: false,
          credentialsSecretRef: { name: "pbs-s3" },
        },
      },
      markerCache: { claimName: "gc-cache" },
      timeZone: "UTC",
      suspend: false,
      gracePeriod: "24h5m",
      maxBackupDuration: "48h",
      dryRun: false,
      acknowledgeInUse: false,
      engine: { listConcurrency: 16, indexConcurrency: 32, deleteConcurrency: 4, deleteBatchSize: 1000 },
      runPod: {},
      job: { backoffLimit: 0 },
      successfulRunsHistoryLimit: 3,
      failedRunsHistoryLimit: 1,
    });
  });

  it("accepts the issue's example", () => {
    const spec = GarbageCollectionSpecSchema.parse({
      datastore: {
        s3: {
          endpoint: "https://s3.eu-central-1.amazonaws.com",
          region: "eu-central-1",
          bucket: "pbs",
          store: "store1",
          pathStyle: false,
          credentialsSecretRef: { name: "pbs-s3" },
        },
      },
      markerCache: { volumeClaimTemplate: { storageClassName: "standard", storage: "10Gi" } },
      schedule: "30 3 * * *",
      timeZone: "Europe/Berlin",
      gracePeriod: "24h5m",
      dryRun: false,
    });
    assert.deepEqual(spec.markerCache.volumeClaimTemplate, {
      storageClassName: "standard",
      storage: "10Gi",
      accessModes: ["ReadWriteOnce"],
      whenDeleted: "Retain",
    });
    assert.equal(spec.schedule, "30 3 * * *");
  });

  const valid: [string, Record<string, unknown>][] = [
    ["macro schedule", { schedule: "@daily" }],
    ["@hourly", { schedule: "@hourly" }],
    ["@weekly", { schedule: "@weekly" }],
    ["@monthly", { schedule: "@monthly" }],
    ["@yearly", { schedule: "@yearly" }],
    ["grace period lower bound", { gracePeriod: "1m" }],
    ["grace period upper bound", { gracePeriod: "48h" }],
    ["grace period in seconds", { gracePeriod: "90s" }],
    ["delete batch of 1000", { engine: { deleteBatchSize: 1000 } }],
    [
      "quantities in resources",
      { runPod: { resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: 2 } } } },
    ],
    ["affinity passes through", { runPod: { affinity: { nodeAffinity: { anything: [1, 2] } } } }],
    ["tolerations", { runPod: { tolerations: [{ key: "k", operator: "Exists", effect: "NoSchedule" }] } }],
    [
      "http endpoint with port",
      { datastore: { s3: { ...minimal.datastore.s3, endpoint: "http://rgw.storage:7480" } } },
    ],
    ["startingDeadlineSeconds 0", { startingDeadlineSeconds: 0 }],
    ["request prices", { engine: { requestPrices: { list: "0.005", delete: "0" } } }],
  ];
  for (const [name, patch] of valid) {
    it(`accepts ${name}`, () => assert.deepEqual(issuesOf(withSpec(patch)), []));
  }

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ["a six-field schedule", { schedule: "0 30 3 * * *" }, /schedule/],
    ["a four-field schedule", { schedule: "30 3 * *" }, /schedule/],
    ["an unknown macro", { schedule: "@reboot" }, /schedule/],
    ["a CRON_TZ prefix", { schedule: "CRON_TZ=UTC 30 3 * * *" }, /schedule/],
    ["an invalid time zone", { timeZone: "Mars/Olympus" }, /timeZone/],
    ["a UTC offset as time zone", { timeZone: "+01:00" }, /timeZone/],
    ["grace period below 1m", { gracePeriod: "59s" }, /gracePeriod/],
    ["grace period above 48h", { gracePeriod: "48h1s" }, /gracePeriod/],
    ["a grace period with days", { gracePeriod: "2d" }, /gracePeriod/],
    ["an empty grace period", { gracePeriod: "" }, /gracePeriod/],
    ["delete batch over 1000", { engine: { deleteBatchSize: 1001 } }, /engine.deleteBatchSize/],
    ["zero list concurrency", { engine: { listConcurrency: 0 } }, /engine.listConcurrency/],
    ["fractional concurrency", { engine: { deleteConcurrency: 1.5 } }, /engine.deleteConcurrency/],
    ["a price as a number", { engine: { requestPrices: { list: 0.005 } } }, /engine.requestPrices.list/],
    ["a negative price", { engine: { requestPrices: { get: "-1" } } }, /engine.requestPrices.get/],
    ["both cache options", { markerCache: { claimName: "a", volumeClaimTemplate: { storage: "1Gi" } } }, /exactly one/],
    ["no cache option", { markerCache: {} }, /exactly one/],
    ["a bad storage quantity", { markerCache: { volumeClaimTemplate: { storage: "ten gigs" } } }, /storage/],
    [
      "an endpoint without scheme",
      { datastore: { s3: { ...minimal.datastore.s3, endpoint: "s3.example.com" } } },
      /endpoint/,
    ],
    ["an upper-case bucket", { datastore: { s3: { ...minimal.datastore.s3, bucket: "PBS" } } }, /bucket/],
    ["a store with a slash", { datastore: { s3: { ...minimal.datastore.s3, store: "a/b" } } }, /store/],
    [
      "a secret ref without name",
      { datastore: { s3: { ...minimal.datastore.s3, credentialsSecretRef: {} } } },
      /credentialsSecretRef/,
    ],
    ["negative startingDeadlineSeconds", { startingDeadlineSeconds: -1 }, /startingDeadlineSeconds/],
    ["history limit over 100", { successfulRunsHistoryLimit: 101 }, /successfulRunsHistoryLimit/],
  ];
  for (const [name, patch, expected] of invalid) {
    it(`rejects ${name}`, () => {
      const issues = issuesOf(withSpec(patch));
      assert.ok(
        issues.some((issue) => expected.test(issue)),
        `expected an issue matching ${expected}, got ${JSON.stringify(issues)}`,
      );
    });
  }

  it("rejects a missing datastore", () => {
    assert.ok(issuesOf({ markerCache: { claimName: "x" } }).some((issue) => issue.startsWith("datastore")));
  });

  it("knows IANA zones", () => {
    for (const zone of ["UTC", "Europe/Berlin", "America/New_York", "Etc/GMT+1"]) assert.ok(isIanaTimeZone(zone), zone);
    for (const zone of ["", "Nowhere/Land", "+01:00", "UTC+1", "../etc"]) assert.ok(!isIanaTimeZone(zone), zone);
  });

  it("parses a whole object with loose metadata", () => {
    const object = GarbageCollectionSchema.parse({
      apiVersion: "chunkgc.io/v1alpha1",
      kind: "GarbageCollection",
      metadata: { name: "pbs-main", namespace: "backup", uid: "u-1", generation: 3, managedFields: [] },
      spec: minimal,
    });
    assert.equal(object.metadata.generation, 3);
    assert.equal(object.spec.timeZone, "UTC");
    assert.deepEqual((object.metadata as Record<string, unknown>).managedFields, []);
  });
});
