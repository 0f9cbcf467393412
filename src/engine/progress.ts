import type { Logger } from "pino";

/**
 * Progress of a long phase on stderr (through the logger): keys done, rate, and an ETA when the total is known.
 * Logs at most every `everyMs`, so a million keys make a few dozen lines, not a million.
 */
export class Progress {
  private done = 0;
  private lastLog = 0;
  private readonly started = Date.now();
  private readonly log: Logger;
  private readonly phase: string;
  private readonly everyMs: number;
  total: number | undefined;

  constructor(log: Logger, phase: string, options: { total?: number; everyMs?: number } = {}) {
    this.log = log;
    this.phase = phase;
    this.total = options.total;
    this.everyMs = options.everyMs ?? 5000;
  }

  advance(count = 1): void {
    this.done += count;
    const now = Date.now();
    if (now - this.lastLog >= this.everyMs) {
      this.lastLog = now;
      this.log.info(this.figures(now), `${this.phase}: ${this.done}${this.total ? ` of ${this.total}` : ""}`);
    }
  }

  finish(): { done: number; ms: number } {
    const now = Date.now();
    this.log.info(this.figures(now), `${this.phase} done: ${this.done}`);
    return { done: this.done, ms: now - this.started };
  }

  private figures(now: number) {
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = Math.round(this.done / seconds);
    const remaining = this.total !== undefined ? Math.max(0, this.total - this.done) : undefined;
    return {
      phase: this.phase,
      done: this.done,
      ...(this.total !== undefined ? { total: this.total } : {}),
      ratePerSecond: rate,
      ...(remaining !== undefined && rate > 0 ? { etaSeconds: Math.round(remaining / rate) } : {}),
    };
  }
}
