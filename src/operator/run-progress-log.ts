import { z } from "zod";
import type { EngineProgress } from "../api/status.ts";
import { rfc3339Seconds, toDate } from "../util/time.ts";

/**
 * The engine's latest progress from the tail of its run pod's log, pure. Without a terminal `chunkgc gc` logs a JSON
 * line `{"time":…,"msg":"progress","progress":{phase,done,total,estimated,percent,ratePerSecond,etaSeconds,…}}`
 * every --progress-interval (src/cli/progress-renderer.ts); the operator reads the last few lines and shows the
 * newest progress in status.activeRun.progress. Anything else in the tail (other log lines, a line cut by the tail,
 * a line from a newer or older engine that does not fit) is skipped, never an error.
 */

const count = z.number().int().nonnegative();
const LoggedProgressSchema = z.object({
  phase: z.string().min(1).max(32),
  done: count,
  total: count.optional(),
  estimated: z.boolean().optional(),
  percent: z.number().int().min(0).max(100).optional(),
  ratePerSecond: count,
  etaSeconds: count.optional(),
  finished: z.boolean().optional(),
});
const ProgressLineSchema = z.object({
  msg: z.literal("progress"),
  time: z.union([z.string(), z.number()]),
  progress: LoggedProgressSchema,
});

const pad2 = (value: number) => String(value).padStart(2, "0");

/** 75 → "1:15", 3725 → "1:02:05" (as the engine's live line writes an ETA). */
function duration(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours > 0 ? `${hours}:${pad2(minutes)}:${pad2(seconds % 60)}` : `${minutes}:${pad2(seconds % 60)}`;
}

/** "sweep 62% ETA 0:14", "sweep 412000 listed", "mark done": what a printer column has room for. */
export function progressText(progress: z.infer<typeof LoggedProgressSchema>): string {
  if (progress.finished) return `${progress.phase} done`;
  const parts = [progress.phase];
  parts.push(progress.percent !== undefined ? `${progress.percent}%` : `${progress.done} done`);
  if (progress.etaSeconds !== undefined) parts.push(`ETA ${duration(progress.etaSeconds)}`);
  return parts.join(" ");
}

/** The progress one log line carries, if it is a progress line of the engine. */
export function parseProgressLine(line: string): EngineProgress | undefined {
  const text = line.trim();
  if (!text.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ProgressLineSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const loggedAt = toDate(typeof parsed.data.time === "number" ? new Date(parsed.data.time) : parsed.data.time);
  if (loggedAt === undefined) return undefined;
  const { progress } = parsed.data;
  return {
    phase: progress.phase,
    done: progress.done,
    ...(progress.total !== undefined ? { total: progress.total } : {}),
    ...(progress.estimated ? { estimated: true } : {}),
    ...(progress.percent !== undefined ? { percent: progress.percent } : {}),
    ratePerSecond: progress.ratePerSecond,
    ...(progress.etaSeconds !== undefined ? { etaSeconds: progress.etaSeconds } : {}),
    text: progressText(progress),
    loggedAt: rfc3339Seconds(loggedAt),
  };
}

/** The newest progress line of a log tail (the last one that parses), if any. */
export function latestProgress(logTail: string): EngineProgress | undefined {
  const lines = logTail.split("\n");
  for (let index = lines.length - 1; index >= 0; index -= 1) {
    const progress = parseProgressLine(lines[index]!);
    if (progress) return progress;
  }
  return undefined;
}
