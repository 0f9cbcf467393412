/** Lease views at fixed times, shared by the Lease decision tests of the runtime and of the datastore Leases. */
import type { LeaseView } from "../../../src/operator/runtime/lease.ts";

const T = Date.parse("2025-03-01T03:00:00Z");

/** The instant `seconds` after the tests' reference time. */
export const at = (seconds: number): Date => new Date(T + seconds * 1000);

/** A Lease held by `holder`, last renewed at `renewedAt` seconds, for `duration` seconds. */
export const held = (holder: string, renewedAt: number, duration = 60): LeaseView => ({
  holder,
  renewTime: at(renewedAt),
  acquireTime: at(renewedAt - 100),
  durationSeconds: duration,
  transitions: 2,
});
