/**
 * Ceph's RADOS Gateway from Debian's packages (scripts/install.d/10-ceph.sh): the production-grade S3 server of the
 * suite. A throwaway single-node cluster under the work directory (one monitor, one bluestore OSD on a sparse file,
 * radosgw on a loopback port), started directly without systemd, every daemon in the foreground under our control.
 *
 * Clients must set `requestChecksumCalculation: "WHEN_REQUIRED"`: Ceph 16.2 answers the AWS SDK's default
 * streaming-checksum uploads with HTTP 411.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, ManagedProcess, waitUntilReady } from "../cluster/processes.ts";
import { cephConfig, MON_ID, RGW_CLIENT_NAME } from "./ceph-config.ts";
import {
  answersHttp,
  CommandFailedError,
  controlledEnv,
  relayOnNodeAddress,
  runCommand,
  type S3ServerHandle,
} from "./s3-server.ts";

export const CEPH_ACCESS_KEY = "chunkgc-test-ceph";
export const CEPH_SECRET_KEY = "chunkgc-test-ceph-secret";
/** radosgw's default zonegroup answers to any region name in the signature; this is the conventional one. */
export const CEPH_REGION = "us-east-1";
const CEPH_USER = "chunkgc-test";

export class CephMissingError extends Error {
  constructor(detail: string) {
    super(`Ceph is not installed (${detail}): run scripts/install-test-deps.sh`);
    this.name = "CephMissingError";
  }
}

/** Durations of the start-up steps in ms, written to <workDir>/startup.json for the docs and for slow CI runs. */
export type CephStartupTimings = Record<string, number>;

export async function start(workDir: string, signal?: AbortSignal): Promise<S3ServerHandle> {
  const started = Date.now();
  const timings: CephStartupTimings = {};
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    signal?.throwIfAborted();
    const t0 = Date.now();
    const result = await work();
    timings[name] = Date.now() - t0;
    return result;
  };

  await step("check", async () => {
    await runCommand("ceph-mon", ["--version"], { timeoutMs: 10_000 }).catch((error: unknown) => {
      throw new CephMissingError(error instanceof Error ? error.message.split("\n")[0]! : String(error));
    });
  });
  for (const sub of ["mon", "osd", "rgw", "log", "run"]) mkdirSync(join(workDir, sub), { recursive: true });
  const conf = join(workDir, "ceph.conf");
  const fsid = randomUUID();
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  writeFileSync(conf, cephConfig({ fsid, dir: workDir, monPort, rgwPort }));
  const env = controlledEnv();
  const run = (command: string, args: string[], timeoutMs = 60_000) =>
    runCommand(command, ["-c", conf, ...args], { timeoutMs, env, cwd: workDir, ...(signal && { signal }) });
  const ceph = (args: string[]) => run("ceph", ["--connect-timeout", "5", ...args], 30_000);
  const processes: ManagedProcess[] = [];
  const daemon = (name: string, command: string, args: string[]) => {
    const proc = new ManagedProcess({
      name,
      command,
      args: ["-c", conf, "-f", ...args],
      logPath: join(workDir, "log", `${name}.stdout.log`),
      env,
      cwd: workDir,
      graceSeconds: 1,
    });
    processes.push(proc);
    return proc;
  };

  let stopped: Promise<void> | undefined;
  let closeRelay = async () => {};
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await closeRelay();
      // A throwaway cluster: no orderly shutdown needed, all daemons at once (SIGTERM, SIGKILL 1 s later).
      await Promise.all(processes.map((proc) => proc.stop(15_000)));
      for (const sub of ["mon", "osd", "rgw"]) rmSync(join(workDir, sub), { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const monmap = join(workDir, "monmap");
    await step("mon-mkfs", async () => {
      await runCommand(
        "ceph-authtool",
        ["--create-keyring", join(workDir, "keyring"), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"],
        { timeoutMs: 30_000, env },
      );
      await runCommand(
        "monmaptool",
        ["--create", "--addv", MON_ID, `[v2:127.0.0.1:${monPort}]`, "--fsid", fsid, monmap],
        {
          timeoutMs: 30_000,
          env,
        },
      );
      await run("ceph-mon", ["--mkfs", "-i", MON_ID, "--monmap", monmap, "--keyring", join(workDir, "keyring")]);
    });
    const mon = daemon("ceph-mon", "ceph-mon", ["-i", MON_ID]);
    await step("mon-up", () => waitUntilReady(mon, () => ceph(["mon", "stat"]).then(() => true), readiness(signal)));

    const osdUuid = randomUUID();
    const osdId = await step("osd-mkfs", async () => {
      const id = (await ceph(["osd", "new", osdUuid])).trim();
      if (!/^\d+$/.test(id))
        throw new CommandFailedError("ceph", ["osd", "new"], `unexpected answer ${JSON.stringify(id)}`);
      mkdirSync(join(workDir, "osd", id), { recursive: true });
      await run("ceph-osd", ["-i", id, "--mkfs", "--osd-uuid", osdUuid], 120_000);
      return id;
    });
    const osd = daemon("ceph-osd", "ceph-osd", ["-i", osdId]);
    await step("osd-up", () => waitUntilReady(osd, () => osdIsUp(ceph, Number(osdId)), readiness(signal)));

    const rgw = daemon("radosgw", "radosgw", ["-n", RGW_CLIENT_NAME]);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await step("rgw-up", () => waitUntilReady(rgw, () => answersHttp(endpoint), readiness(signal)));
    closeRelay = await relayOnNodeAddress(rgwPort);
    await step("user", () =>
      run("radosgw-admin", [
        "-n",
        RGW_CLIENT_NAME,
        "user",
        "create",
        `--uid=${CEPH_USER}`,
        "--display-name=chunkgc tests",
        `--access-key=${CEPH_ACCESS_KEY}`,
        `--secret=${CEPH_SECRET_KEY}`,
      ]),
    );
    timings.total = Date.now() - started;
    writeFileSync(join(workDir, "startup.json"), `${JSON.stringify(timings, null, 2)}\n`);
    return {
      name: "ceph-rgw",
      endpoint,
      region: CEPH_REGION,
      accessKeyId: CEPH_ACCESS_KEY,
      secretAccessKey: CEPH_SECRET_KEY,
      forcePathStyle: true,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function readiness(signal: AbortSignal | undefined) {
  return { timeoutMs: 90_000, intervalMs: 200, ...(signal && { signal }) };
}

async function osdIsUp(ceph: (args: string[]) => Promise<string>, id: number): Promise<boolean> {
  const dump = JSON.parse(await ceph(["osd", "dump", "--format=json"])) as { osds?: { osd: number; up: number }[] };
  return dump.osds?.some((osd) => osd.osd === id && osd.up === 1) ?? false;
}
