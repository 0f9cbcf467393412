/** One field of a fixed-layout binary header: byte offset and size. */
export type Field = { readonly offset: number; readonly size: number };

/**
 * States a fixed-layout header next to its size, PBS style: the fields must be listed in order, be contiguous from
 * offset 0 and add up to exactly `totalSize`. A mistake in a table fails at import time, not in a parser.
 */
export function assertLayout<const F extends Record<string, Field>>(name: string, totalSize: number, fields: F): F {
  let expected = 0;
  for (const [field, { offset, size }] of Object.entries(fields)) {
    if (offset !== expected || size <= 0) {
      throw new Error(`layout ${name}: field ${field} at ${offset} (size ${size}) does not follow at ${expected}`);
    }
    expected = offset + size;
  }
  if (expected !== totalSize) {
    throw new Error(`layout ${name}: fields add up to ${expected} bytes, the header is ${totalSize}`);
  }
  return fields;
}

/** Whether `bytes` starts with `magic`. */
export function hasMagic(bytes: Uint8Array, magic: Uint8Array): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) {
    if (bytes[i] !== magic[i]) return false;
  }
  return true;
}

/** A DataView over exactly the bytes of `bytes` (which may be a view into a larger buffer). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads a u64 LE that must fit a JavaScript number exactly, without allocating a BigInt; undefined if it does not. */
export function readSafeU64(view: DataView, offset: number): number | undefined {
  const low = view.getUint32(offset, true);
  const high = view.getUint32(offset + 4, true);
  if (high > 0x1fffff) return undefined; // above 2^53 - 1
  return high * 0x1_0000_0000 + low;
}

/** Writes a non-negative safe integer as u64 LE. */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x1_0000_0000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** Hex of a byte range, for error messages. */
export function hexOf(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.max(0, Math.min(end, bytes.length) - start)).toString(
    "hex",
  );
}
