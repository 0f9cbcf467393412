/**
 * Splitting a listing into key ranges that can be listed in parallel. S3 lists in UTF-8 byte order; every bound
 * here is ASCII, so JavaScript's string comparison agrees with the server's order for comparisons against a bound.
 */
export interface KeyRange {
  /** Keys strictly greater than this (ListObjectsV2 StartAfter); undefined: from the start of the prefix. */
  readonly startAfter?: string;
  /** Inclusive upper bound, the next range's startAfter; undefined: to the end of the prefix. */
  readonly through?: string;
}

const HEX = "0123456789abcdef";

/**
 * Ranges over `prefix` cut at the leading hex digits of what follows it (16 or 256 ranges, or 1 for no split).
 * Each range ends at (and includes) the cut where the next one starts after, so together they cover every key under
 * the prefix exactly once, including one that equals a cut point.
 */
export function hexKeyRanges(prefix: string, shards: 1 | 16 | 256): KeyRange[] {
  if (shards === 1) return [{}];
  const cuts: string[] = [];
  for (const high of HEX) {
    if (shards === 16) cuts.push(prefix + high);
    else for (const low of HEX) cuts.push(prefix + high + low);
  }
  cuts.shift(); // the first range starts at the beginning of the prefix, which holds anything sorting below "0"
  const ranges: KeyRange[] = [];
  for (let index = 0; index <= cuts.length; index += 1) {
    const startAfter = index === 0 ? undefined : cuts[index - 1];
    const through = cuts[index];
    ranges.push({ ...(startAfter === undefined ? {} : { startAfter }), ...(through === undefined ? {} : { through }) });
  }
  return ranges;
}

/** The shard count worth using for a listing concurrency: enough ranges to keep every stream busy. */
export function shardCountFor(concurrency: number): 1 | 16 | 256 {
  if (concurrency <= 1) return 1;
  return concurrency <= 16 ? 16 : 256;
}

export function isWithinUpperBound(key: string, range: KeyRange): boolean {
  return range.through === undefined || key <= range.through;
}
