import {
  ADD,
  DELETE,
  ERROR,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  UPDATE,
  Watch,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { describeApiError } from "./kube-api.ts";
import { backoffDelay } from "./work-queue.ts";

/**
 * An informer (client-node's ListWatch: a list, then a watch, and a cache) that survives what ends a ListWatch for
 * good: a failed list or watch is retried with backoff by starting a fresh ListWatch, and every `relistIntervalMs`
 * the cache is rebuilt from a new list (missed watch events cannot linger). Reads keep using the previous cache until
 * the new list is complete; then the new ListWatch's events (every object as added) are delivered, and the objects
 * gone since as deleted, so handlers see a full resync.
 */

export type InformerEvent = "add" | "update" | "delete";

export interface InformerOptions<T extends KubernetesObject> {
  readonly name: string;
  readonly kubeConfig: KubeConfig;
  /** The watch path, such as /apis/batch/v1/jobs or /apis/batch/v1/namespaces/x/jobs. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  /** 0 disables the periodic relist. */
  readonly relistIntervalMs: number;
  readonly log: Logger;
  readonly onEvent: (event: InformerEvent, object: T) => void;
  /** Restart backoff: the first delay, doubled per consecutive failure up to the maximum. */
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
}

const keyOf = (object: KubernetesObject) => `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;

export class ResilientInformer<T extends KubernetesObject> {
  readonly #options: InformerOptions<T>;
  /** The ListWatch reads come from. */
  #current: ListWatch<T> | undefined;
  /** A ListWatch whose first list is in progress. */
  #pending: ListWatch<T> | undefined;
  #stopped = true;
  #synced = false;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #relistTimer: NodeJS.Timeout | undefined;
  /** ListWatch failures so far (restarts). */
  errors = 0;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
  }

  get name(): string {
    return this.#options.name;
  }

  /** True once a list succeeded: the cache is usable. */
  get synced(): boolean {
    return this.#synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#current?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#current?.list(namespace) ?? [];
  }

  /** Starts; resolves after the first list attempt (on failure it keeps retrying in the background). */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
    if (this.#options.relistIntervalMs > 0) {
      this.#relistTimer = setInterval(() => void this.#connect(), this.#options.relistIntervalMs);
      this.#relistTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#relistTimer);
    const listWatches = [this.#current, this.#pending];
    this.#pending = undefined;
    await Promise.all(listWatches.map((listWatch) => listWatch?.stop()));
  }

  async #connect(): Promise<void> {
    if (this.#stopped || this.#pending !== undefined) return;
    const options = this.#options;
    let listed = false;
    const listFn = async () => {
      const list = await options.list();
      listed = true;
      return list;
    };
    const next = new ListWatch<T>(options.path, new Watch(options.kubeConfig), listFn, false, options.labelSelector);
    let buffered: [InformerEvent, T][] | undefined = [];
    const forward = (event: InformerEvent) => (object: T) => {
      if (buffered) buffered.push([event, object]);
      else if (this.#current === next) options.onEvent(event, object);
    };
    next.on(ADD, forward("add"));
    next.on(UPDATE, forward("update"));
    next.on(DELETE, forward("delete"));
    next.on(ERROR, (error?: unknown) => this.#failed(next, error));
    this.#pending = next;
    try {
      await next.start(); // a failed list reports through ERROR and returns
    } catch (error) {
      this.#failed(next, error);
    }
    if (this.#pending !== next) return; // stopped or failed meanwhile
    this.#pending = undefined;
    if (!listed) return;
    const previous = this.#current;
    this.#current = next;
    this.#synced = true;
    this.#failures = 0;
    const events = buffered;
    buffered = undefined;
    for (const [event, object] of events) options.onEvent(event, object);
    if (previous) {
      await previous.stop();
      const present = new Set(next.list().map(keyOf));
      for (const object of previous.list()) {
        if (!present.has(keyOf(object))) options.onEvent("delete", object);
      }
    }
  }

  #failed(listWatch: ListWatch<T>, error: unknown): void {
    if (this.#stopped || (listWatch !== this.#current && listWatch !== this.#pending)) return;
    if (listWatch === this.#pending) this.#pending = undefined;
    void listWatch.stop();
    this.errors += 1;
    this.#failures += 1;
    const delay = backoffDelay(
      this.#failures,
      this.#options.restartBaseMs ?? 1000,
      this.#options.restartMaxMs ?? 30_000,
    );
    this.#options.log.warn(
      { informer: this.#options.name, error: describeApiError(error), retryInMs: delay },
      "informer failed; restarting with a fresh list",
    );
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => void this.#connect(), delay);
    this.#restartTimer.unref();
  }
}
