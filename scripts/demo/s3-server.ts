/**
 * The demo's S3 server: versitygw over a directory, listening on the address at which the cluster's pods reach this
 * machine. It runs detached with a pid file, so `--keep` can leave it running beside the cluster and a later
 * `--down` (or the next demo) stops it.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { answersHttp, controlledEnv } from "../../test/servers/s3-server.ts";
import { VERSITYGW_REGION, VersitygwMissingError, versitygwBinary } from "../../test/servers/versitygw.ts";

export interface DemoS3 {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const files = (dir: string) => ({
  pid: join(dir, "versitygw.pid"),
  connection: join(dir, "versitygw.json"),
  log: join(dir, "versitygw.log"),
  data: join(dir, "s3-data"),
});

/** A port free on `host` right now (the server binds it a moment later; the demo is the only one choosing). */
async function freePortOn(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error(`no port on ${host}`);
  return address.port;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A pid file may outlive its process and the pid be reused: only a versitygw process is ours to stop. */
function isVersitygw(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]?.endsWith("versitygw") ?? false;
  } catch {
    return false;
  }
}

export async function startDemoS3(dir: string, host: string): Promise<DemoS3> {
  const binary = versitygwBinary();
  if (!existsSync(binary)) throw new VersitygwMissingError(binary);
  const f = files(dir);
  mkdirSync(f.data, { recursive: true });
  const port = await freePortOn(host);
  const connection: DemoS3 = {
    endpoint: `http://${host}:${port}`,
    region: VERSITYGW_REGION,
    // Fresh keys per demo: nothing fixed ends up in a Secret.
    accessKeyId: `demo${randomBytes(6).toString("hex")}`,
    secretAccessKey: randomBytes(24).toString("base64url"),
  };
  const log = openSync(f.log, "a");
  const child = spawn(
    binary,
    ["--port", `${host}:${port}`, "--region", connection.region, "--keep-alive", "--quiet", "posix", f.data],
    {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: dir,
      // Credentials through the environment, not argv (where `ps` shows them).
      env: controlledEnv({
        ROOT_ACCESS_KEY_ID: connection.accessKeyId,
        ROOT_SECRET_ACCESS_KEY: connection.secretAccessKey,
      }),
    },
  );
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`versitygw did not start; see ${f.log}`);
  writeFileSync(f.pid, `${child.pid}\n`);
  writeFileSync(f.connection, `${JSON.stringify(connection)}\n`, { mode: 0o600 });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!alive(child.pid)) throw new Error(`versitygw exited at start; see ${f.log}`);
    if (await answersHttp(connection.endpoint).catch(() => false)) return connection;
    if (Date.now() > deadline) throw new Error(`versitygw not answering on ${connection.endpoint} after 20 s`);
    await delay(100);
  }
}

/**
 * Sets the modification time of everything the server stores back by `seconds`. versitygw's posix backend reports a
 * file's modification time as the object's LastModified, so this makes the datastore look as if it had been uploaded
 * that long ago: the demo's stand-in for a day passing. Returns how many entries it changed.
 */
export function ageStoredObjects(dir: string, seconds: number): number {
  const root = files(dir).data;
  const when = new Date(Date.now() - seconds * 1000);
  const entries = readdirSync(root, { recursive: true, encoding: "utf8" });
  for (const entry of entries) lutimesSync(join(root, entry), when, when);
  return entries.length;
}

/** Stops a versitygw a previous demo left (by its pid file) and removes its data. True when one was running. */
export async function stopDemoS3(dir: string): Promise<boolean> {
  const f = files(dir);
  let stopped = false;
  if (existsSync(f.pid)) {
    const pid = Number.parseInt(readFileSync(f.pid, "utf8"), 10);
    if (Number.isInteger(pid) && pid > 0 && alive(pid) && isVersitygw(pid)) {
      process.kill(pid, "SIGTERM");
      const deadline = Date.now() + 10_000;
      while (alive(pid) && Date.now() < deadline) await delay(100);
      if (alive(pid)) process.kill(pid, "SIGKILL");
      stopped = true;
    }
  }
  rmSync(f.pid, { force: true });
  rmSync(f.connection, { force: true });
  rmSync(f.data, { recursive: true, force: true });
  return stopped;
}
