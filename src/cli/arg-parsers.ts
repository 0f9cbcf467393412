import { InvalidArgumentError } from "commander";
import { parseDurationSeconds } from "../util/duration.ts";

/** Parsers for commander options: a bad value is a usage error naming the flag. */

export function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1)
      throw new InvalidArgumentError(`${flag} takes a whole number ≥ 1, got "${value}"`);
    return parsed;
  };
}

export function nonNegativeInteger(flag: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 0)
      throw new InvalidArgumentError(`${flag} takes a whole number ≥ 0, got "${value}"`);
    return parsed;
  };
}

/** A Go-style duration ("24h5m", "90s") as seconds. */
export function durationSeconds(flag: string): (value: string) => number {
  return (value) => {
    try {
      return parseDurationSeconds(value);
    } catch (error) {
      throw new InvalidArgumentError(`${flag}: ${(error as Error).message}`);
    }
  };
}
