/**
 * Times as chunkgc reads and writes them: one parser for what the Kubernetes client hands over, one RFC 3339 writer
 * with second precision (as Kubernetes writes times), one writer for the engine's whole-second cutoffs.
 */

/** A Date from whatever the client hands over (typed lists give Dates, watch events RFC 3339 strings), or undefined. */
export function toDate(value: unknown): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = value instanceof Date ? value : typeof value === "string" ? new Date(value) : undefined;
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

/** RFC 3339 in UTC with second precision: the time rounded down to its second, no fraction ("…T03:30:00Z"). */
export function rfc3339Seconds(date: Date): string {
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** An epoch-seconds time (the engine's cutoffs and marks) as the ISO 8601 string the run report carries. */
export function isoOfEpochSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
