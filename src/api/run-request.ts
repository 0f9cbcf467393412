import { createHash } from "node:crypto";

/** Longest run-request value echoed verbatim in status; longer values are echoed as their SHA-256. */
export const RUN_REQUEST_VERBATIM_LIMIT = 256;

/**
 * How a `chunkgc.io/run-requested` value is remembered in `status.lastHandledRunRequest` (and compared with the
 * annotation): the value itself, or `sha256:<hex>` when it is too long to echo. Empty and whitespace-only values
 * request nothing (undefined).
 */
export function runRequestToken(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (value.length <= RUN_REQUEST_VERBATIM_LIMIT) return value;
  return `sha256:${createHash("sha256").update(value).digest("hex")}`;
}

/** The token of an annotation value that has not been handled yet, or undefined when there is nothing to do. */
export function pendingRunRequest(
  annotations: Readonly<Record<string, string>> | undefined,
  lastHandled: string | undefined,
  annotation: string,
): string | undefined {
  const token = runRequestToken(annotations?.[annotation]);
  return token !== undefined && token !== lastHandled ? token : undefined;
}
