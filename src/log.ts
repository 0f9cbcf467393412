import { type Logger, pino } from "pino";

/** Field paths whose values never reach a log line, whatever object carries them. */
export const REDACTED_PATHS = [
  "secretAccessKey",
  "accessKeyId",
  "sessionToken",
  "*.secretAccessKey",
  "*.accessKeyId",
  "*.sessionToken",
  "*.*.secretAccessKey",
  "*.*.accessKeyId",
  "credentials",
  "*.credentials",
  "headers.authorization",
  "*.headers.authorization",
  "env.AWS_SECRET_ACCESS_KEY",
  "env.AWS_ACCESS_KEY_ID",
];

/** Structured logs on stderr, so that stdout stays free for results (`--json`). */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? "chunkgc",
      level: options.level ?? process.env.CHUNKGC_LOG_LEVEL ?? "info",
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(2),
  );
}
