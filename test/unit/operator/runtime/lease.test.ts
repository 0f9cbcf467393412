import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decideLease,
  heldLeaseSpec,
  type LeaseView,
  leaseExpired,
  leaseView,
} from "../../../../src/operator/runtime/lease.ts";
import { at, held } from "../lease-fixtures.ts";

describe("leaseView", () => {
  it("reads Dates and strings alike", () => {
    const view = leaseView({
      metadata: { resourceVersion: "7" },
      spec: {
        holderIdentity: "a/b",
        renewTime: "2025-03-01T03:00:00.000000Z" as unknown as Date,
        leaseDurationSeconds: 60,
      },
    });
    assert.deepEqual(view, {
      holder: "a/b",
      renewTime: new Date("2025-03-01T03:00:00Z"),
      durationSeconds: 60,
      resourceVersion: "7",
    });
    assert.equal(leaseView(undefined), undefined);
  });
});

describe("decideLease", () => {
  const cases: [string, LeaseView | undefined, number, ReturnType<typeof decideLease>, ((h: string) => boolean)?][] = [
    ["no Lease", undefined, 0, { action: "create" }],
    ["a released Lease", { holder: "", renewTime: at(0), durationSeconds: 1 }, 0, { action: "acquire" }],
    ["our own", held("ns/me", -30), 0, { action: "renew" }],
    ["our own, even expired", held("ns/me", -300), 0, { action: "renew" }],
    ["someone else's, fresh", held("ns/other", -30), 0, { action: "wait", holder: "ns/other" }],
    ["someone else's, just at expiry", held("ns/other", -60), 0, { action: "wait", holder: "ns/other" }],
    ["someone else's, expired", held("ns/other", -61), 0, { action: "acquire", previousHolder: "ns/other" }],
    [
      "a gone holder's, fresh",
      held("ns/other", -1),
      0,
      { action: "acquire", previousHolder: "ns/other" },
      (h) => h === "ns/other",
    ],
    [
      "without duration (never renewable)",
      { holder: "ns/other", renewTime: at(0) },
      0,
      { action: "acquire", previousHolder: "ns/other" },
    ],
  ];
  for (const [name, lease, now, expected, holderGone] of cases) {
    it(name, () => {
      assert.deepEqual(
        decideLease({ lease, self: "ns/me", now: at(now), ...(holderGone ? { holderGone } : {}) }),
        expected,
      );
    });
  }

  it("leaseExpired counts a missing renew time as expired", () => {
    assert.equal(leaseExpired({ holder: "x", durationSeconds: 10 }, at(0)), true);
    assert.equal(leaseExpired(held("x", 0, 10), at(10)), false);
    assert.equal(leaseExpired(held("x", 0, 10), at(11)), true);
  });
});

describe("heldLeaseSpec", () => {
  it("a renewal keeps acquireTime and transitions", () => {
    const previous = held("ns/me", -10);
    const spec = heldLeaseSpec(previous, { action: "renew" }, "ns/me", at(0), 60);
    assert.deepEqual(spec, {
      holderIdentity: "ns/me",
      leaseDurationSeconds: 60,
      acquireTime: previous.acquireTime,
      renewTime: at(0),
      leaseTransitions: 2,
    });
  });
  it("a takeover starts a new term and counts a transition", () => {
    const spec = heldLeaseSpec(
      held("ns/other", -100),
      { action: "acquire", previousHolder: "ns/other" },
      "ns/me",
      at(0),
      30,
    );
    assert.equal(spec.leaseTransitions, 3);
    assert.deepEqual(spec.acquireTime, at(0));
  });
  it("a new Lease starts at zero transitions", () => {
    assert.equal(heldLeaseSpec(undefined, { action: "create" }, "ns/me", at(0), 30).leaseTransitions, 0);
  });
});
