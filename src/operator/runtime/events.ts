import { randomBytes } from "node:crypto";
import { type EventsV1Event, V1MicroTime } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { callOptions, describeApiError, isNotFound, type KubeClients } from "./kube-api.ts";

/**
 * Kubernetes Events (events.k8s.io/v1) for the operator's decisions, regarding the object they concern. The same
 * event repeated within a window becomes a series (count and last time) instead of a new object, as client-go's
 * recorder does. Recording never fails a reconcile: errors are logged. Notes name objects, never a Secret's content.
 */

export interface EventNote {
  readonly type: "Normal" | "Warning";
  /** CamelCase: RunStarted, RunSucceeded, RunFailed, RunSkipped, Blocked, InvalidSpec, SecretNotFound, … */
  readonly reason: string;
  /** What the operator did or decided: StartRun, RecordRun, Schedule, Lock, Validate, CheckDependencies, … */
  readonly action: string;
  readonly note: string;
  /** A second object the event is about (the run's Job). */
  readonly related?: { apiVersion: string; kind: string; name: string; namespace: string };
}

export interface Regarding {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion?: string;
}

export const REPORTING_CONTROLLER = "chunkgc.io/operator";
const NOTE_LIMIT = 1024;
const SERIES_WINDOW_MS = 10 * 60_000;
const SERIES_CACHE_LIMIT = 4096;

interface Series {
  readonly namespace: string;
  readonly name: string;
  count: number;
  readonly first: number;
}

function shorten(text: string): string {
  if (Buffer.byteLength(text) <= NOTE_LIMIT) return text;
  let cut = text.slice(0, NOTE_LIMIT - 3);
  while (Buffer.byteLength(cut) > NOTE_LIMIT - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}

export class EventRecorder {
  readonly #clients: KubeClients;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #series = new Map<string, Series>();

  constructor(options: { clients: KubeClients; instance: string; log: Logger }) {
    this.#clients = options.clients;
    this.#instance = options.instance.slice(0, 128);
    this.#log = options.log;
  }

  async record(regarding: Regarding, event: EventNote, now = new Date()): Promise<void> {
    const note = shorten(event.note);
    const key = [regarding.uid, event.type, event.reason, note].join("\u0000");
    this.#log.info(
      { namespace: regarding.namespace, name: regarding.name, event: event.reason, type: event.type },
      note,
    );
    try {
      const previous = this.#series.get(key);
      if (previous && now.getTime() - previous.first < SERIES_WINDOW_MS) {
        previous.count += 1;
        const patched = await this.#patchSeries(previous, now);
        if (patched) return;
      }
      await this.#create(regarding, event, note, key, now);
    } catch (error) {
      this.#log.warn({ event: event.reason, error: describeApiError(error) }, "could not record an event");
    }
  }

  async #patchSeries(series: Series, now: Date): Promise<boolean> {
    try {
      await this.#clients.events.patchNamespacedEvent(
        {
          name: series.name,
          namespace: series.namespace,
          body: { series: { count: series.count, lastObservedTime: new V1MicroTime(now.getTime()) } },
        },
        callOptions({ mergePatch: true }),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async #create(regarding: Regarding, event: EventNote, note: string, key: string, now: Date): Promise<void> {
    const name = `${regarding.name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`;
    const body: EventsV1Event = {
      metadata: { name, namespace: regarding.namespace },
      eventTime: new V1MicroTime(now.getTime()),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#instance,
      action: event.action,
      reason: event.reason,
      note,
      type: event.type,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        namespace: regarding.namespace,
        name: regarding.name,
        uid: regarding.uid,
        ...(regarding.resourceVersion ? { resourceVersion: regarding.resourceVersion } : {}),
      },
      ...(event.related ? { related: { ...event.related } } : {}),
    };
    await this.#clients.events.createNamespacedEvent({ namespace: regarding.namespace, body }, callOptions());
    if (this.#series.size >= SERIES_CACHE_LIMIT) {
      const oldest = this.#series.keys().next().value;
      if (oldest !== undefined) this.#series.delete(oldest);
    }
    this.#series.set(key, { namespace: regarding.namespace, name, count: 1, first: now.getTime() });
  }
}
