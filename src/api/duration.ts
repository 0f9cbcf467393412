import { z } from "zod";
import { parseDurationSeconds } from "../util/duration.ts";

/**
 * Durations in the spec are Go-style strings of whole hours, minutes and seconds in that order (`24h5m`, `90m`,
 * `30s`): the grammar of src/util/duration.ts, which Kubernetes CEL's `duration()` reads alike.
 */
export const DURATION_PATTERN = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** Seconds in a spec duration string, or undefined when it is not one (no surrounding whitespace allowed). */
export function specDurationSeconds(input: string): number | undefined {
  if (input === "" || !DURATION_RE.test(input)) return undefined;
  return parseDurationSeconds(input);
}

/**
 * A zod string schema for a duration within [min, max] (both duration strings). The bounds are also emitted as a
 * CEL rule so that the API server rejects out-of-range values before the operator sees them.
 */
export function durationSchema(min: string, max: string) {
  const minSeconds = parseDurationSeconds(min);
  const maxSeconds = parseDurationSeconds(max);
  return z
    .string()
    .min(2)
    .regex(DURATION_RE)
    .refine(
      (value) => {
        const seconds = specDurationSeconds(value);
        return seconds !== undefined && seconds >= minSeconds && seconds <= maxSeconds;
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
