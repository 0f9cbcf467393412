import { RUN_RESULT_MAX_BYTES, RUN_RESULT_VERSION, type RunResult, RunResultSchema } from "../api/run-result.ts";

/**
 * Reads the engine's compact result from a pod's termination message. Never throws: a missing, oversized, malformed
 * or invalid message is a clear reason for a Failed run. Reasons and messages never quote the message's content
 * (only the engine writes it, but a status is no place for arbitrary text); the one exception is the CLI's own error
 * line from a failed engine's log tail (engineErrorLine), bounded, which names the bad setting.
 */

export const RESULT_FAILURE_REASONS = [
  "ResultMissing",
  "ResultTooLarge",
  "ResultMalformed",
  "ResultVersionUnsupported",
  "ResultInvalid",
] as const;
export type ResultFailureReason = (typeof RESULT_FAILURE_REASONS)[number];

export type RunResultParse =
  | { ok: true; result: RunResult }
  | { ok: false; reason: ResultFailureReason; message: string };

const MAX_ISSUES_REPORTED = 3;

function failure(reason: ResultFailureReason, message: string): RunResultParse {
  return { ok: false, reason, message };
}

export function parseRunResult(terminationMessage: string | undefined | null): RunResultParse {
  if (terminationMessage === undefined || terminationMessage === null || terminationMessage.trim() === "") {
    return failure("ResultMissing", "the engine wrote no result to its termination message");
  }
  const bytes = Buffer.byteLength(terminationMessage);
  if (bytes > RUN_RESULT_MAX_BYTES) {
    return failure(
      "ResultTooLarge",
      `the termination message has ${bytes} bytes, more than the ${RUN_RESULT_MAX_BYTES} a result may have`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(terminationMessage);
  } catch {
    return failure("ResultMalformed", `the termination message (${bytes} bytes) is not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return failure("ResultMalformed", "the termination message is JSON but not an object");
  }
  const version = (value as { v?: unknown }).v;
  if (version !== RUN_RESULT_VERSION) {
    const seen = typeof version === "number" ? `version ${version}` : "no version";
    return failure(
      "ResultVersionUnsupported",
      `the result has ${seen}; this operator reads version ${RUN_RESULT_VERSION} (engine image and operator differ?)`,
    );
  }
  const parsed = RunResultSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const shown = issues
      .slice(0, MAX_ISSUES_REPORTED)
      .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
      .join("; ");
    const more = issues.length > MAX_ISSUES_REPORTED ? ` (and ${issues.length - MAX_ISSUES_REPORTED} more)` : "";
    return failure("ResultInvalid", `the result does not match the schema: ${shown}${more}`);
  }
  if (Date.parse(parsed.data.finishedAt) < Date.parse(parsed.data.startedAt)) {
    return failure("ResultInvalid", "the result finished before it started");
  }
  return { ok: true, result: parsed.data };
}

/** The longest engine error line a status quotes. */
export const ENGINE_ERROR_MAX_CHARS = 512;

/**
 * The engine's own error line from a failed container's log tail (terminationMessagePolicy FallbackToLogsOnError:
 * without a result file the kubelet keeps the last log lines). Only the lines the CLI writes for an error are
 * quoted: `chunkgc: <Error>: <message>` and commander's `error: <message>`; structured log lines never are. The last
 * such line wins (commander's help text may follow its error line).
 */
export function engineErrorLine(logTail: string | undefined): string | undefined {
  if (logTail === undefined) return undefined;
  const lines = logTail
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /^(chunkgc: |error: )/.test(line));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  const text = last.replace(/^chunkgc: /, "");
  return text.length <= ENGINE_ERROR_MAX_CHARS ? text : `${text.slice(0, ENGINE_ERROR_MAX_CHARS - 1)}…`;
}

/** True when an engine error line says it does not know an option or command (an image older than the operator). */
export function namesUnknownOption(line: string): boolean {
  return /\bunknown (option|command)\b/i.test(line);
}
