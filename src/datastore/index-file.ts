import { DYNAMIC_INDEX_MAGIC, inspectDynamicIndex } from "./dynamic-index.ts";
import { IndexFormatError } from "./errors.ts";
import { FIXED_INDEX_MAGIC, inspectFixedIndex } from "./fixed-index.ts";
import type { IndexKind, InspectedIndex, ParsedIndex } from "./index-header.ts";
import { hasMagic, hexOf } from "./layout.ts";

export type IndexOptions = {
  /** When given (e.g. `indexKindOfFileName(key)`), a file whose magic says otherwise is rejected. */
  expectedKind?: IndexKind;
};

/** The index kind a file name's extension promises (`.fidx` / `.didx`), or undefined for any other file. */
export function indexKindOfFileName(name: string): IndexKind | undefined {
  if (name.endsWith(".fidx")) return "fixed";
  if (name.endsWith(".didx")) return "dynamic";
  return undefined;
}

/** The index kind the magic of `bytes` announces, or undefined. */
export function indexKindOfBytes(bytes: Uint8Array): IndexKind | undefined {
  if (hasMagic(bytes, FIXED_INDEX_MAGIC)) return "fixed";
  if (hasMagic(bytes, DYNAMIC_INDEX_MAGIC)) return "dynamic";
  return undefined;
}

/**
 * Validates an index of either kind (dispatching on its magic) and reports whether its checksum matches instead of
 * throwing on a mismatch. Every other defect throws an IndexFormatError naming `source`.
 */
export function inspectIndex(bytes: Uint8Array, source: string, options: IndexOptions = {}): InspectedIndex {
  const kind = indexKindOfBytes(bytes);
  if (kind === undefined) {
    const detail = bytes.length < 8 ? `truncated to ${bytes.length} bytes` : `unknown magic ${hexOf(bytes, 0, 8)}`;
    throw new IndexFormatError(source, `not a PBS index file: ${detail}`);
  }
  if (options.expectedKind !== undefined && options.expectedKind !== kind) {
    throw new IndexFormatError(source, `expected a ${options.expectedKind} index, the magic says ${kind}`);
  }
  return kind === "fixed" ? inspectFixedIndex(bytes, source) : inspectDynamicIndex(bytes, source);
}

/** Validates an index of either kind: magic, exact length, chunk size / end offsets and checksum. */
export function parseIndex(bytes: Uint8Array, source: string, options: IndexOptions = {}): ParsedIndex {
  const index = inspectIndex(bytes, source, options);
  if (!index.checksumOk) {
    throw new IndexFormatError(
      source,
      `${index.kind} index checksum mismatch: header has ${index.checksum}, ` +
        `the ${index.kind === "fixed" ? "digests" : "entries"} hash to ${index.computedChecksum}`,
    );
  }
  return index;
}
