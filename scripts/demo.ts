/**
 * `make demo`: chunkgc as a user meets it, on a local one-node Kubernetes (kubelet + containerd, the image built from
 * the Dockerfile). Brings the cluster up, installs the chart, starts an S3 server the pods reach, seeds a Proxmox
 * Backup Server datastore with garbage (`chunkgc seed`), applies a GarbageCollection as a dry run and then for real,
 * and shows `kubectl get chunkgc`, the counters (checked against the seed's own expectation: any difference fails the
 * demo), the Events and the operator's metrics. Then tears everything down, or with --keep leaves it running.
 *
 *   node scripts/demo.ts [--keep]    the demo (make demo, make demo KEEP=1)
 *   node scripts/demo.ts --down      stops what a kept demo left running (make demo DOWN=1)
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import type { RunCounters } from "../src/api/run-result.ts";
import { createS3Context, listObjects } from "../src/s3/index.ts";
import { parseDurationSeconds } from "../src/util/duration.ts";
import {
  bucketProblem,
  formatCounters,
  metricLinesFor,
  outcomeFixedFrom,
  type RecordedRun,
  runProblems,
  type UploadWindow,
} from "./demo/check.ts";
import { type Kube, kubeTools } from "./demo/kube.ts";
import { DEMO, demoGarbageCollection, restrictedNamespace, SEED_ARGS } from "./demo/manifests.ts";
import { elapsed, note, runLong, shown, step } from "./demo/progress.ts";
import { ageStoredObjects, type DemoS3, startDemoS3, stopDemoS3 } from "./demo/s3-server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLUSTER_DIR = resolve(process.env.CHUNKGC_CLUSTER_DIR ?? join(ROOT, ".cluster"));
const STATE_DIR = join(CLUSTER_DIR, "demo");
const CHART = join(ROOT, "charts", "chunkgc");
const CLI = join(ROOT, "bin", "chunkgc.js");

const { release: RELEASE, operatorNamespace: OPERATOR_NS, namespace: NS, name: GC, secret: SECRET } = DEMO;
const { bucket: BUCKET, store: STORE, gracePeriod: GRACE } = DEMO;
const RUN_TIMEOUT_MS = 5 * 60_000;
/** A day and an hour: past the default grace period (24h5m) with room to spare. */
const AGE_SECONDS = 25 * 3600;
/** The engine widens its cutoff by the S3 server's clock skew (about 1 s on this machine's own server). */
const SKEW_ALLOWANCE_SECONDS = 60;

interface SeedOutput {
  readonly report: { readonly objects: number; readonly waves: Record<string, UploadWindow | undefined> };
  readonly expected: { readonly counters: RunCounters };
}

interface GcObject {
  readonly status?: { readonly lastRun?: RecordedRun };
}

interface PodList {
  readonly items: readonly {
    readonly metadata: { readonly name: string };
    readonly status?: { readonly phase?: string };
  }[];
}

class DemoFailure extends Error {
  override name = "DemoFailure";
}

const USAGE = "usage: node scripts/demo.ts [--keep | --down]   (make demo [KEEP=1 | DOWN=1]; see docs/demo.md)";

function parseFlags(): { keep: boolean; down: boolean } {
  try {
    const { values } = parseArgs({
      options: {
        keep: { type: "boolean", default: false },
        down: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    return { keep: values.keep, down: values.down };
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exit(2);
  }
}

const flags = parseFlags();

/** Whether this demo started the cluster (then it stops it too); a cluster that was running before stays up. */
let startedCluster = false;

function clusterCommand(command: "up" | "down"): Promise<void> {
  return runLong(`cluster:${command}`, process.execPath, [join(ROOT, "test", "cluster", "cli.ts"), command], {
    env: { ...process.env, CHUNKGC_CLUSTER_DIR: CLUSTER_DIR },
    cwd: ROOT,
    quietSeconds: 15,
    timeoutMs: 30 * 60_000,
  });
}

function clusterRunning(): boolean {
  return existsSync(join(CLUSTER_DIR, "ready"));
}

async function down(): Promise<void> {
  step("Stopping the demo's S3 server and the cluster");
  await stopDemoS3(STATE_DIR);
  await clusterCommand("down");
  rmSync(STATE_DIR, { recursive: true, force: true });
}

async function installPrerequisites(): Promise<void> {
  step("Installing what the demo needs (a first run compiles Kubernetes, helm and versitygw: 20+ min on 2 cores)");
  await runLong("install", "bash", [join(ROOT, "scripts", "install-test-deps.sh"), "--demo"], {
    cwd: ROOT,
    quietSeconds: 20,
    timeoutMs: 60 * 60_000,
  });
}

async function seed(s3: DemoS3): Promise<SeedOutput> {
  step("Seeding a PBS datastore with garbage: chunkgc seed");
  // The seed states the counters for a run a day after the upload (the datastore is aged by that much next).
  const oracleNow = new Date(Date.now() + AGE_SECONDS * 1000).toISOString();
  const out = join(STATE_DIR, "seed.json");
  const args = [
    "seed",
    ...["--endpoint", s3.endpoint, "--region", s3.region, "--path-style", "--bucket", BUCKET, "--store", STORE],
    "--create-bucket",
    ...SEED_ARGS,
    ...["--oracle-now", oracleNow, "--grace", GRACE, "--out", out],
  ];
  shown("chunkgc", args);
  await runLong("chunkgc seed", process.execPath, [CLI, ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
    timeoutMs: 5 * 60_000,
    // The report goes to --out; its copy on stdout would only repeat it.
    hideStdout: true,
  }).catch((error: unknown) => {
    throw new DemoFailure(`chunkgc seed failed: ${String(error)}`);
  });
  const output = JSON.parse(readFileSync(out, "utf8")) as SeedOutput;
  // The seed's expectation is for oracleNow; it holds for a real run only if both lie past every upload's cutoff.
  const fixedInSeedTime = outcomeFixedFrom(Object.values(output.report.waves), {
    graceSeconds: parseDurationSeconds(GRACE),
    agedSeconds: 0,
    skewAllowanceSeconds: 0,
  });
  if (Date.parse(oracleNow) / 1000 < fixedInSeedTime) {
    throw new DemoFailure("the seed took so long that its expectation does not cover a run after it");
  }
  return output;
}

function ageDatastore(): void {
  step("Ageing the datastore by a day (as if these backups had been made yesterday)");
  const changed = ageStoredObjects(STATE_DIR, AGE_SECONDS);
  note(
    `${changed} files and directories of the S3 server set back ${AGE_SECONDS / 3600} h. versitygw reports a file's\n` +
      "modification time as the object's LastModified, so the GC sees a datastore uploaded yesterday and applies the\n" +
      `default grace period (${GRACE}) on the real clock, as in production, without the demo waiting a day.`,
  );
}

const HELM_ARGS = [
  ...["upgrade", "--install", RELEASE, CHART, "--namespace", OPERATOR_NS],
  ...["--set", "image.repository=chunkgc", "--set", "image.tag=dev", "--set", "image.pullPolicy=Never"],
  ...["--wait", "--timeout", "3m"],
];

/** Starts the chart's install; it runs while the seed writes (the two are independent), {@link showChart} reports it. */
async function installChart(kube: Kube): Promise<void> {
  await kube.kubectl(["apply", "-f", "-"], { input: stringify(restrictedNamespace(OPERATOR_NS)) });
  await kube.helm(HELM_ARGS, { timeoutMs: 4 * 60_000 });
}

async function showChart(kube: Kube, installed: Promise<void>): Promise<void> {
  step("Installing the chart with the image built from this tree (chunkgc:dev), started while the seed wrote");
  shown("helm", HELM_ARGS);
  await installed;
  await kube.show(["-n", OPERATOR_NS, "get", "deployment,pods"]);
}

async function createNamespaceAndSecret(kube: Kube, s3: DemoS3): Promise<void> {
  step(`Namespace ${NS} (Pod Security "restricted") and the S3 credentials Secret`);
  // A GarbageCollection a kept demo left behind would start a run at once; begin from none.
  await kube
    .kubectl(["-n", NS, "delete", "garbagecollection", GC, "--ignore-not-found", "--cascade=foreground", "--wait"])
    .catch(() => "");
  await kube.kubectl(["apply", "-f", "-"], { input: stringify(restrictedNamespace(NS)), echo: true });
  shown("kubectl", [
    ...["-n", NS, "create", "secret", "generic", SECRET],
    ...["--from-literal=AWS_ACCESS_KEY_ID=…", "--from-literal=AWS_SECRET_ACCESS_KEY=…"],
  ]);
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: SECRET, namespace: NS },
    type: "Opaque",
    stringData: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
  };
  // Through stdin: the keys never appear in a command line.
  await kube.kubectl(["apply", "-f", "-"], { input: stringify(secret) });
}

/** Polls the resource until the run of this generation is recorded, printing the run pod's phases on the way. */
async function waitForRun(kube: Kube, jobName: string): Promise<RecordedRun> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  const phases = new Map<string, string>();
  for (;;) {
    const gc = await kube.getJson<GcObject>(["-n", NS, "get", "garbagecollection", GC]);
    const last = gc.status?.lastRun;
    if (last?.jobName === jobName) return last;
    const pods = await kube
      .getJson<PodList>(["-n", NS, "get", "pods", "-l", `job-name=${jobName}`])
      .catch(() => ({ items: [] }));
    for (const pod of pods.items) {
      const phase = pod.status?.phase ?? "Unknown";
      if (phases.get(pod.metadata.name) !== phase) {
        phases.set(pod.metadata.name, phase);
        note(`[${elapsed()}] run pod ${pod.metadata.name}: ${phase}`);
      }
    }
    if (Date.now() > deadline) throw new DemoFailure(`no result for run ${jobName} after ${RUN_TIMEOUT_MS / 1000} s`);
    await delay(1000);
  }
}

async function countChunkObjects(s3: DemoS3): Promise<number> {
  const context = createS3Context(
    { endpoint: s3.endpoint, region: s3.region, bucket: BUCKET, forcePathStyle: true },
    { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  );
  try {
    let count = 0;
    for await (const _ of listObjects(context, { prefix: `${STORE}/.chunks/` })) count += 1;
    return count;
  } finally {
    context.close();
  }
}

/** Waits for the run of this generation, shows it as a user sees it, and fails on anything the seed did not expect. */
async function checkRun(
  kube: Kube,
  s3: DemoS3,
  seeded: SeedOutput,
  options: { dryRun: boolean; generation: number; chunkObjectsBefore: number },
): Promise<RunCounters> {
  const expected = seeded.expected.counters;
  const jobName = `${GC}-g${options.generation}`;
  const last = await waitForRun(kube, jobName);
  await kube.show(["-n", NS, "get", "chunkgc"]);
  note(`status.lastRun.counters of ${jobName} (dryRun: ${last.dryRun}), beside the seed's expectation:`);
  console.log(formatCounters(last.counters ?? {}, expected));
  const fixedFrom = outcomeFixedFrom(Object.values(seeded.report.waves), {
    graceSeconds: parseDurationSeconds(GRACE),
    agedSeconds: AGE_SECONDS,
    skewAllowanceSeconds: SKEW_ALLOWANCE_SECONDS,
  });
  const problems = runProblems(last, { dryRun: options.dryRun, counters: expected, fixedFrom });
  if (problems.length > 0) throw new DemoFailure(problems.join("; "));
  note("result Succeeded, all counters equal the seed's expectation");
  const after = await countChunkObjects(s3);
  note(`chunk objects in the bucket: ${options.chunkObjectsBefore} before, ${after} after`);
  const lost = bucketProblem(
    { before: options.chunkObjectsBefore, after },
    { dryRun: options.dryRun, counters: expected },
  );
  if (lost) throw new DemoFailure(lost);
  return expected;
}

async function showEventsAndMetrics(kube: Kube, expected: RunCounters): Promise<void> {
  step("The Events of the resource");
  await kube.show([
    ...["-n", NS, "get", "events", "--field-selector", `involvedObject.name=${GC}`],
    "--sort-by=.metadata.creationTimestamp",
  ]);
  step("The operator's metrics for this resource (its /metrics through the chart's Service)");
  const path = `/api/v1/namespaces/${OPERATOR_NS}/services/${RELEASE}-metrics:metrics/proxy/metrics`;
  const exposition = await kube.kubectl(["get", "--raw", path], { echo: true });
  const lines = metricLinesFor(exposition, NS, GC);
  // The duration histogram's buckets are for dashboards; its sum and count say it here.
  console.log(lines.filter((line) => !line.startsWith("chunkgc_run_duration_seconds_bucket")).join("\n"));
  const removed = lines.find((l) => l.startsWith("chunkgc_last_run_removed_chunks{"));
  const runs = lines.find((l) => l.startsWith("chunkgc_runs_total{") && l.includes('result="Succeeded"'));
  if (removed?.split(" ").at(-1) !== String(expected.removedChunks) || runs?.split(" ").at(-1) !== "2") {
    throw new DemoFailure("the metrics do not show two successful runs and the last run's removed chunks");
  }
}

async function diagnostics(kube: Kube): Promise<void> {
  console.log("\n--- diagnostics");
  for (const args of [
    ["-n", NS, "get", "garbagecollection", GC, "-o", "yaml"],
    ["-n", NS, "get", "jobs,pods,pvc", "-o", "wide"],
    ["-n", NS, "get", "events", "--sort-by=.metadata.creationTimestamp"],
    ["-n", OPERATOR_NS, "logs", `deployment/${RELEASE}`, "--tail=40"],
  ]) {
    await kube.show(args).catch((error: unknown) => console.log(String(error)));
  }
}

async function demo(): Promise<boolean> {
  await installPrerequisites();
  const wasRunning = clusterRunning();
  step("Starting the local one-node Kubernetes cluster (npm run cluster:up)");
  startedCluster = !wasRunning;
  await clusterCommand("up");
  mkdirSync(STATE_DIR, { recursive: true });
  const kubeconfig = join(CLUSTER_DIR, "kubeconfig");
  const hostAddress = readFileSync(join(CLUSTER_DIR, "host-address"), "utf8").trim();
  const kube = kubeTools(kubeconfig, STATE_DIR);
  let ok = false;
  try {
    await kube.show(["get", "nodes", "-o", "wide"]);
    step(`Starting an S3 server (versitygw) on ${hostAddress}, where the pods reach this machine`);
    await stopDemoS3(STATE_DIR);
    const s3 = await startDemoS3(STATE_DIR, hostAddress);
    note(`endpoint ${s3.endpoint}`);
    const chart = installChart(kube);
    // Awaited in showChart; a failure meanwhile must not count as unhandled.
    chart.catch(() => undefined);
    const seeded = await seed(s3);
    note(`${seeded.report.objects} objects written; the counters a GC run must find, as the seed states them:`);
    console.log(formatCounters(seeded.expected.counters, seeded.expected.counters));
    ageDatastore();
    await showChart(kube, chart);
    await createNamespaceAndSecret(kube, s3);

    step("A dry run: apply a GarbageCollection with dryRun: true (no schedule: it runs once per spec change)");
    const manifest = stringify(demoGarbageCollection(s3, true));
    console.log(manifest.trimEnd().replace(/^/gm, "   "));
    let chunkObjectsBefore = await countChunkObjects(s3);
    await kube.kubectl(["apply", "-f", "-"], { input: manifest, echo: true });
    await checkRun(kube, s3, seeded, { dryRun: true, generation: 1, chunkObjectsBefore });

    step("The real run: set dryRun to false");
    chunkObjectsBefore = await countChunkObjects(s3);
    await kube.kubectl(
      ["-n", NS, "patch", "garbagecollection", GC, "--type=merge", "-p", '{"spec":{"dryRun":false}}'],
      {
        echo: true,
      },
    );
    const expected = await checkRun(kube, s3, seeded, { dryRun: false, generation: 2, chunkObjectsBefore });
    await showEventsAndMetrics(kube, expected);
    ok = true;
  } catch (error) {
    console.error(`\n\x1b[31mdemo FAILED: ${error instanceof Error ? error.message : String(error)}\x1b[0m`);
    await diagnostics(kube);
  }
  if (flags.keep) {
    step("Kept running (--keep)");
    note(`export KUBECONFIG=${kubeconfig}`);
    note(`export PATH=${dirname(kube.kubectlPath)}:$PATH    # the pinned kubectl and helm`);
    note(`kubectl -n ${NS} get chunkgc;  kubectl -n ${NS} describe chunkgc ${GC}`);
    note("stop it with: make demo DOWN=1   (or node scripts/demo.ts --down)");
  } else if (wasRunning) {
    step("Removing the demo's resources (the cluster was already running before the demo; it stays up)");
    await kube.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=false"]).catch(() => "");
    await kube.helm(["uninstall", RELEASE, "--namespace", OPERATOR_NS, "--ignore-not-found"]).catch(() => "");
    await stopDemoS3(STATE_DIR);
  } else {
    await down();
  }
  return ok;
}

/** After a failure or Ctrl-C: stop what this demo started, unless it is to be kept. */
async function cleanUpAfterFailure(): Promise<void> {
  if (flags.keep) return;
  if (startedCluster) await down().catch(() => undefined);
  else await stopDemoS3(STATE_DIR).catch(() => false);
}

// Ctrl-C: the cluster runs in the background, so stop it rather than leave it behind.
process.once("SIGINT", () => {
  console.error("\ninterrupted");
  void cleanUpAfterFailure().then(() => process.exit(130));
});

if (flags.down) {
  await down();
} else {
  const ok = await demo().catch(async (error: unknown) => {
    console.error(`\n\x1b[31mdemo FAILED: ${error instanceof Error ? error.message : String(error)}\x1b[0m`);
    await cleanUpAfterFailure();
    return false;
  });
  console.log(`\n[${elapsed()}] demo ${ok ? "succeeded" : "FAILED"}`);
  process.exitCode = ok ? 0 : 1;
}
