import { setTimeout as sleep } from "node:timers/promises";
import { V1MicroTime } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { callOptions, describeApiError, isConflict, isNotFound, type KubeClients } from "./kube-api.ts";
import { decideLease, heldLeaseSpec, type LeaseView, leaseView } from "./lease.ts";

/**
 * Leader election on a coordination.k8s.io Lease, as client-go's: the leader renews every retry period; a candidate
 * takes over once the Lease has not been renewed for its duration; a leader that cannot renew within the renew
 * deadline stops leading (the operator then shuts down rather than risk two leaders); a leader that stops
 * gracefully releases the Lease so that the next one takes over at once.
 */

export interface LeaderElectionOptions {
  readonly clients: KubeClients;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  readonly log: Logger;
}

export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  #leader = false;
  #lastRenew = 0;
  #observed: LeaseView | undefined;

  constructor(options: LeaderElectionOptions) {
    if (options.renewDeadlineSeconds >= options.leaseDurationSeconds) {
      throw new RangeError("the renew deadline must be shorter than the lease duration");
    }
    this.#options = options;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /**
   * Campaigns until `signal` aborts: resolves `leading` once elected, and calls onLost if leadership is lost
   * afterwards (then it stops campaigning).
   */
  async run(signal: AbortSignal, hooks: { onLeading: () => void; onLost: () => void }): Promise<void> {
    const { retryPeriodSeconds, renewDeadlineSeconds, log } = this.#options;
    while (!signal.aborted) {
      const renewed = await this.#tryAcquireOrRenew().catch((error: unknown) => {
        log.warn({ lease: this.#options.name, error: describeApiError(error) }, "leader election: lease update failed");
        return false;
      });
      const now = Date.now();
      if (renewed) {
        this.#lastRenew = now;
        if (!this.#leader) {
          this.#leader = true;
          log.info({ lease: this.#options.name, identity: this.#options.identity }, "leader election: now leading");
          hooks.onLeading();
        }
      } else if (this.#leader && now - this.#lastRenew > renewDeadlineSeconds * 1000) {
        this.#leader = false;
        log.error({ lease: this.#options.name }, "leader election: lost the lease");
        hooks.onLost();
        return;
      }
      const jitter = this.#leader ? 0 : Math.random() * 0.2;
      await sleep(retryPeriodSeconds * 1000 * (1 + jitter), undefined, { signal }).catch(() => {});
    }
  }

  /** Gives the Lease up (only if we hold it), so that another candidate takes over without waiting. */
  async release(): Promise<void> {
    if (!this.#leader) return;
    this.#leader = false;
    const { clients, namespace, name, identity, log } = this.#options;
    try {
      const lease = await clients.coordination.readNamespacedLease({ name, namespace }, callOptions());
      if (lease.spec?.holderIdentity !== identity) return;
      lease.spec = {
        ...lease.spec,
        holderIdentity: "",
        leaseDurationSeconds: 1,
        renewTime: new V1MicroTime(Date.now()),
      };
      await clients.coordination.replaceNamespacedLease({ name, namespace, body: lease }, callOptions());
      log.info({ lease: name }, "leader election: released the lease");
    } catch (error) {
      log.warn({ lease: name, error: describeApiError(error) }, "leader election: could not release the lease");
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { clients, namespace, name, identity, leaseDurationSeconds, log } = this.#options;
    const now = new Date();
    let lease: Awaited<ReturnType<typeof clients.coordination.readNamespacedLease>> | undefined;
    try {
      lease = await clients.coordination.readNamespacedLease({ name, namespace }, callOptions());
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const view = leaseView(lease);
    // A candidate measures expiry by its own clock from when it last saw the Lease change (client-go does the same),
    // so clock skew between replicas cannot shorten a leader's term.
    const observed = this.#observe(view, now);
    const decision = decideLease({ lease: observed, self: identity, now });
    if (decision.action === "wait") return false;
    const spec = heldLeaseSpec(view, decision, identity, now, leaseDurationSeconds);
    const body = {
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      acquireTime: new V1MicroTime(spec.acquireTime.getTime()),
      renewTime: new V1MicroTime(spec.renewTime.getTime()),
      leaseTransitions: spec.leaseTransitions,
    };
    try {
      if (lease === undefined) {
        await clients.coordination.createNamespacedLease(
          { namespace, body: { metadata: { name, namespace }, spec: body } },
          callOptions(),
        );
      } else {
        await clients.coordination.replaceNamespacedLease(
          { name, namespace, body: { ...lease, spec: body } },
          callOptions(),
        );
      }
    } catch (error) {
      if (isConflict(error)) return false; // someone else wrote first (409 is also AlreadyExists)
      throw error;
    }
    if (decision.action !== "renew") log.info({ lease: name, previous: view?.holder }, "leader election: acquired");
    return true;
  }

  /** The Lease as seen by this candidate: its renew time is when we first saw this holder/renewal. */
  #observe(view: LeaseView | undefined, now: Date): LeaseView | undefined {
    if (view === undefined) {
      this.#observed = undefined;
      return undefined;
    }
    const previous = this.#observed;
    const changed =
      previous === undefined || previous.holder !== view.holder || previous.resourceVersion !== view.resourceVersion;
    if (changed) this.#observed = { ...view, renewTime: now };
    return { ...view, renewTime: this.#observed!.renewTime! };
  }
}
