/**
 * What the node changes on this machine, and how every change is undone.
 *
 * Before the node starts, {@link snapshotHost} records the state a teardown must return to (the sysctls the kubelet,
 * the bridge plugin and kube-proxy may set, which host directories and cgroups already existed) in NODE.runDir, so a
 * later `cluster:down` or the next start can restore it even after the process that started the node was killed.
 * {@link restoreHost} is idempotent and removes by name only what the node makes: its processes (by cgroup and by
 * containerd socket), mounts below its directories, the CNI network namespaces, every KUBE-* iptables chain and the
 * jumps to it (kube-proxy --cleanup first), kube-proxy's nfacct counters, the guard rules, the bridge, the kubepods
 * and docker cgroups, and the directories the kubelet, containerd and dockerd create outside their configured roots.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { NODE } from "./node-config.ts";

const run = promisify(execFile);

/** Sysctls that the kubelet (overcommit, panic), the bridge plugin (ip_forward) or kube-proxy may change. */
export const WATCHED_SYSCTLS = [
  "vm/overcommit_memory",
  "kernel/panic",
  "kernel/panic_on_oops",
  "net/ipv4/ip_forward",
  "net/ipv4/conf/all/forwarding",
  "net/ipv6/conf/all/forwarding",
  "net/ipv4/conf/all/route_localnet",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
  "net/netfilter/nf_conntrack_max",
  "net/netfilter/nf_conntrack_tcp_timeout_established",
  "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
] as const;

/** Host paths created outside the configured roots (kubelet, containerd, CNI, dockerd). */
export const HOST_PATHS = [
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/run/containerd",
  "/opt/containerd",
  "/var/lib/cni",
  "/run/netns",
  "/run/docker",
  "/run/mount",
  "/etc/docker/key.json",
  "/etc/cni",
] as const;

const CGROUP_ROOT = "/sys/fs/cgroup";
/** cgroups the kubelet (kubepods) and dockerd's builds (docker, incl. docker/buildkit) create. */
export const CGROUP_NAMES = ["kubepods", "docker"] as const;
const NFACCT_COUNTERS = ["ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"];

export interface HostSnapshot {
  readonly takenAt: string;
  readonly sysctls: Record<string, string>;
  readonly existingPaths: string[];
  readonly existingCgroups: string[];
  readonly nfacct: string[];
  /** iptables tables that existed (iptables-nft makes a table on first use; an empty one left behind is removed). */
  readonly tables: { ip: string[]; ip6: string[] };
}

const snapshotFile = () => join(NODE.runDir, "host-before.json");

async function sh(command: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await run(command, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function quiet(command: string, args: string[], timeoutMs = 30_000): Promise<boolean> {
  try {
    await sh(command, args, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name}`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function cgroupDirs(): string[] {
  const out: string[] = [];
  for (const controller of readdirSync(CGROUP_ROOT)) {
    for (const name of CGROUP_NAMES) {
      const dir = join(CGROUP_ROOT, controller, name);
      if (existsSync(dir)) out.push(dir);
    }
  }
  return out;
}

async function nfacctNames(): Promise<string[]> {
  try {
    const text = await sh("nfacct", ["list"]);
    return [...text.matchAll(/name = (\S+?);/g)].map((m) => m[1] ?? "").filter(Boolean);
  } catch {
    return [];
  }
}

async function tableNames(tool: "iptables" | "ip6tables"): Promise<string[]> {
  try {
    return [...(await sh(`${tool}-save`, [])).matchAll(/^\*(\S+)$/gm)].map((m) => m[1] ?? "");
  } catch {
    return [];
  }
}

/** Deletes the tables iptables-nft created for the node when they hold nothing but empty built-in chains. */
async function removeCreatedTables(tool: "iptables" | "ip6tables", before: readonly string[]): Promise<void> {
  let dump: string;
  try {
    dump = await sh(`${tool}-save`, []);
  } catch {
    return;
  }
  for (const section of dump.split(/^(?=\*)/m)) {
    const name = /^\*(\S+)/.exec(section)?.[1];
    if (!name || before.includes(name)) continue;
    const lines = section.split("\n").filter((l) => l && !l.startsWith("#") && l !== "COMMIT" && !l.startsWith("*"));
    const empty = lines.every((l) => /^:[A-Z]+ ACCEPT /.test(l));
    if (empty) await quiet("nft", ["delete", "table", tool === "iptables" ? "ip" : "ip6", name]);
  }
}

/** The state to return to; a snapshot left by a node that was not torn down is kept (it predates that node). */
export async function snapshotHost(): Promise<HostSnapshot> {
  mkdirSync(NODE.runDir, { recursive: true, mode: 0o700 });
  const existing = readSnapshot();
  if (existing) return existing;
  const sysctls: Record<string, string> = {};
  for (const name of WATCHED_SYSCTLS) {
    const value = readSysctl(name);
    if (value !== undefined) sysctls[name] = value;
  }
  const snapshot: HostSnapshot = {
    takenAt: new Date().toISOString(),
    sysctls,
    existingPaths: HOST_PATHS.filter((p) => existsSync(p)),
    existingCgroups: cgroupDirs(),
    nfacct: await nfacctNames(),
    tables: { ip: await tableNames("iptables"), ip6: await tableNames("ip6tables") },
  };
  writeFileSync(snapshotFile(), `${JSON.stringify(snapshot, null, 2)}\n`);
  return snapshot;
}

export function readSnapshot(): HostSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(snapshotFile(), "utf8")) as HostSnapshot;
  } catch {
    return undefined;
  }
}

/** The bridge with the node address, before anything binds to it; and the rules that keep pod traffic local. */
export async function setUpBridge(): Promise<void> {
  if (!(await quiet("ip", ["link", "show", NODE.bridge]))) {
    await sh("ip", ["link", "add", NODE.bridge, "type", "bridge"]);
  }
  await quiet("ip", ["addr", "add", `${NODE.address}/${NODE.prefixLength}`, "dev", NODE.bridge]);
  await sh("ip", ["link", "set", NODE.bridge, "up"]);
  for (const rule of guardRules()) {
    if (!(await quiet("iptables", ["-C", ...rule]))) await sh("iptables", ["-I", ...rule]);
  }
}

/** Pods talk to the bridge and (through Services) to each other, never beyond this machine, and nothing beyond to them. */
function guardRules(): string[][] {
  return [
    ["FORWARD", "-s", NODE.podSubnet, "!", "-d", NODE.podSubnet, "-j", "DROP"],
    ["FORWARD", "!", "-s", NODE.podSubnet, "-d", NODE.podSubnet, "-j", "DROP"],
  ];
}

/** Kills every process in the kubepods cgroups (the pods' containers) and the shims of our containerd. */
async function killNodeProcesses(): Promise<void> {
  const pids = new Set<number>();
  for (const dir of cgroupDirs().filter((d) => d.endsWith("/kubepods"))) {
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (entry.name !== "cgroup.procs") continue;
      for (const line of readFileSync(join(entry.parentPath, entry.name), "utf8").split("\n")) {
        const pid = Number.parseInt(line, 10);
        if (pid > 0) pids.add(pid);
      }
    }
  }
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (cmdline[0]?.endsWith("containerd-shim-runc-v2") && cmdline.includes(join(NODE.runDir, "containerd.sock"))) {
        pids.add(Number(pid));
      }
    } catch {
      // gone
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

function mountPointsBelow(prefixes: string[]): string[] {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => (line.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((point) => prefixes.some((prefix) => point === prefix || point.startsWith(`${prefix}/`)));
  return mounts.sort((a, b) => b.length - a.length);
}

async function unmountBelow(prefixes: string[]): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const points = mountPointsBelow(prefixes);
    if (points.length === 0) return;
    for (const point of points) await quiet("umount", ["-l", point]);
  }
}

/** Every KUBE-* chain and every rule that jumps to one, in every table, for iptables and ip6tables. */
async function removeKubeChains(tool: "iptables" | "ip6tables"): Promise<void> {
  let dump: string;
  try {
    dump = await sh(`${tool}-save`, []);
  } catch {
    return;
  }
  let table = "";
  const deletes: string[][] = [];
  const chains = new Map<string, string[]>();
  for (const line of dump.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1);
      chains.set(table, []);
    } else if (line.startsWith(":KUBE-")) {
      chains.get(table)?.push(line.slice(1).split(" ")[0] ?? "");
    } else if (line.startsWith("-A ") && !line.startsWith("-A KUBE-") && /-j KUBE-/.test(line)) {
      deletes.push(["-t", table, "-D", ...splitRule(line.slice(3))]);
    }
  }
  for (const rule of deletes) await quiet(tool, ["-w", "5", ...rule]);
  for (const [t, names] of chains) {
    for (const name of names) await quiet(tool, ["-w", "5", "-t", t, "-F", name]);
    for (const name of names) await quiet(tool, ["-w", "5", "-t", t, "-X", name]);
  }
}

/** Splits an iptables-save rule into arguments (quoted comments stay one argument). */
export function splitRule(rule: string): string[] {
  const out: string[] = [];
  for (const match of rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    out.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : (match[2] ?? ""));
  }
  return out;
}

export interface RestoreOptions {
  /** kube-proxy, for `kube-proxy --cleanup`. */
  readonly kubeProxy?: string;
  /** Directories whose mounts are released (the node's directory, containerd's root). */
  readonly mountRoots: readonly string[];
}

/** Undoes every change of the node; safe to run when nothing (or only part) was set up. */
export async function restoreHost(options: RestoreOptions): Promise<string[]> {
  const problems: string[] = [];
  const snapshot = readSnapshot();
  await killNodeProcesses();
  await unmountBelow([
    NODE.runDir,
    ...options.mountRoots,
    "/run/containerd",
    "/run/netns",
    "/run/docker",
    "/var/lib/kubelet",
  ]);
  if (existsSync("/run/netns")) {
    for (const name of readdirSync("/run/netns").filter((n) => n.startsWith("cni-"))) {
      await quiet("ip", ["netns", "delete", name]);
      rmSync(join("/run/netns", name), { force: true });
    }
  }
  if (options.kubeProxy && existsSync(options.kubeProxy)) {
    await quiet(options.kubeProxy, ["--cleanup", "--v=0"], 60_000);
  }
  await removeKubeChains("iptables");
  await removeKubeChains("ip6tables");
  for (const rule of guardRules()) {
    while (await quiet("iptables", ["-D", ...rule])) {
      // a rule inserted twice is deleted twice
    }
  }
  if (snapshot?.tables) {
    await removeCreatedTables("iptables", snapshot.tables.ip);
    await removeCreatedTables("ip6tables", snapshot.tables.ip6);
  }
  for (const name of NFACCT_COUNTERS) {
    if (!snapshot?.nfacct.includes(name)) await quiet("nfacct", ["delete", name]);
  }
  await quiet("ip", ["link", "delete", NODE.bridge]);
  for (const dir of cgroupDirs()) {
    if (snapshot?.existingCgroups.includes(dir)) continue;
    if (!removeCgroupTree(dir)) problems.push(`cgroup ${dir} still has processes`);
  }
  if (snapshot) {
    for (const [name, value] of Object.entries(snapshot.sysctls)) {
      if (readSysctl(name) === value) continue;
      try {
        writeFileSync(`/proc/sys/${name}`, value);
      } catch (error) {
        problems.push(`sysctl ${name}: ${(error as Error).message}`);
      }
    }
    for (const path of HOST_PATHS) {
      if (snapshot.existingPaths.includes(path)) continue;
      if (mountPointsBelow([path]).length > 0) {
        problems.push(`${path} still has mounts`);
        continue;
      }
      rmSync(path, { recursive: true, force: true });
    }
  }
  if (problems.length === 0) rmSync(NODE.runDir, { recursive: true, force: true });
  return problems;
}

/** Removes a cgroup directory and its children, deepest first (rmdir(2), although it lists control files). */
function removeCgroupTree(dir: string): boolean {
  if (!existsSync(dir)) return true;
  let ok = true;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) ok = removeCgroupTree(join(dir, entry.name)) && ok;
  }
  try {
    rmdirSync(dir);
  } catch {
    ok = false;
  }
  return ok;
}
