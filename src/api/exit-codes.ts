/** Process exit codes, distinct so that a Job, a script or the operator can tell outcomes apart. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** The engine refused to delete for safety (corrupt index, unacknowledged in-use datastore, …). */
  safetyAbort: 3,
  /** Another GC holds the datastore lock. */
  lockBusy: 4,
} as const;

/** Errors that carry their own exit code; anything else exits with {@link EXIT.error}. */
export interface ExitCoded {
  readonly exitCode: number;
}

export function exitCodeOf(error: unknown): number {
  if (typeof error === "object" && error !== null && "exitCode" in error && typeof error.exitCode === "number") {
    return error.exitCode;
  }
  return EXIT.error;
}
