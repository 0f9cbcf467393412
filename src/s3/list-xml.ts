import { SaxesParser } from "saxes";
import type { ListedObject } from "./list.ts";

/**
 * An object whose upload time is unknown (no or an unparseable LastModified) is as young as can be: a chunk must
 * never look old for lack of a date (epoch 0 would make it garbage).
 */
export const UNKNOWN_LAST_MODIFIED_MS = Number.POSITIVE_INFINITY;

/** Milliseconds of an ISO-8601 LastModified, or {@link UNKNOWN_LAST_MODIFIED_MS}. */
export function parseLastModified(text: string | undefined): number {
  if (!text || !/^\d{4}-\d{2}-\d{2}T/.test(text.trim())) return UNKNOWN_LAST_MODIFIED_MS;
  const ms = Date.parse(text.trim());
  return Number.isFinite(ms) ? ms : UNKNOWN_LAST_MODIFIED_MS;
}

/** A ListObjectsV2 answer as the sweep needs it. */
export interface ParsedListPage {
  readonly objects: ListedObject[];
  readonly commonPrefixes: string[];
  readonly isTruncated: boolean;
  readonly nextContinuationToken?: string;
}

export class ListResponseError extends Error {
  override name = "ListResponseError";
}

/**
 * Streams a ListBucketResult through a SAX parser (saxes) and keeps only the fields GC reads: no object tree per key,
 * no schema walk. Entities are decoded by the parser; keys are taken as the server sent them (no EncodingType).
 */
export function parseListObjectsV2(xml: string): ParsedListPage {
  const parser = new SaxesParser({ position: false });
  const objects: ListedObject[] = [];
  const commonPrefixes: string[] = [];
  let isTruncated = false;
  let nextContinuationToken: string | undefined;
  let depth = 0;
  let section: "contents" | "prefixes" | undefined;
  let text = "";
  let key = "";
  let size = 0;
  let lastModifiedMs = UNKNOWN_LAST_MODIFIED_MS;
  let etag = "";
  let sawRoot = false;

  parser.on("opentag", (tag) => {
    depth += 1;
    text = "";
    if (depth === 1) {
      if (tag.name !== "ListBucketResult") throw new ListResponseError(`unexpected XML root <${tag.name}>`);
      sawRoot = true;
    } else if (depth === 2) {
      if (tag.name === "Contents") {
        section = "contents";
        key = "";
        size = 0;
        lastModifiedMs = UNKNOWN_LAST_MODIFIED_MS;
        etag = "";
      } else if (tag.name === "CommonPrefixes") {
        section = "prefixes";
      }
    }
  });
  parser.on("text", (chunk) => {
    text += chunk;
  });
  parser.on("closetag", (tag) => {
    if (depth === 2) {
      if (tag.name === "Contents") objects.push({ key, size, lastModifiedMs, etag });
      else if (tag.name === "IsTruncated") isTruncated = text.trim() === "true";
      else if (tag.name === "NextContinuationToken") nextContinuationToken = text;
      section = undefined;
    } else if (depth === 3 && section === "contents") {
      if (tag.name === "Key") key = text;
      else if (tag.name === "Size") size = Number(text);
      else if (tag.name === "LastModified") lastModifiedMs = parseLastModified(text);
      else if (tag.name === "ETag") etag = text;
    } else if (depth === 3 && section === "prefixes" && tag.name === "Prefix") {
      commonPrefixes.push(text);
    }
    depth -= 1;
    text = "";
  });
  parser.write(xml).close();
  if (!sawRoot) throw new ListResponseError("empty ListObjectsV2 response");
  return { objects, commonPrefixes, isTruncated, ...(nextContinuationToken ? { nextContinuationToken } : {}) };
}
