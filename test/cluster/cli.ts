/**
 * `npm run cluster:up` / `npm run cluster:down`: the one-node cluster for manual use, the demo and test files.
 *
 *   up    starts a supervisor in the background that runs the cluster, returns once the node is Ready with
 *         chunkgc:dev built from the working tree, and leaves in $CHUNKGC_CLUSTER_DIR (default .cluster/ in the work
 *         tree): kubeconfig (admin), host-address (where pods reach this machine), audit.log, logs/, ready
 *   down  stops the supervisor, which stops every process and undoes every host change; when the supervisor is gone
 *         (killed), kills what it recorded and undoes the host changes itself
 *   serve (internal) the supervisor itself
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findBinary } from "./binaries.ts";
import { readSnapshot, restoreHost } from "./host.ts";
import { nodeMountRoots, startCluster } from "./index.ts";
import { acquireNodeLock } from "./lock.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const UP_TIMEOUT_MS = 30 * 60_000;
const DOWN_TIMEOUT_MS = 120_000;

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
  "scheduler-certs",
  "operator-logs",
  "kubeconfig",
  "host-address",
  "audit.log",
  "audit-policy.yaml",
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
  let shown = 0;
  while (Date.now() - started < UP_TIMEOUT_MS) {
    // The supervisor's progress lines (image builds on first use), as they come.
    const text = existsSync(f.log) ? readFileSync(f.log, "utf8") : "";
    const lines = text.split("\n").filter((line) => line.startsWith("cluster: "));
    for (const line of lines.slice(shown)) console.error(line);
    shown = lines.length;
    if (existsSync(f.ready)) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`cluster ready in ${seconds} s`);
      console.log(`kubeconfig: ${f.kubeconfig}`);
      console.log(`  export KUBECONFIG=${f.kubeconfig}`);
      console.log(
        `host address (pods reach this machine there): ${readFileSync(join(dir, "host-address"), "utf8").trim()}`,
      );
      console.log(`logs: ${join(dir, "logs")}`);
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
      const problems = (await cluster?.stop()) ?? [];
      for (const problem of problems) console.error(`not restored: ${problem}`);
      rmSync(f.ready, { force: true });
      rmSync(f.supervisorPid, { force: true });
      rmSync(f.groups, { force: true });
    })();
    return stopping;
  };
  process.once("SIGTERM", () => void shutdown().then(() => process.exit(0)));
  process.once("SIGINT", () => void shutdown().then(() => process.exit(0)));
  try {
    cluster = await startCluster({
      dir,
      signal: controller.signal,
      progress: (line) => console.error(`cluster: ${line}`),
    });
  } catch (error) {
    console.error(error);
    writeFileSync(f.failed, `${error instanceof Error ? error.message : String(error)}\n`);
    rmSync(f.supervisorPid, { force: true });
    return 1;
  }
  writeFileSync(f.groups, `${cluster.processGroups().join("\n")}\n`);
  writeFileSync(f.ready, `${new Date().toISOString()}\n`);
  console.error(`cluster ready: ${cluster.server}, kubeconfig ${f.kubeconfig}; ${JSON.stringify(cluster.timings)}`);
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
  // A supervisor killed before its teardown leaves host changes behind: undo them (once no other node runs).
  if (readSnapshot()) {
    const lock = await acquireNodeLock(5_000).catch(() => undefined);
    if (lock) {
      let kubeProxy: string | undefined;
      try {
        kubeProxy = findBinary("kube-proxy");
      } catch {
        kubeProxy = undefined;
      }
      const problems = await restoreHost({
        ...(kubeProxy ? { kubeProxy } : {}),
        mountRoots: nodeMountRoots(join(dir, "node")),
      });
      lock.release();
      for (const problem of problems) console.error(`not restored: ${problem}`);
    }
  }
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
