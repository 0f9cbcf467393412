import { channel } from "node:diagnostics_channel";
import type { Logger } from "pino";

/** Where progress snapshots are published; a CLI renderer subscribes (see src/cli/progress-renderer.ts). */
export const PROGRESS_CHANNEL = "chunkgc:progress";

/** One look at a long phase: what a live line or a structured log shows. */
export interface ProgressSnapshot {
  readonly phase: string;
  /** Objects done: index files in the mark phase, listed chunk keys in the sweep. */
  readonly done: number;
  readonly total?: number;
  /** The total is an estimate (the sweep's: the chunks the mark phase expects to be listed), not a count. */
  readonly estimated?: boolean;
  readonly percent?: number;
  readonly ratePerSecond: number;
  readonly etaSeconds?: number;
  readonly elapsedSeconds: number;
  /** The phase is over (the last snapshot of it). */
  readonly finished: boolean;
}

const progressChannel = channel(PROGRESS_CHANNEL);
/** Snapshots are published at most this often: a renderer redraws a line, it needs no more. */
const PUBLISH_EVERY_MS = 200;

/**
 * Progress of a long phase: keys done, rate, and an ETA when the total is known. With a subscriber on
 * PROGRESS_CHANNEL (the CLI's renderer) snapshots go there; without one, they are logged at most every `everyMs`, so a
 * million keys make a few dozen lines, not a million.
 */
export class Progress {
  private done = 0;
  private lastLog = 0;
  private lastPublish = 0;
  private readonly started = Date.now();
  private readonly log: Logger;
  private readonly phase: string;
  private readonly everyMs: number;
  total: number | undefined;
  private readonly estimated: boolean;

  constructor(log: Logger, phase: string, options: { total?: number; estimated?: boolean; everyMs?: number } = {}) {
    this.log = log;
    this.phase = phase;
    this.total = options.total;
    this.estimated = options.estimated ?? false;
    this.everyMs = options.everyMs ?? 5000;
  }

  advance(count = 1): void {
    this.done += count;
    const now = Date.now();
    if (progressChannel.hasSubscribers) {
      if (now - this.lastPublish >= PUBLISH_EVERY_MS) {
        this.lastPublish = now;
        progressChannel.publish(this.snapshot(now, false));
      }
      return;
    }
    if (now - this.lastLog >= this.everyMs) {
      this.lastLog = now;
      this.log.info(this.snapshot(now, false), `${this.phase}: ${this.done}${this.total ? ` of ${this.total}` : ""}`);
    }
  }

  finish(): { done: number; ms: number } {
    const now = Date.now();
    const snapshot = this.snapshot(now, true);
    if (progressChannel.hasSubscribers) progressChannel.publish(snapshot);
    this.log.info(snapshot, `${this.phase} done: ${this.done}`);
    return { done: this.done, ms: now - this.started };
  }

  snapshot(now = Date.now(), finished = false): ProgressSnapshot {
    return progressSnapshot(this.phase, this.done, this.total, now - this.started, finished, this.estimated);
  }
}

/** A percent an estimate may not claim: a phase whose count reached its estimate is not done until it says so. */
const ESTIMATED_PERCENT_CAP = 99;

/**
 * The sweep's expected total: every chunk the mark table holds (marked by this run or carried in the marker cache)
 * should be listed once; garbage comes on top, so the estimate is low by the garbage share (PBS datastores keep it to
 * a few percent). Undefined with an empty table: nothing to go by.
 */
export function sweepTotalEstimate(tableEntries: number): number | undefined {
  return tableEntries > 0 ? tableEntries : undefined;
}

/** The figures of a phase after `elapsedMs`: rate, percent and ETA (the latter two only with a known total). */
export function progressSnapshot(
  phase: string,
  done: number,
  total: number | undefined,
  elapsedMs: number,
  finished: boolean,
  estimated = false,
): ProgressSnapshot {
  const seconds = Math.max(0.001, elapsedMs / 1000);
  const rate = Math.round(done / seconds);
  // An estimate the count has passed (more garbage than expected) moves up with the count; at the end it is the count.
  const shown = total === undefined ? undefined : estimated && (finished || done > total) ? done : total;
  const remaining = shown !== undefined ? Math.max(0, shown - done) : undefined;
  let percent = shown === undefined ? undefined : shown > 0 ? Math.min(100, Math.floor((done * 100) / shown)) : 100;
  if (percent !== undefined && estimated && !finished) percent = Math.min(ESTIMATED_PERCENT_CAP, percent);
  // Past its estimate a phase has no ETA: the rest is unknown, not zero.
  const knowsRest = remaining !== undefined && rate > 0 && !(estimated && remaining === 0 && !finished);
  return {
    phase,
    done,
    ...(shown !== undefined ? { total: shown, ...(estimated ? { estimated: true } : {}), percent } : {}),
    ratePerSecond: rate,
    ...(knowsRest ? { etaSeconds: Math.round(remaining / rate) } : {}),
    elapsedSeconds: Math.round(seconds),
    finished,
  };
}
