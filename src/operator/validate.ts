import type { z } from "zod";
import { type GarbageCollectionMeta, ObjectMetaSchema } from "../api/garbage-collection.ts";
import { type GarbageCollectionSpec, GarbageCollectionSpecSchema } from "../api/spec.ts";
import { type GarbageCollectionStatus, GarbageCollectionStatusSchema } from "../api/status.ts";
import { datastoreHash, datastoreKey, datastoreLeaseName, InvalidEndpointError } from "./datastore-identity.ts";
import { type CronSchedule, parseSchedule } from "./schedule.ts";

/**
 * What the operator reads from a GarbageCollection object, checked: its metadata (or nothing can be done), its spec
 * (invalid → Stalled/InvalidSpec, no Job), its status (leniently: an unreadable status is treated as empty), the
 * parsed schedule and the datastore's Lease name. Pure.
 */

export interface ValidResource {
  readonly meta: GarbageCollectionMeta;
  readonly spec: GarbageCollectionSpec;
  readonly schedule?: CronSchedule;
  readonly leaseName: string;
  readonly datastoreHash: string;
  /** Canonical datastore identity, for logs and the Lease annotation. */
  readonly datastoreKey: string;
}

export type SpecValidation = { ok: true; resource: ValidResource } | { ok: false; message: string };

/** At most this many problems are listed in a message. */
const MAX_ISSUES = 5;

export function formatIssues(prefix: string, error: z.ZodError): string {
  const issues = error.issues.slice(0, MAX_ISSUES).map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== "").join(".");
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > MAX_ISSUES ? ` (and ${error.issues.length - MAX_ISSUES} more)` : "";
  return `${issues.join("; ")}${more}`;
}

/** The metadata the operator needs, or undefined for an object it cannot address. */
export function readMeta(raw: unknown): GarbageCollectionMeta | undefined {
  const parsed = ObjectMetaSchema.safeParse((raw as { metadata?: unknown } | undefined)?.metadata);
  return parsed.success ? parsed.data : undefined;
}

/** The status as the operator wrote it; undefined when absent or unreadable. */
export function readStatus(raw: unknown): GarbageCollectionStatus | undefined {
  const status = (raw as { status?: unknown } | undefined)?.status;
  if (status === undefined || status === null) return undefined;
  const parsed = GarbageCollectionStatusSchema.safeParse(status);
  return parsed.success ? parsed.data : undefined;
}

export function validateSpec(meta: GarbageCollectionMeta, rawSpec: unknown): SpecValidation {
  const parsed = GarbageCollectionSpecSchema.safeParse(rawSpec ?? {});
  if (!parsed.success) return { ok: false, message: formatIssues("spec", parsed.error) };
  const spec = parsed.data;
  let schedule: CronSchedule | undefined;
  if (spec.schedule !== undefined) {
    try {
      schedule = parseSchedule(spec.schedule, spec.timeZone);
    } catch (error) {
      return { ok: false, message: `spec.schedule: ${(error as Error).message}` };
    }
  }
  let leaseName: string;
  try {
    leaseName = datastoreLeaseName(spec.datastore.s3);
  } catch (error) {
    const message = error instanceof InvalidEndpointError ? redactEndpoint(error) : (error as Error).message;
    return { ok: false, message: `spec.datastore.s3.endpoint: ${message}` };
  }
  return {
    ok: true,
    resource: {
      meta,
      spec,
      schedule,
      leaseName,
      datastoreHash: datastoreHash(spec.datastore.s3),
      datastoreKey: datastoreKey(spec.datastore.s3),
    },
  };
}

/** The error's message with any user:password in the endpoint masked: it goes to status and Events. */
function redactEndpoint(error: InvalidEndpointError): string {
  const masked = JSON.stringify(error.endpoint.replace(/^([a-z]+:\/\/)[^/@]*@/i, "$1***@"));
  return error.message.split(JSON.stringify(error.endpoint)).join(masked);
}
