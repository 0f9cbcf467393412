/**
 * One node per machine: an exclusive flock(1) on NODE.lockFile, held by a child `flock … cat` whose stdin is a pipe
 * from this process. The lock is released when we close the pipe, and also when this process dies in any way (the
 * pipe closes, cat ends, the kernel drops the lock), so a crashed test run never blocks the next one.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { NODE } from "./node-config.ts";

export class NodeLockTimeoutError extends Error {
  constructor(waitedMs: number) {
    super(
      `another test cluster holds ${NODE.lockFile} (one node per machine) and did not release it within ` +
        `${Math.round(waitedMs / 1000)} s; stop it with \`npm run cluster:down\` or reuse it (CHUNKGC_CLUSTER_DIR)`,
    );
    this.name = "NodeLockTimeoutError";
  }
}

export interface NodeLock {
  release(): void;
}

export async function acquireNodeLock(timeoutMs: number, signal?: AbortSignal): Promise<NodeLock> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const child = spawn(
    "flock",
    ["--exclusive", "--wait", String(seconds), NODE.lockFile, "sh", "-c", "echo locked; exec cat >/dev/null"],
    {
      stdio: ["pipe", "pipe", "inherit"],
      detached: true,
    },
  );
  child.stdin.on("error", () => {});
  const abort = () => child.kill("SIGKILL");
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const locked = new Promise<boolean>((resolve) => {
      let text = "";
      child.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes("locked")) resolve(true);
      });
      child.once("exit", () => resolve(false));
    });
    if (!(await locked)) throw new NodeLockTimeoutError(timeoutMs);
  } finally {
    signal?.removeEventListener("abort", abort);
  }
  signal?.throwIfAborted();
  child.unref();
  (child.stdin as { unref?: () => void }).unref?.();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  return {
    release() {
      child.stdin.end();
      void once(child, "exit").catch(() => {});
    },
  };
}
