/**
 * The summary users know from Proxmox Backup Server's GC log, derived from the counters in one place so that the
 * engine's result and the resource status agree.
 */

export interface SummaryCounters {
  indexDataBytes: number;
  diskBytes: number;
  diskChunks: number;
}

export interface DerivedSummary {
  /** index bytes / disk bytes, 2 decimals; 1 when nothing is on disk. */
  dedupFactor: number;
  /** disk bytes · 100 / index bytes, 2 decimals; 0 when no index references anything. */
  onDiskPercent: number;
  /** disk bytes / disk chunks, rounded down; 0 without chunks. */
  averageChunkSize: number;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

export function deriveSummary(counters: SummaryCounters): DerivedSummary {
  const { indexDataBytes, diskBytes, diskChunks } = counters;
  return {
    dedupFactor: diskBytes > 0 ? round2(indexDataBytes / diskBytes) : 1,
    onDiskPercent: indexDataBytes > 0 ? round2((diskBytes * 100) / indexDataBytes) : 0,
    averageChunkSize: diskChunks > 0 ? Math.floor(diskBytes / diskChunks) : 0,
  };
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

/** Binary units with 3 decimals as PBS prints them ("9.018 GiB"); plain bytes below 1 KiB ("512 B"). */
export function formatBinaryBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.floor(bytes || 0))} B`;
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(3)} ${UNITS[unit]}`;
}
