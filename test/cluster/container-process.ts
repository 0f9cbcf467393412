/**
 * One container run as a local process of the project's build: `node bin/chunkgc.js <args>`, with the env and
 * working directory the agent prepared, output appended to the container's log file, and the termination message
 * read from the host file that stands for its terminationMessagePath when it exits.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ManagedProcess } from "./processes.ts";

/** The project's CLI entry (runs dist/ when built, else the TypeScript sources). */
export const CHUNKGC_BIN = fileURLToPath(new URL("../../bin/chunkgc.js", import.meta.url));

/** The kubelet's limits: 4096 bytes from the message file; 80 lines / 2048 bytes of log as the fallback. */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;
export const FALLBACK_LOG_LINES = 80;
export const FALLBACK_LOG_BYTES = 2048;

export interface ContainerProcessOptions {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logPath: string;
  readonly graceSeconds: number;
  /** Defaults to {@link CHUNKGC_BIN}. */
  readonly entrypoint?: string;
}

export function startContainerProcess(options: ContainerProcessOptions): ManagedProcess {
  return new ManagedProcess({
    name: options.name,
    command: process.execPath,
    args: [options.entrypoint ?? CHUNKGC_BIN, ...options.args],
    env: { ...options.env },
    cwd: options.cwd,
    logPath: options.logPath,
    graceSeconds: options.graceSeconds,
  });
}

function readHead(path: string, maxBytes: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buffer = Buffer.alloc(maxBytes);
    const read = readSync(fd, buffer, 0, maxBytes, 0);
    return buffer.subarray(0, read).toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readTail(path: string, maxBytes: number): string {
  let fd: number | undefined;
  try {
    const size = statSync(path).size;
    const start = Math.max(0, size - maxBytes);
    fd = openSync(path, "r");
    const buffer = Buffer.alloc(size - start);
    const read = readSync(fd, buffer, 0, buffer.length, start);
    return buffer.subarray(0, read).toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The termination message as the kubelet reports it: the message file's first 4096 bytes; with policy
 * FallbackToLogsOnError and a failed, message-less container, the last 80 lines (at most 2048 bytes) of its log.
 */
export function terminationMessage(options: {
  messagePath: string;
  logPath: string;
  policy: string | undefined;
  exitCode: number;
}): string {
  const message = readHead(options.messagePath, MAX_TERMINATION_MESSAGE_BYTES);
  if (message.length > 0 || options.policy !== "FallbackToLogsOnError" || options.exitCode === 0) return message;
  const lines = readTail(options.logPath, FALLBACK_LOG_BYTES).split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-FALLBACK_LOG_LINES).join("\n");
}
