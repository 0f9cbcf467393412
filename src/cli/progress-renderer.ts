import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Logger } from "pino";
import { PROGRESS_CHANNEL, type ProgressSnapshot } from "../engine/progress.ts";

/** Where progress goes: a terminal gets one live line, anything else (a pod's log) structured JSON every N seconds. */
export interface ProgressTarget {
  readonly isTTY?: boolean;
  /** Terminal width, for cutting the live line. */
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressRendererOptions {
  readonly log: Logger;
  readonly target?: ProgressTarget;
  /** Without a terminal: one progress log line per phase at most this often (and one when a phase ends). */
  readonly intervalMs: number;
  readonly now?: () => number;
}

const pad2 = (value: number) => String(value).padStart(2, "0");

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours > 0 ? `${hours}:${pad2(minutes)}:${pad2(s % 60)}` : `${minutes}:${pad2(s % 60)}`;
}

const UNIT: Readonly<Record<string, string>> = { mark: "indexes", sweep: "chunk keys" };

/**
 * The live line: `sweep  412 000 / ~660 000 chunk keys  28 403/s  62%  ETA 0:14` (percent and ETA with a known or
 * estimated total; `~` marks an estimate).
 */
export function formatProgressLine(snapshot: ProgressSnapshot): string {
  const count = (value: number) => value.toLocaleString("en-US").replaceAll(",", " ");
  const unit = UNIT[snapshot.phase] ?? "objects";
  const parts = [
    snapshot.phase.padEnd(5),
    `${count(snapshot.done)}${snapshot.total !== undefined ? ` / ${snapshot.estimated ? "~" : ""}${count(snapshot.total)}` : ""} ${unit}`,
    `${count(snapshot.ratePerSecond)}/s`,
  ];
  if (snapshot.percent !== undefined) parts.push(`${snapshot.percent}%`);
  if (snapshot.finished) parts.push(`done in ${formatEta(snapshot.elapsedSeconds)}`);
  else if (snapshot.etaSeconds !== undefined) parts.push(`ETA ${formatEta(snapshot.etaSeconds)}`);
  return parts.join("  ");
}

/**
 * Shows the engine's progress while a command runs; returns the function that stops it. On a terminal the line is
 * redrawn in place (`\r`, erase line) and left standing when its phase ends; otherwise progress is logged as
 * `{"msg":"progress","progress":{phase,done,total,percent,ratePerSecond,etaSeconds,...}}` every `intervalMs`, the
 * line an operator or a log pipeline reads.
 */
export function attachProgressRenderer(options: ProgressRendererOptions): () => void {
  const target = options.target ?? process.stderr;
  const now = options.now ?? Date.now;
  const lastLogged = new Map<string, number>();
  let lineOpen = false;
  const onSnapshot = (message: unknown) => {
    const snapshot = message as ProgressSnapshot;
    if (target.isTTY) {
      const width = Math.max(20, (target.columns ?? 100) - 1);
      target.write(`\r\x1b[2K${formatProgressLine(snapshot).slice(0, width)}${snapshot.finished ? "\n" : ""}`);
      lineOpen = !snapshot.finished;
      return;
    }
    const at = now();
    const last = lastLogged.get(snapshot.phase);
    if (snapshot.finished || last === undefined || at - last >= options.intervalMs) {
      lastLogged.set(snapshot.phase, at);
      options.log.info({ progress: snapshot }, "progress");
    }
  };
  subscribe(PROGRESS_CHANNEL, onSnapshot);
  return () => {
    unsubscribe(PROGRESS_CHANNEL, onSnapshot);
    if (lineOpen) target.write("\n");
  };
}
