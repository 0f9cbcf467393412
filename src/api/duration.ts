import { z } from "zod";

/**
 * Durations in the spec are Go-style strings restricted to whole hours, minutes and seconds in that order
 * (`24h5m`, `90m`, `30s`), the subset that Kubernetes CEL's `duration()` and `kubectl` users read alike.
 */
export const DURATION_PATTERN = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
const DURATION_RE = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A duration string that is not `<h>h<m>m<s>s`; names the input so the user sees what was wrong. */
export class InvalidDurationError extends Error {
  readonly input: string;
  constructor(input: string) {
    super(`invalid duration ${JSON.stringify(input)}: expected whole hours, minutes and seconds such as "24h5m"`);
    this.name = "InvalidDurationError";
    this.input = input;
  }
}

/** Milliseconds in a duration string, or undefined when it is not one. */
export function tryParseDuration(input: string): number | undefined {
  const match = DURATION_RE.exec(input);
  if (match === null || input.length === 0) return undefined;
  const [, h = "0", m = "0", s = "0"] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000;
}

export function parseDuration(input: string): number {
  const ms = tryParseDuration(input);
  if (ms === undefined) throw new InvalidDurationError(input);
  return ms;
}

/** The canonical form (`24h5m`, `1h`, `0s`) of a number of milliseconds, rounded down to whole seconds. */
export function formatDuration(ms: number): string {
  let seconds = Math.floor(ms / 1000);
  if (seconds <= 0) return "0s";
  const h = Math.floor(seconds / 3600);
  seconds -= h * 3600;
  const m = Math.floor(seconds / 60);
  seconds -= m * 60;
  return `${h > 0 ? `${h}h` : ""}${m > 0 ? `${m}m` : ""}${seconds > 0 ? `${seconds}s` : ""}`;
}

/**
 * A zod string schema for a duration within [min, max] (both duration strings). The bounds are also emitted as a
 * CEL rule so that the API server rejects out-of-range values before the operator sees them.
 */
export function durationSchema(min: string, max: string) {
  const minMs = parseDuration(min);
  const maxMs = parseDuration(max);
  return z
    .string()
    .min(2)
    .regex(new RegExp(DURATION_PATTERN))
    .refine(
      (value) => {
        const ms = tryParseDuration(value);
        return ms !== undefined && ms >= minMs && ms <= maxMs;
      },
      { message: `must be a duration between ${min} and ${max} (such as "24h5m")` },
    )
    .meta({
      "x-kubernetes-validations": [
        {
          rule: `duration(self) >= duration('${min}') && duration(self) <= duration('${max}')`,
          message: `must be a duration between ${min} and ${max}`,
        },
      ],
    });
}
