/**
 * `npm run cluster:up` / `npm run cluster:down`: the test cluster for manual use and the demo.
 *
 *   up    starts a supervisor in the background that runs the cluster, returns once it is ready, and leaves the admin
 *         kubeconfig at $CHUNKGC_CLUSTER_DIR/kubeconfig (default .cluster/kubeconfig in the work tree)
 *   down  stops the supervisor and with it every process it started (kills leftovers by their pid files)
 *   serve (internal) the supervisor itself
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startCluster } from "./index.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const UP_TIMEOUT_MS = 180_000;
const DOWN_TIMEOUT_MS = 30_000;

function clusterDir(): string {
  return resolve(process.env.CHUNKGC_CLUSTER_DIR ?? join(ROOT, ".cluster"));
}

const files = (dir: string) => ({
  supervisorPid: join(dir, "supervisor.pid"),
  groups: join(dir, "process-groups"),
  ready: join(dir, "ready"),
  failed: join(dir, "failed"),
  log: join(dir, "supervisor.log"),
  kubeconfig: join(dir, "kubeconfig"),
});

/** The state a previous cluster left; removed before a new one starts (nothing else in the directory is touched). */
const STATE_ENTRIES = [
  "etcd",
  "pki",
  "node",
  "logs",
  "apiserver-certs",
  "controller-manager-certs",
  "kubeconfig",
  "ready",
  "failed",
  "process-groups",
  "supervisor.pid",
];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function up(): Promise<number> {
  const dir = clusterDir();
  const f = files(dir);
  const running = readPid(f.supervisorPid);
  if (running !== undefined && alive(running) && existsSync(f.ready)) {
    console.log(`cluster already running (supervisor pid ${running}); kubeconfig: ${f.kubeconfig}`);
    return 0;
  }
  if (running !== undefined && alive(running)) {
    console.error(`a cluster supervisor (pid ${running}) is starting or stuck; run \`npm run cluster:down\` first`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  for (const entry of STATE_ENTRIES) rmSync(join(dir, entry), { recursive: true, force: true });
  const log = openSync(f.log, "w");
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "serve"], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, CHUNKGC_CLUSTER_DIR: dir },
  });
  child.unref();
  const started = Date.now();
  while (Date.now() - started < UP_TIMEOUT_MS) {
    if (existsSync(f.ready)) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`cluster ready in ${seconds} s`);
      console.log(`kubeconfig: ${f.kubeconfig}`);
      console.log(`  export KUBECONFIG=${f.kubeconfig}`);
      console.log(`logs: ${join(dir, "logs")} (control plane), ${join(dir, "node")} (node agent and pods)`);
      return 0;
    }
    if (existsSync(f.failed) || (child.pid !== undefined && !alive(child.pid))) {
      console.error(`cluster failed to start; see ${f.log}:\n${readFileSync(f.log, "utf8").slice(-4000)}`);
      return 1;
    }
    await sleep(250);
  }
  console.error(`cluster not ready after ${UP_TIMEOUT_MS / 1000} s; see ${f.log}`);
  return 1;
}

async function serve(): Promise<number> {
  const dir = clusterDir();
  const f = files(dir);
  writeFileSync(f.supervisorPid, `${process.pid}\n`);
  const controller = new AbortController();
  let stopping: Promise<void> | undefined;
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  const shutdown = () => {
    controller.abort();
    stopping ??= (async () => {
      console.error("stopping the cluster");
      await cluster?.stop();
      rmSync(f.ready, { force: true });
      rmSync(f.supervisorPid, { force: true });
      rmSync(f.groups, { force: true });
    })();
    return stopping;
  };
  process.once("SIGTERM", () => void shutdown().then(() => process.exit(0)));
  process.once("SIGINT", () => void shutdown().then(() => process.exit(0)));
  try {
    cluster = await startCluster({ dir, signal: controller.signal });
  } catch (error) {
    console.error(error);
    writeFileSync(f.failed, `${error instanceof Error ? error.message : String(error)}\n`);
    rmSync(f.supervisorPid, { force: true });
    return 1;
  }
  writeFileSync(f.groups, `${cluster.processGroups().join("\n")}\n`);
  writeFileSync(f.ready, `${new Date().toISOString()}\n`);
  console.error(`cluster ready: ${cluster.server}, kubeconfig ${f.kubeconfig}`);
  // Stay up until signalled; the cluster's processes keep this process alive only through this timer.
  setInterval(() => {}, 1 << 30);
  await new Promise(() => {});
  return 0;
}

async function down(): Promise<number> {
  const dir = clusterDir();
  const f = files(dir);
  const pid = readPid(f.supervisorPid);
  if (pid !== undefined && alive(pid)) {
    process.kill(pid, "SIGTERM");
    const started = Date.now();
    while (alive(pid) && Date.now() - started < DOWN_TIMEOUT_MS) await sleep(200);
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
  // Whatever survived (a supervisor killed hard): the process groups it recorded.
  let killed = 0;
  if (existsSync(f.groups)) {
    for (const line of readFileSync(f.groups, "utf8").split("\n")) {
      const group = Number.parseInt(line, 10);
      if (!Number.isInteger(group) || group <= 0) continue;
      try {
        process.kill(-group, "SIGKILL");
        killed++;
      } catch {
        // already gone
      }
    }
  }
  for (const entry of ["ready", "supervisor.pid", "process-groups"]) rmSync(join(dir, entry), { force: true });
  console.log(
    pid === undefined
      ? `no cluster supervisor recorded in ${dir}${killed ? `; killed ${killed} leftover process groups` : ""}`
      : `cluster stopped${killed ? ` (killed ${killed} leftover process groups)` : ""}`,
  );
  return 0;
}

const command = process.argv[2];
const commands: Record<string, () => Promise<number>> = { up, down, serve };
const run = command ? commands[command] : undefined;
if (!run) {
  console.error("usage: node test/cluster/cli.ts up|down");
  process.exitCode = 2;
} else {
  process.exitCode = await run();
}
