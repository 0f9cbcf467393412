/**
 * What a started S3 test server hands back, and what the servers share: fixed test credentials, the controlled
 * environment their processes run in, short command runs with a timeout.
 */
import { execFile } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { homedir, networkInterfaces } from "node:os";
import { join } from "node:path";
import { NODE } from "../cluster/node-config.ts";

export type S3ServerName = "versitygw" | "ceph-rgw";

/** Everything a client needs to reach one server; this is what CHUNKGC_TEST_S3_SERVERS carries (a JSON array). */
export interface S3ServerConnection {
  readonly name: S3ServerName;
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Both servers are addressed path-style (http://host/bucket/key). */
  readonly forcePathStyle: true;
}

export interface S3ServerHandle extends S3ServerConnection {
  /** Ends every process of the server (idempotent) and removes its data; logs stay in the work directory. */
  stop(): Promise<void>;
}

/** The connection data alone (no stop function), as serialised into the environment. */
export function connectionOf(handle: S3ServerConnection): S3ServerConnection {
  const { name, endpoint, region, accessKeyId, secretAccessKey, forcePathStyle } = handle;
  return { name, endpoint, region, accessKeyId, secretAccessKey, forcePathStyle };
}

export function chunkgcCacheDir(): string {
  return process.env.CHUNKGC_CACHE ?? join(homedir(), ".cache", "chunkgc");
}

/**
 * The environment a server process gets: a known PATH and locale and nothing else. The machine sets AWS_CA_BUNDLE
 * and may set other AWS_* or CEPH_* variables that would change how a tool behaves.
 */
export function controlledEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = [process.env.PATH ?? "", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    .filter((part) => part !== "")
    .join(":");
  return {
    PATH: path,
    HOME: process.env.HOME ?? homedir(),
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TZ: "UTC",
    ...extra,
  };
}

export class CommandFailedError extends Error {
  readonly command: string;
  constructor(command: string, args: readonly string[], detail: string) {
    super(`${command} ${args.join(" ")} failed: ${detail}`);
    this.name = "CommandFailedError";
    this.command = command;
  }
}

/** Runs a short command in the controlled environment; resolves with its stdout, rejects with its stderr. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: options.env ?? controlledEnv(),
        cwd: options.cwd,
        timeout: options.timeoutMs,
        killSignal: "SIGKILL",
        signal: options.signal,
        maxBuffer: 16 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (error) {
          const detail = `${error.message.split("\n")[0]}${stderr.trim() ? `\n${stderr.trim().slice(-2000)}` : ""}`;
          reject(new CommandFailedError(command, args, detail));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/** True once anything answers HTTP on the endpoint (an S3 error status counts: the server is listening). */
export async function answersHttp(endpoint: string): Promise<boolean> {
  const response = await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.status > 0;
}

/** Whether the test cluster's bridge (and so its node address) exists on this machine right now. */
export function nodeAddressPresent(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === NODE.address));
}

/**
 * Makes a server that listens on 127.0.0.1:<port> reachable from the test cluster's pods too: a TCP relay on the
 * node address (the bridge gateway), same port. Servers listen on loopback and the bridge only, never on the
 * machine's external interface. Does nothing (and returns a no-op) when no cluster bridge exists.
 */
export async function relayOnNodeAddress(port: number): Promise<() => Promise<void>> {
  if (!nodeAddressPresent()) return async () => {};
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((inbound) => {
    const outbound = createConnection({ host: "127.0.0.1", port });
    sockets.add(inbound).add(outbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on("error", drop).on("close", drop);
    outbound.on("error", drop).on("close", drop);
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, NODE.address, () => resolve());
  });
  server.unref();
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}
