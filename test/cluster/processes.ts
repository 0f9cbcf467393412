/**
 * Child processes of the test cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd,
 * kubelet, kube-proxy, dockerd).
 *
 * Each runs under a small bash "lifeline" in its own process group: the wrapper ends the process when the wrapper's
 * stdin closes, which happens when we close it ({@link ManagedProcess.stop}) and also when this Node process dies in
 * any way, even SIGKILL, so no etcd or apiserver outlives the test run that started it. On a normal or failing exit
 * of this process an 'exit' hook kills every remaining group at once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Runs "$@", forwards SIGTERM to it, ends it (TERM, then KILL after $1 seconds) when this wrapper's stdin closes. */
const LIFELINE = `grace=$1; shift
exec 3<&0
"$@" </dev/null &
child=$!
( while read -r _ <&3; do :; done; kill -TERM "$child" 2>/dev/null; sleep "$grace"; kill -KILL "$child" 2>/dev/null ) &
watcher=$!
exec 3<&-
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null
exit "$rc"`;

export class ProcessExitedError extends Error {
  readonly processName: string;
  readonly exitCode: number | null;
  constructor(processName: string, exitCode: number | null, logPath: string) {
    super(
      `${processName} exited with code ${exitCode} before it was ready; last lines of ${logPath}:\n${tail(logPath)}`,
    );
    this.name = "ProcessExitedError";
    this.processName = processName;
    this.exitCode = exitCode;
  }
}

export class ReadinessTimeoutError extends Error {
  readonly processName: string;
  constructor(processName: string, timeoutMs: number, logPath: string, lastError: unknown) {
    super(
      `${processName} was not ready within ${timeoutMs} ms (last check: ${String(lastError)}); last lines of ${logPath}:\n${tail(logPath)}`,
    );
    this.name = "ReadinessTimeoutError";
    this.processName = processName;
  }
}

export interface SpawnOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr go here (appended). */
  readonly logPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Seconds between SIGTERM and SIGKILL when stopped. */
  readonly graceSeconds?: number;
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 25): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const managed of live) managed.killGroupNow();
  });
}

export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private exitCode: number | null | undefined;

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.logPath = options.logPath;
    const log = openSync(options.logPath, "a");
    try {
      this.child = spawn(
        "bash",
        ["-c", LIFELINE, "lifeline", String(options.graceSeconds ?? 10), options.command, ...options.args],
        { stdio: ["pipe", log, log], env: options.env, cwd: options.cwd, detached: true },
      );
    } finally {
      closeSync(log);
    }
    if (this.child.pid === undefined) throw new Error(`could not start ${options.name} (${options.command})`);
    this.pid = this.child.pid;
    // The pipe stays open while we live; an EPIPE after the wrapper is gone is expected and harmless.
    this.child.stdin?.on("error", () => {});
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        live.delete(this);
        resolve(this.exitCode);
      });
      this.child.once("error", () => {
        this.exitCode = null;
        live.delete(this);
        resolve(null);
      });
    });
    live.add(this);
    installExitHook();
    // Nothing in the parent waits on these handles: a running child never keeps the test process alive.
    this.child.unref();
    (this.child.stdin as { unref?: () => void } | null)?.unref?.();
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Asks the process to stop (SIGTERM, SIGKILL after its grace) and waits; kills the group if it takes too long. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    // Closing the lifeline is the one stop signal: its watcher sends a single SIGTERM, then SIGKILL after the grace.
    this.child.stdin?.end();
    const timer = setTimeout(() => this.killGroupNow(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      this.killGroupNow(); // stragglers the process forked
    }
  }

  /** SIGKILL to the whole process group, synchronously (safe in an 'exit' hook). */
  killGroupNow(): void {
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** A TCP port on `host` (default 127.0.0.1) that was free a moment ago. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

/**
 * Polls `check` until it resolves true; fails early when the process exits and after `timeoutMs` with the process's
 * log tail in the error.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown = "not ready";
  for (;;) {
    options.signal?.throwIfAborted();
    if (!proc.running) throw new ProcessExitedError(proc.name, await proc.exited, proc.logPath);
    try {
      if (await check()) return;
      lastError = "not ready";
    } catch (error) {
      lastError = error instanceof Error ? error.message : error;
    }
    if (Date.now() > deadline) throw new ReadinessTimeoutError(proc.name, options.timeoutMs, proc.logPath, lastError);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}
