import type { V1Lease } from "@kubernetes/client-node";
import { toDate } from "../../util/time.ts";

/**
 * Pure decisions about coordination.k8s.io Leases, used for leader election and for the per-datastore run lock:
 * who holds a Lease, whether that hold has expired, and what a candidate should do about it.
 */

export interface LeaseView {
  holder?: string;
  renewTime?: Date;
  acquireTime?: Date;
  durationSeconds?: number;
  transitions?: number;
  resourceVersion?: string;
}

export function leaseView(lease: V1Lease | undefined): LeaseView | undefined {
  if (lease === undefined) return undefined;
  const spec = lease.spec ?? {};
  const view: LeaseView = {};
  if (spec.holderIdentity) view.holder = spec.holderIdentity;
  const renew = toDate(spec.renewTime) ?? toDate(spec.acquireTime);
  if (renew) view.renewTime = renew;
  const acquire = toDate(spec.acquireTime);
  if (acquire) view.acquireTime = acquire;
  if (spec.leaseDurationSeconds !== undefined) view.durationSeconds = spec.leaseDurationSeconds;
  if (spec.leaseTransitions !== undefined) view.transitions = spec.leaseTransitions;
  if (lease.metadata?.resourceVersion) view.resourceVersion = lease.metadata.resourceVersion;
  return view;
}

/** A hold without renew time or duration counts as expired (nobody can renew what never says how long it lasts). */
export function leaseExpired(view: LeaseView, now: Date): boolean {
  if (view.renewTime === undefined || view.durationSeconds === undefined) return true;
  return now.getTime() > view.renewTime.getTime() + view.durationSeconds * 1000;
}

export type LeaseDecision =
  /** No Lease object: create it holding it. */
  | { action: "create" }
  /** We hold it: renew. */
  | { action: "renew" }
  /** Free, expired or its holder is known to be gone: take it over. */
  | { action: "acquire"; previousHolder?: string }
  /** Someone else holds it. */
  | { action: "wait"; holder: string };

export interface LeaseDecisionInput {
  lease: LeaseView | undefined;
  self: string;
  now: Date;
  /** True for holders known to be gone (their resource no longer exists): their hold need not expire first. */
  holderGone?: (holder: string) => boolean;
}

export function decideLease(input: LeaseDecisionInput): LeaseDecision {
  const { lease, self, now } = input;
  if (lease === undefined) return { action: "create" };
  if (lease.holder === undefined || lease.holder === "") return { action: "acquire" };
  if (lease.holder === self) return { action: "renew" };
  if (leaseExpired(lease, now) || input.holderGone?.(lease.holder) === true) {
    return { action: "acquire", previousHolder: lease.holder };
  }
  return { action: "wait", holder: lease.holder };
}

/** The spec of a Lease held by `self` after a decision (renew keeps acquireTime, a takeover counts a transition). */
export function heldLeaseSpec(
  previous: LeaseView | undefined,
  decision: LeaseDecision,
  self: string,
  now: Date,
  durationSeconds: number,
): {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  leaseTransitions: number;
} {
  const transitions = previous?.transitions ?? 0;
  const renewing = decision.action === "renew" && previous?.acquireTime !== undefined;
  return {
    holderIdentity: self,
    leaseDurationSeconds: durationSeconds,
    acquireTime: renewing ? previous!.acquireTime! : now,
    renewTime: now,
    leaseTransitions: decision.action === "acquire" && previous?.holder !== undefined ? transitions + 1 : transitions,
  };
}
