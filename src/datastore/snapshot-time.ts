import { KeyFormatError } from "./errors.ts";

/** A snapshot directory is named by the backup's start time in UTC: `YYYY-MM-DDTHH:MM:SSZ`. */
export const SNAPSHOT_TIME_LENGTH = 20;

const SNAPSHOT_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** Seconds since the epoch of a snapshot directory name, or undefined if it is not a valid `YYYY-MM-DDTHH:MM:SSZ`. */
export function parseSnapshotTime(text: string): number | undefined {
  if (text.length !== SNAPSHOT_TIME_LENGTH) return undefined;
  const match = SNAPSHOT_TIME_RE.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0…99 to 1900…1999
  date.setUTCHours(hour, minute, second, 0);
  if (date.getUTCDate() !== day) return undefined; // e.g. February 30 rolled over
  return date.getTime() / 1000;
}

/** The snapshot directory name of a start time given in seconds since the epoch. */
export function formatSnapshotTime(epochSeconds: number): string {
  if (!Number.isInteger(epochSeconds)) {
    throw new KeyFormatError(String(epochSeconds), "snapshot time must be whole seconds");
  }
  const iso = new Date(epochSeconds * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ for years 0…9999
  if (iso.length !== 24) throw new KeyFormatError(String(epochSeconds), "snapshot time is outside years 0…9999");
  return `${iso.slice(0, 19)}Z`;
}
