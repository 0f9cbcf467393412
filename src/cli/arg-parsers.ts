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

const TRUE_WORDS = new Set(["true", "1", "yes"]);
const FALSE_WORDS = new Set(["false", "0", "no"]);

/**
 * Pure: a boolean setting's text, exactly `true/false/1/0/yes/no` in any case; anything else (empty included) is
 * undefined. Never "present means true": `CHUNKGC_ACKNOWLEDGE_IN_USE=false` must not acknowledge anything.
 */
export function parseBooleanText(value: string): boolean | undefined {
  const word = value.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/** A boolean option's value (`--flag`, `--flag=no`, or its environment variable), strictly parsed. */
export function booleanValue(flag: string): (value: string) => boolean {
  return (value) => {
    const parsed = parseBooleanText(value);
    if (parsed === undefined) {
      throw new InvalidArgumentError(`${flag} takes true/false/1/0/yes/no, got "${value}"`);
    }
    return parsed;
  };
}

/** A bad setting found after commander parsed the command line: exit code 2, like commander's own usage errors. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode = 2;
}

/** A boolean environment variable read outside commander: undefined when unset, a usage error naming it when bad. */
export function booleanFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const parsed = parseBooleanText(value);
  if (parsed === undefined) {
    throw new UsageError(`environment variable ${name} takes true/false/1/0/yes/no, got "${value}"`);
  }
  return parsed;
}
