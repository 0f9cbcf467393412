import { randomUUID } from "node:crypto";
import { KeyFormatError } from "./errors.ts";

export const UUID_SIZE = 16;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Canonical 8-4-4-4-12 lowercase hex form of the 16 bytes at `offset`. */
export function uuidFromBytes(bytes: Uint8Array, offset: number): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset + offset, UUID_SIZE).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Writes a uuid given in canonical form (either case) into `target` at `offset`. */
export function writeUuid(uuid: string, target: Uint8Array, offset: number): void {
  const lower = uuid.toLowerCase();
  if (!UUID_RE.test(lower)) {
    throw new KeyFormatError(uuid, "not a uuid (expected 8-4-4-4-12 hex digits)");
  }
  target.set(Buffer.from(lower.replaceAll("-", ""), "hex"), offset);
}

/** A fresh random uuid (v4), used when a writer is not given one. */
export function newUuid(): string {
  return randomUUID();
}
