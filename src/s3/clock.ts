/**
 * The server's clock as seen through its `Date` header. S3 LastModified times are the server's; the engine compares
 * them with its own clock, so their difference (the skew) widens every cutoff.
 */

export interface ClockSkew {
  /** Server minus local clock, best estimate (milliseconds). */
  readonly estimateMs: number;
  /** The largest |skew| consistent with the observation (the Date header has whole seconds, the request takes time). */
  readonly boundMs: number;
}

/**
 * Pure: the server's clock read `dateHeaderMs` (whole seconds, so it was in [D, D + 1 s)) at some instant between
 * `sentMs` and `receivedMs` of the local clock. The skew lies in (D − received, D + 1 s − sent).
 */
export function clockSkewFromDate(dateHeaderMs: number, sentMs: number, receivedMs: number): ClockSkew {
  const low = dateHeaderMs - receivedMs;
  const high = dateHeaderMs + 1000 - sentMs;
  return { estimateMs: Math.round((low + high) / 2), boundMs: Math.max(Math.abs(low), Math.abs(high)) };
}

/** Pure: a `Date` header (RFC 7231 IMF-fixdate) in milliseconds, or undefined when absent or unparseable. */
export function parseDateHeader(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
