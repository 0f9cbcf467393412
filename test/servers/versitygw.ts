/**
 * versitygw over a POSIX directory: the light, fast S3 server of the default suite and the demo (built by
 * scripts/install.d/20-versitygw.sh). Starts in well under a second.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort, ManagedProcess, waitUntilReady } from "../cluster/processes.ts";
import { answersHttp, chunkgcCacheDir, controlledEnv, relayOnNodeAddress, type S3ServerHandle } from "./s3-server.ts";

export const VERSITYGW_ACCESS_KEY = "chunkgc-test-versitygw";
export const VERSITYGW_SECRET_KEY = "chunkgc-test-versitygw-secret";
export const VERSITYGW_REGION = "us-east-1";

export class VersitygwMissingError extends Error {
  constructor(path: string) {
    super(`versitygw is not installed at ${path}: run scripts/install-test-deps.sh (or set CHUNKGC_VERSITYGW_BIN)`);
    this.name = "VersitygwMissingError";
  }
}

export function versitygwBinary(): string {
  return process.env.CHUNKGC_VERSITYGW_BIN ?? join(chunkgcCacheDir(), "bin", "versitygw");
}

export async function start(workDir: string, signal?: AbortSignal): Promise<S3ServerHandle> {
  const binary = versitygwBinary();
  if (!existsSync(binary)) throw new VersitygwMissingError(binary);
  signal?.throwIfAborted();
  const dataDir = join(workDir, "data");
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const logPath = join(workDir, "versitygw.log");
  const proc = new ManagedProcess({
    name: "versitygw",
    command: binary,
    // Credentials through the environment, not argv (where `ps` shows them).
    args: ["--port", `127.0.0.1:${port}`, "--region", VERSITYGW_REGION, "--keep-alive", "--quiet", "posix", dataDir],
    logPath,
    env: controlledEnv({ ROOT_ACCESS_KEY_ID: VERSITYGW_ACCESS_KEY, ROOT_SECRET_ACCESS_KEY: VERSITYGW_SECRET_KEY }),
    cwd: workDir,
    graceSeconds: 2,
  });
  let stopped: Promise<void> | undefined;
  let closeRelay = async () => {};
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await closeRelay();
      await proc.stop(10_000);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await waitUntilReady(proc, () => answersHttp(endpoint), {
      timeoutMs: 20_000,
      intervalMs: 50,
      ...(signal && { signal }),
    });
    closeRelay = await relayOnNodeAddress(port);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    name: "versitygw",
    endpoint,
    region: VERSITYGW_REGION,
    accessKeyId: VERSITYGW_ACCESS_KEY,
    secretAccessKey: VERSITYGW_SECRET_KEY,
    forcePathStyle: true,
    stop,
  };
}
