/** Durations the way Kubernetes users write them (Go style, whole units): "24h5m", "90s", "48h". */
const DURATION_RE = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

export class DurationFormatError extends Error {
  override name = "DurationFormatError";
}

export function parseDurationSeconds(text: string): number {
  const match = DURATION_RE.exec(text.trim());
  if (!match || text.trim() === "") {
    throw new DurationFormatError(`"${text}" is not a duration like 24h5m, 90m or 30s`);
  }
  const [, hours = "0", minutes = "0", seconds = "0"] = match;
  return Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}

export function formatDurationSeconds(total: number): string {
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const text = `${hours ? `${hours}h` : ""}${minutes ? `${minutes}m` : ""}${seconds ? `${seconds}s` : ""}`;
  return text || "0s";
}
