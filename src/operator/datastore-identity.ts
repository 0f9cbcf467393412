import { createHash } from "node:crypto";

/**
 * The identity of a datastore (docs/gc-semantics.md#datastore-lock): endpoint + bucket + store. Two
 * GarbageCollections with the same identity,
 * in any namespace, collect the same chunks and must never run at once; the operator serializes them with a Lease
 * whose name is derived here. Spellings of the same endpoint (case of the host, a default port, a trailing slash)
 * are one identity; region and path-style addressing are not part of it.
 */

export interface DatastoreRef {
  endpoint: string;
  bucket: string;
  store: string;
}

export interface DatastoreIdentity {
  /** scheme://host[:port][/path], lower-case host, no default port, no trailing slash. */
  endpoint: string;
  bucket: string;
  store: string;
}

export class InvalidEndpointError extends Error {
  readonly endpoint: string;
  constructor(endpoint: string, problem: string) {
    super(`invalid S3 endpoint ${JSON.stringify(endpoint)}: ${problem}`);
    this.name = "InvalidEndpointError";
    this.endpoint = endpoint;
  }
}

export const LEASE_PREFIX = "chunkgc-";
const HASH_HEX_CHARS = 16;
const STORE_PART_MAX = 20;

export function normalizeEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InvalidEndpointError(endpoint, "not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new InvalidEndpointError(endpoint, "the scheme must be http or https");
  }
  if (url.username !== "" || url.password !== "") {
    throw new InvalidEndpointError(endpoint, "credentials belong in the Secret, not the URL");
  }
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}${path}`;
}

export function datastoreIdentity(ref: DatastoreRef): DatastoreIdentity {
  return { endpoint: normalizeEndpoint(ref.endpoint), bucket: ref.bucket, store: ref.store };
}

/** A canonical, unambiguous string of the identity (for logs, Lease annotations and the hash). */
export function datastoreKey(ref: DatastoreRef): string {
  const identity = datastoreIdentity(ref);
  return JSON.stringify([identity.endpoint, identity.bucket, identity.store]);
}

/** 16 hex characters of SHA-256 over the canonical identity: a valid label value. */
export function datastoreHash(ref: DatastoreRef): string {
  return createHash("sha256").update(datastoreKey(ref)).digest("hex").slice(0, HASH_HEX_CHARS);
}

/**
 * The Lease name of a datastore: `chunkgc-<store, sanitized>-<hash>`, a DNS-1123 label (≤ 63 characters) that is the
 * same for every spelling of the identity and different for different identities (the store part is only a hint
 * for humans; the hash decides).
 */
export function datastoreLeaseName(ref: DatastoreRef): string {
  const hint = ref.store
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, STORE_PART_MAX)
    .replace(/^-+|-+$/g, "");
  return `${LEASE_PREFIX}${hint === "" ? "" : `${hint}-`}${datastoreHash(ref)}`;
}
