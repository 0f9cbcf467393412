import type { CoreV1Api } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { EngineProgress } from "../../api/status.ts";
import { ENGINE_CONTAINER_NAME } from "../job-builder.ts";
import { latestProgress } from "../run-progress-log.ts";
import { callOptions, describeApiError } from "../runtime/kube-api.ts";

/** How often the log of a running run is read: the engine logs progress every 10 s by default. */
export const ENGINE_PROGRESS_INTERVAL_MS = 15_000;
/** Lines read from the end of the log: the engine logs little between two progress lines. */
const TAIL_LINES = 20;
/** A log read is a nicety: it must never hold up a reconcile for long. */
const READ_TIMEOUT_MS = 5_000;
/** Bytes read at most (a tail of 20 engine log lines is far below). */
const LIMIT_BYTES = 64 * 1024;

/**
 * Reads the running engine's latest progress from its pod's log (pods/log get, a short tail), at most once per
 * interval per pod. A read that fails (the kubelet is slow, the container restarted) is logged at debug and yields
 * nothing: progress is for people watching, the run's outcome never depends on it.
 */
export class EngineProgressReader {
  readonly #core: CoreV1Api;
  readonly #log: Logger;
  readonly #intervalMs: number;
  /** namespace/pod → when its log was last read (ms). */
  readonly #lastRead = new Map<string, number>();

  constructor(core: CoreV1Api, log: Logger, intervalMs = ENGINE_PROGRESS_INTERVAL_MS) {
    this.#core = core;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** The latest progress in the pod's log, or undefined when none is due, none is logged yet or the read failed. */
  async read(namespace: string, podName: string, now: Date): Promise<EngineProgress | undefined> {
    const key = `${namespace}/${podName}`;
    const last = this.#lastRead.get(key);
    // A little slack: a requeue after exactly the interval must not find the read "not yet due".
    if (last !== undefined && now.getTime() - last < this.#intervalMs - 1_000) return undefined;
    this.#lastRead.set(key, now.getTime());
    this.#forgetOld(now.getTime());
    try {
      const tail = await this.#core.readNamespacedPodLog(
        { name: podName, namespace, container: ENGINE_CONTAINER_NAME, tailLines: TAIL_LINES, limitBytes: LIMIT_BYTES },
        callOptions({ timeoutMs: READ_TIMEOUT_MS }),
      );
      return latestProgress(typeof tail === "string" ? tail : String(tail));
    } catch (error) {
      this.#log.debug({ namespace, pod: podName, err: describeApiError(error) }, "reading run progress failed");
      return undefined;
    }
  }

  /** Pods not read for a long time are long gone: their entries go, so the map stays as small as the active runs. */
  #forgetOld(nowMs: number): void {
    for (const [key, at] of this.#lastRead) {
      if (nowMs - at > 20 * this.#intervalMs) this.#lastRead.delete(key);
    }
  }
}
