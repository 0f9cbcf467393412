import { type V1Lease, V1MicroTime } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, LABELS, MANAGER_NAME } from "../../api/group.ts";
import { callOptions, describeApiError, isConflict, isNotFound, type KubeClients } from "../runtime/kube-api.ts";
import { decideLease, heldLeaseSpec, type LeaseDecision, type LeaseView, leaseView } from "../runtime/lease.ts";

/**
 * One run at a time per datastore, across all GarbageCollections in all namespaces: a run may start only while its
 * resource holds the datastore's Lease (in the operator's namespace, named by datastoreLeaseName, holder
 * `<namespace>/<name>`). The holder renews it while its Job runs and deletes it when the run is recorded; a crashed
 * operator's holds expire. As a second guard, a run never starts while the Job cache shows another resource's active
 * run on the same datastore (its lease may have expired while the operator was down).
 *
 * DatastoreLeases owns all of it: the Kubernetes Lease objects, who waits for which Lease, which resource may hold
 * one and when it was last renewed. (Not to be confused with the engine's DatastoreLock, the lock record in the
 * bucket that a run takes in turn.)
 */

export type Admission =
  | { admitted: true; decision: LeaseDecision }
  | { admitted: false; holder: string; reason: "Lease" | "ActiveRun" };

export interface AdmissionInput {
  lease: LeaseView | undefined;
  /** `<namespace>/<name>` of the resource that wants to run. */
  self: string;
  now: Date;
  /** `<namespace>/<name>` of other resources with an active run Job on the same datastore. */
  otherActiveRuns: readonly string[];
  /** True for holders whose resource is known to be gone. */
  holderGone?: (holder: string) => boolean;
}

/** Whether a run may start now. Pure. */
export function decideAdmission(input: AdmissionInput): Admission {
  const others = [...input.otherActiveRuns].filter((holder) => holder !== input.self).sort();
  if (others.length > 0) return { admitted: false, holder: others[0]!, reason: "ActiveRun" };
  const decision = decideLease({
    lease: input.lease,
    self: input.self,
    now: input.now,
    holderGone: input.holderGone,
  });
  if (decision.action === "wait") return { admitted: false, holder: decision.holder, reason: "Lease" };
  return { admitted: true, decision };
}

export const DATASTORE_ANNOTATION = `${GROUP}/datastore-identity`;

export interface DatastoreLeasesOptions {
  readonly clients: KubeClients;
  /** Where the Leases live (the operator's namespace). */
  readonly namespace: string;
  readonly leaseDurationSeconds: number;
  readonly log: Logger;
}

export interface LeaseRequest {
  readonly leaseName: string;
  readonly self: string;
  /** Canonical identity (endpoint, bucket, store), for people reading the Lease; no credentials. */
  readonly identity: string;
  readonly datastoreHash: string;
  readonly otherActiveRuns: readonly string[];
  readonly holderGone?: (holder: string) => boolean;
}

export class DatastoreLeases {
  readonly #options: DatastoreLeasesOptions;
  /** Resources waiting for a Lease: woken when its holder releases it. */
  readonly #waiters = new Map<string, Set<string>>();
  /** The Lease each resource uses, to release it after the resource is gone. */
  readonly #leaseOf = new Map<string, string>();
  /**
   * Resources that may hold their Lease: took it, or not checked since the operator started (a restarted operator
   * does not know what its predecessor held, so each resource's first release reads the Lease).
   */
  readonly #mayHold = new Set<string>();
  readonly #checked = new Set<string>();
  /** When this process last wrote each resource's Lease. */
  readonly #renewed = new Map<string, number>();

  constructor(options: DatastoreLeasesOptions) {
    this.#options = options;
  }

  get leaseDurationSeconds(): number {
    return this.#options.leaseDurationSeconds;
  }

  /** How often an active run's Lease is renewed: a third of its duration, so one failed renewal does not lose it. */
  get renewalMs(): number {
    return Math.max(1000, Math.floor((this.#options.leaseDurationSeconds * 1000) / 3));
  }

  /** Remembers which Lease `key` uses, so that forget() can release it once the resource is gone. */
  use(key: string, leaseName: string): void {
    this.#leaseOf.set(key, leaseName);
  }

  /**
   * Renews the Lease of a resource whose run is active, at most once per renewal interval however many events the
   * run causes (`slackMs`: timers fire a little early). Undefined: not due yet.
   */
  async renew(
    request: Omit<LeaseRequest, "otherActiveRuns" | "holderGone">,
    now: Date,
    slackMs: number,
  ): Promise<Admission | undefined> {
    if (now.getTime() - (this.#renewed.get(request.self) ?? 0) < this.renewalMs - slackMs) return undefined;
    const admission = await this.#acquire({ ...request, otherActiveRuns: [] });
    this.#mayHold.add(request.self);
    this.#renewed.set(request.self, now.getTime());
    return admission;
  }

  /** Takes the Lease for a due run. Refused, the resource waits: the holder's release wakes it. */
  async admit(request: LeaseRequest, now: Date): Promise<Admission> {
    const admission = await this.#acquire(request);
    if (!admission.admitted) {
      this.#addWaiter(request.leaseName, request.self);
      return admission;
    }
    this.#mayHold.add(request.self);
    this.#renewed.set(request.self, now.getTime());
    this.#removeWaiter(request.leaseName, request.self);
    return admission;
  }

  /**
   * Releases the Lease of a resource with no active run, if it may hold it (otherwise no API call). Returns the
   * resources that waited for it, to be reconciled now.
   */
  async release(key: string, leaseName: string): Promise<string[]> {
    if (!this.#mayHold.has(key) && this.#checked.has(key)) return [];
    const waiters = await this.#delete(leaseName, key);
    this.#mayHold.delete(key);
    this.#renewed.delete(key);
    this.#checked.add(key);
    this.#removeWaiter(leaseName, key);
    return waiters;
  }

  /** The resource is gone: it waits no more, its Lease is released, its bookkeeping dropped. Returns the waiters. */
  async forget(key: string): Promise<string[]> {
    const leaseName = this.#leaseOf.get(key);
    let waiters: string[] = [];
    if (leaseName !== undefined) {
      this.#removeWaiter(leaseName, key);
      waiters = await this.release(key, leaseName);
    }
    this.#leaseOf.delete(key);
    this.#checked.delete(key);
    return waiters;
  }

  /** Takes or renews the Lease for `self`; on a lost race it reports the new holder. */
  async #acquire(request: LeaseRequest, now = new Date()): Promise<Admission> {
    const { clients, namespace, leaseDurationSeconds } = this.#options;
    const lease = await this.#read(request.leaseName);
    const view = leaseView(lease);
    const admission = decideAdmission({
      lease: view,
      self: request.self,
      now,
      otherActiveRuns: request.otherActiveRuns,
      holderGone: request.holderGone,
    });
    if (!admission.admitted) return admission;
    const held = heldLeaseSpec(view, admission.decision, request.self, now, leaseDurationSeconds);
    const spec = {
      ...held,
      acquireTime: new V1MicroTime(held.acquireTime.getTime()),
      renewTime: new V1MicroTime(held.renewTime.getTime()),
    };
    try {
      if (lease === undefined) {
        await clients.coordination.createNamespacedLease(
          {
            namespace,
            body: {
              metadata: {
                name: request.leaseName,
                namespace,
                labels: { [LABELS.managedBy]: MANAGER_NAME, [LABELS.datastore]: request.datastoreHash },
                annotations: { [DATASTORE_ANNOTATION]: request.identity },
              },
              spec,
            },
          },
          callOptions(),
        );
      } else {
        await clients.coordination.replaceNamespacedLease(
          { name: request.leaseName, namespace, body: { ...lease, spec } },
          callOptions(),
        );
      }
    } catch (error) {
      if (!isConflict(error)) throw error;
      // Another resource wrote the Lease between our read and write: it won the race.
      const holder = (await this.#holder(request.leaseName)) ?? "another resource";
      if (holder === request.self) return admission;
      return { admitted: false, holder, reason: "Lease" };
    }
    if (admission.decision.action === "acquire" && admission.decision.previousHolder) {
      this.#options.log.info(
        { lease: request.leaseName, holder: request.self, previous: admission.decision.previousHolder },
        "took over an expired datastore lease",
      );
    }
    return admission;
  }

  /** Deletes the Lease if `self` holds it; returns the resources that waited for it. */
  async #delete(leaseName: string, self: string): Promise<string[]> {
    const { clients, namespace, log } = this.#options;
    const lease = await this.#read(leaseName);
    if (lease === undefined || lease.spec?.holderIdentity !== self) return [];
    try {
      await clients.coordination.deleteNamespacedLease(
        {
          name: leaseName,
          namespace,
          body: { preconditions: { resourceVersion: lease.metadata?.resourceVersion } },
        },
        callOptions(),
      );
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
      log.debug({ lease: leaseName, error: describeApiError(error) }, "datastore lease changed while releasing");
    }
    return this.#takeWaiters(leaseName);
  }

  /** The current holder of the Lease (read from the API). */
  async #holder(leaseName: string): Promise<string | undefined> {
    return (await this.#read(leaseName))?.spec?.holderIdentity || undefined;
  }

  #addWaiter(leaseName: string, key: string): void {
    let set = this.#waiters.get(leaseName);
    if (!set) {
      set = new Set();
      this.#waiters.set(leaseName, set);
    }
    set.add(key);
  }

  #removeWaiter(leaseName: string, key: string): void {
    this.#waiters.get(leaseName)?.delete(key);
  }

  #takeWaiters(leaseName: string): string[] {
    const set = this.#waiters.get(leaseName);
    this.#waiters.delete(leaseName);
    return set ? [...set] : [];
  }

  async #read(name: string): Promise<V1Lease | undefined> {
    try {
      return await this.#options.clients.coordination.readNamespacedLease(
        { name, namespace: this.#options.namespace },
        callOptions(),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
