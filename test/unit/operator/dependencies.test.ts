import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CoreV1Event, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import {
  caBundleProblem,
  claimProblem,
  credentialsProblem,
  runPodsUsingClaim,
  waitsForFirstConsumer,
} from "../../../src/operator/dependencies.ts";
import { findCondition, reduceStatus } from "../../../src/operator/status.ts";
import { sampleSpec } from "../../support/gc-fixtures.ts";

describe("dependencies", () => {
  const s = sampleSpec();
  it("the credentials Secret must exist with both keys", () => {
    assert.equal(credentialsProblem("backup", s, undefined)?.reason, "SecretNotFound");
    assert.match(credentialsProblem("backup", s, undefined)?.message ?? "", /Secret backup\/pbs-s3 .*not found/);
    const partial = credentialsProblem("backup", s, { data: { AWS_ACCESS_KEY_ID: "eA==" } });
    assert.equal(partial?.reason, "SecretKeyMissing");
    assert.match(partial?.message ?? "", /no key AWS_SECRET_ACCESS_KEY/);
    assert.equal(
      credentialsProblem("backup", s, { data: { AWS_ACCESS_KEY_ID: "eA==", AWS_SECRET_ACCESS_KEY: "eQ==" } }),
      undefined,
    );
    const secretValue = "c2VjcmV0LXZhbHVl";
    const message = credentialsProblem("backup", s, { data: { AWS_ACCESS_KEY_ID: secretValue } })?.message ?? "";
    assert.ok(!message.includes(secretValue), "never a Secret's content");
  });
  it("the CA bundle Secret is checked only when named", () => {
    assert.equal(caBundleProblem("backup", s, undefined), undefined);
    const withCa = sampleSpec({
      datastore: {
        s3: { ...sampleSpec().datastore.s3, caBundleSecretRef: { name: "ca", key: "ca.crt" } },
      },
    });
    assert.equal(caBundleProblem("backup", withCa, undefined)?.reason, "CaBundleSecretNotFound");
    assert.equal(caBundleProblem("backup", withCa, { data: { other: "" } })?.reason, "CaBundleKeyMissing");
    assert.equal(caBundleProblem("backup", withCa, { data: { "ca.crt": "" } }), undefined);
  });
  it("the claim must exist and not be terminating", () => {
    assert.deepEqual(claimProblem("backup", "pvc", undefined, false), {
      reason: "ClaimNotFound",
      message: "PersistentVolumeClaim backup/pvc (spec.markerCache.claimName) not found",
      blocksRun: true,
    });
    assert.equal(
      claimProblem("backup", "pvc", { metadata: { deletionTimestamp: new Date() } }, true)?.reason,
      "ClaimTerminating",
    );
    assert.equal(claimProblem("backup", "pvc", { metadata: {} }, true), undefined);
    assert.equal(claimProblem("backup", "pvc", { metadata: {}, status: { phase: "Bound" } }, true), undefined);
  });
  it("a claim Pending for another reason is reported (Ready False) but does not stop a run: the run may bind it", () => {
    const pending = claimProblem("backup", "pvc", { metadata: {}, status: { phase: "Pending" } }, true);
    assert.equal(pending?.reason, "ClaimPending");
    assert.equal(pending?.blocksRun, false);
    assert.match(pending?.message ?? "", /backup\/pvc .* is Pending/);
    const status = reduceStatus(
      undefined,
      { type: "SpecAccepted", suspended: false, notReady: { reason: "ClaimPending", message: pending!.message } },
      { generation: 1, now: new Date() },
    );
    assert.deepEqual(
      [findCondition(status, "Ready")?.status, findCondition(status, "Ready")?.reason],
      ["False", "ClaimPending"],
    );
  });
  describe("a claim Pending on a WaitForFirstConsumer StorageClass", () => {
    const uid = "pvc-uid-1";
    const pending = (annotations?: Record<string, string>): V1PersistentVolumeClaim => ({
      metadata: { name: "pvc", namespace: "backup", uid, ...(annotations ? { annotations } : {}) },
      status: { phase: "Pending" },
    });
    const waitEvent: CoreV1Event = {
      metadata: { name: "pvc.1" },
      involvedObject: { kind: "PersistentVolumeClaim", name: "pvc", namespace: "backup", uid },
      reason: "WaitForFirstConsumer",
      message: "waiting for first consumer to be created before binding",
      type: "Normal",
    };
    const now = new Date("2026-11-29T03:00:00Z");
    const secondsAgo = (seconds: number) => new Date(now.getTime() - seconds * 1000);
    const runPod = (phase: string, claimName = "pvc", created = secondsAgo(120)): V1Pod => ({
      metadata: { name: `pbs-main-1-${phase.toLowerCase()}`, namespace: "backup", creationTimestamp: created },
      spec: { containers: [], volumes: [{ name: "marker-cache", persistentVolumeClaim: { claimName } }] },
      status: { phase },
    });

    it("is the normal first run before a run pod exists: no problem, Ready True, no Warning", () => {
      const waits = waitsForFirstConsumer(pending(), [waitEvent]);
      assert.equal(waits, true);
      const runPods = runPodsUsingClaim([], "backup", "pvc", now);
      assert.equal(
        claimProblem("backup", "pvc", pending(), true, { waitsForFirstConsumer: waits, runPods }),
        undefined,
      );
      const status = reduceStatus(
        undefined,
        { type: "SpecAccepted", suspended: false },
        { generation: 1, now: new Date() },
      );
      assert.deepEqual(
        [findCondition(status, "Ready")?.status, findCondition(status, "Ready")?.reason],
        ["True", "Ready"],
      );
    });
    it("is ClaimPending once a run pod that uses it exists and it still does not bind", () => {
      const pods = [runPod("Pending"), runPod("Pending", "other"), runPod("Succeeded")];
      const runPods = runPodsUsingClaim(pods, "backup", "pvc", now);
      assert.deepEqual(runPods, ["pbs-main-1-pending"]);
      const problem = claimProblem("backup", "pvc", pending(), true, { waitsForFirstConsumer: true, runPods });
      assert.equal(problem?.reason, "ClaimPending");
      assert.equal(problem?.blocksRun, false);
      assert.match(problem?.message ?? "", /is Pending although the run pod pbs-main-1-pending uses it/);
      // A finished pod of an earlier run or another claim's pod does not count.
      assert.deepEqual(runPodsUsingClaim([runPod("Failed"), runPod("Running", "other")], "backup", "pvc", now), []);
    });
    it("is not a problem while a new run pod's claim is being placed and provisioned (the grace)", () => {
      const young = runPod("Pending", "pvc", secondsAgo(5));
      assert.deepEqual(runPodsUsingClaim([young], "backup", "pvc", now), []);
      // At the grace's end the same pod counts.
      const atGrace = runPod("Pending", "pvc", secondsAgo(60));
      assert.deepEqual(runPodsUsingClaim([atGrace], "backup", "pvc", now), ["pbs-main-1-pending"]);
      // The scheduler placed the pod (selected node): the provisioner is at work, no Warning yet.
      const placed = pending({ "volume.kubernetes.io/selected-node": "node-1" });
      assert.equal(
        claimProblem("backup", "pvc", placed, true, { waitsForFirstConsumer: false, runPods: [] }),
        undefined,
      );
      // Still Pending once the pod waited past the grace: reported.
      assert.equal(
        claimProblem("backup", "pvc", placed, true, { waitsForFirstConsumer: false, runPods: ["pbs-main-1-pending"] })
          ?.reason,
        "ClaimPending",
      );
    });
    it("is ClaimPending when it is Pending for another reason than waiting for a consumer", () => {
      assert.equal(waitsForFirstConsumer(pending(), []), false);
      const other = { ...waitEvent, reason: "ProvisioningFailed", type: "Warning" };
      assert.equal(waitsForFirstConsumer(pending(), [other]), false);
      // A node was selected: the consumer exists, the claim no longer waits for one.
      assert.equal(
        waitsForFirstConsumer(pending({ "volume.kubernetes.io/selected-node": "node-1" }), [waitEvent]),
        false,
      );
      // An Event about another object (an older claim of the same name) says nothing about this one.
      const stale = { ...waitEvent, involvedObject: { ...waitEvent.involvedObject, uid: "old-uid" } };
      assert.equal(waitsForFirstConsumer(pending(), [stale]), false);
      const problem = claimProblem("backup", "pvc", pending(), true, { waitsForFirstConsumer: false, runPods: [] });
      assert.equal(problem?.reason, "ClaimPending");
      assert.match(problem?.message ?? "", /does not wait for a first consumer/);
    });
    it("shows Suspended, not ClaimPending, on a suspended resource", () => {
      const status = reduceStatus(
        undefined,
        { type: "SpecAccepted", suspended: true, notReady: { reason: "ClaimPending", message: "pending" } },
        { generation: 1, now: new Date() },
      );
      assert.deepEqual(
        [findCondition(status, "Ready")?.status, findCondition(status, "Ready")?.reason],
        ["True", "Suspended"],
      );
    });
  });
  it("without credentialsSecretRef there is no Secret to check (the SDK's default chain)", () => {
    const chain = sampleSpec({
      datastore: { s3: { endpoint: "https://s3.amazonaws.com", bucket: "pbs", store: "st1" } },
    });
    assert.equal(credentialsProblem("backup", chain, undefined), undefined);
  });
});
