/**
 * The life of one pod bound to the agent's node, as the kubelet would live it: refuse what cannot run faithfully,
 * resolve env and volumes (retrying config errors), start each container as a process, restart per restartPolicy,
 * report every transition through pods/status, and on deletion stop the processes within the grace period and
 * remove the pod object (delete with grace 0, as the kubelet does).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CoreV1Api, PatchStrategy, setHeaderOptions, type V1Container, type V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { startContainerProcess, terminationMessage } from "./container-process.ts";
import {
  chunkgcArguments,
  DEFAULT_TERMINATION_MESSAGE_PATH,
  expandReferences,
  type PathMapping,
  pathMapJson,
  rewritePaths,
  unsupportedFeatures,
} from "./pod-plan.ts";
import { ContainerConfigError, materialiseVolume, mountMappings, ObjectReader, resolveEnv } from "./pod-resources.ts";
import {
  type ContainerRecord,
  exitReason,
  podPhase,
  podStatus,
  type RestartPolicy,
  type Terminated,
} from "./pod-status.ts";
import type { ManagedProcess } from "./processes.ts";

/** What a worker needs from its agent. */
export interface WorkerContext {
  readonly api: CoreV1Api;
  readonly nodeName: string;
  readonly logger: Logger;
  readonly apiserverPort: number;
  readonly entrypoint: string | undefined;
  podDir(pod: V1Pod): string;
  podLogDir(pod: V1Pod): string;
  claimDir(namespace: string, claimName: string): string;
  recordEvent(pod: V1Pod, type: "Normal" | "Warning", reason: string, message: string): void;
}

interface Launch {
  readonly container: V1Container;
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly messagePath: string;
  readonly containerDir: string;
}

export const UNSUPPORTED_REASON = "Unsupported";
const REFUSED_EXIT_CODE = 128;
const CONFIG_RETRY_MS = 2_000;
const MAX_RESTART_BACKOFF_MS = 20_000;

const STATUS_PATCH = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === 404;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Whether `a` is a later version of the object than `b` (resourceVersions are etcd revisions here). */
function newerThan(a: V1Pod, b: V1Pod): boolean {
  try {
    return BigInt(a.metadata?.resourceVersion ?? "0") > BigInt(b.metadata?.resourceVersion ?? "0");
  } catch {
    return false;
  }
}

export class PodWorker {
  private pod: V1Pod;
  private readonly context: WorkerContext;
  private readonly records = new Map<string, ContainerRecord>();
  private readonly processes = new Map<string, ManagedProcess>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly launches = new Map<string, Launch>();
  /** Aborted when the pod is being deleted or the agent stops: ends waits and retries. */
  private readonly stopping = new AbortController();
  private failure: { reason: string; message: string } | undefined;
  private readonly startTime = new Date();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private reporting: Promise<void> = Promise.resolve();
  private reportQueued = false;
  private lastEventMessage = "";
  private finished = false;
  private deletion: Promise<void> | undefined;

  constructor(context: WorkerContext, pod: V1Pod) {
    this.context = context;
    this.pod = pod;
  }

  private get key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  private get restartPolicy(): RestartPolicy {
    return (this.pod.spec?.restartPolicy as RestartPolicy | undefined) ?? "Always";
  }

  /** Runs the pod; resolves when it is running or finished (exits are handled in the background). */
  async start(): Promise<void> {
    const phase = this.pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") {
      this.finished = true; // terminal before we saw it: nothing to run, only the deletion to finish
      return;
    }
    const problems = unsupportedFeatures(this.pod);
    if (problems.length > 0) {
      await this.refuse(problems);
      return;
    }
    const launches = await this.prepareWithRetry();
    if (!launches) return;
    const deadline = this.pod.spec?.activeDeadlineSeconds;
    if (deadline !== undefined) {
      this.deadlineTimer = setTimeout(() => void this.deadlineExceeded(), deadline * 1000);
      this.deadlineTimer.unref();
    }
    for (const launch of launches) {
      this.launches.set(launch.container.name, launch);
      this.launch(launch, 0);
    }
    await this.report();
  }

  /** A newer version of the pod from the informer. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.deletion) this.deletion = this.terminate(true);
  }

  /** The pod object is gone (force-deleted): stop at once. */
  async removed(): Promise<void> {
    this.stopping.abort();
    await this.stopProcesses(0);
    this.cleanup();
  }

  /** The agent stops: end the processes, leave the API alone. */
  async shutdown(): Promise<void> {
    this.stopping.abort();
    await this.stopProcesses(2);
  }

  private async refuse(problems: string[]): Promise<void> {
    const message = `the chunkgc node agent cannot run this pod: ${problems.join("; ")}`;
    this.context.logger.warn({ pod: this.key, problems }, "refusing pod");
    this.failure = { reason: UNSUPPORTED_REASON, message };
    const now = new Date();
    for (const container of this.pod.spec?.containers ?? []) {
      this.records.set(container.name, {
        name: container.name,
        image: container.image ?? "",
        restartCount: 0,
        state: {
          kind: "terminated",
          exitCode: REFUSED_EXIT_CODE,
          reason: UNSUPPORTED_REASON,
          message,
          startedAt: now,
          finishedAt: now,
        },
      });
    }
    this.context.recordEvent(this.pod, "Warning", UNSUPPORTED_REASON, message);
    this.finished = true;
    await this.report();
  }

  private async prepareWithRetry(): Promise<Launch[] | undefined> {
    for (;;) {
      if (this.stopping.signal.aborted) return undefined;
      try {
        return await this.prepare();
      } catch (error) {
        const configError = error instanceof ContainerConfigError;
        const message = error instanceof Error ? error.message : String(error);
        const reason = configError ? "CreateContainerConfigError" : "ContainerCreating";
        if (!configError) this.context.logger.error({ pod: this.key, err: error }, "preparing the pod failed");
        for (const container of this.pod.spec?.containers ?? []) {
          this.records.set(container.name, {
            name: container.name,
            image: container.image ?? "",
            restartCount: 0,
            state: { kind: "waiting", reason, message },
          });
        }
        if (message !== this.lastEventMessage) {
          this.lastEventMessage = message;
          this.context.recordEvent(this.pod, "Warning", "Failed", `Error: ${message}`);
        }
        await this.report();
        await sleep(CONFIG_RETRY_MS, this.stopping.signal);
      }
    }
  }

  private async prepare(): Promise<Launch[]> {
    const pod = this.pod;
    const namespace = pod.metadata?.namespace ?? "";
    const reader = new ObjectReader(this.context.api, namespace);
    const podDir = this.context.podDir(pod);
    const volumeDirs = new Map<string, string>();
    for (const volume of pod.spec?.volumes ?? []) {
      const dir = await materialiseVolume(volume, {
        pod,
        api: this.context.api,
        reader,
        podVolumesDir: join(podDir, "volumes"),
        claimDir: (claim) => this.context.claimDir(namespace, claim),
      });
      volumeDirs.set(volume.name, dir);
    }
    const port = String(this.context.apiserverPort);
    const launches: Launch[] = [];
    for (const container of pod.spec?.containers ?? []) {
      const containerDir = join(podDir, "containers", container.name);
      const root = join(containerDir, "root");
      mkdirSync(root, { recursive: true });
      const messagePath = join(containerDir, "termination-log");
      const mappings: PathMapping[] = [
        ...mountMappings(container, volumeDirs),
        {
          containerPath: container.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH,
          hostPath: messagePath,
        },
      ];
      const base: Record<string, string> = {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        HOME: root,
        HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? "",
        KUBERNETES_SERVICE_HOST: "127.0.0.1",
        KUBERNETES_SERVICE_PORT: port,
        KUBERNETES_SERVICE_PORT_HTTPS: port,
        KUBERNETES_PORT: `tcp://127.0.0.1:${port}`,
      };
      const own = await resolveEnv(pod, container, reader, base);
      const env: Record<string, string> = { ...base, CHUNKGC_TERMINATION_MESSAGE_PATH: messagePath };
      for (const [name, value] of Object.entries(own)) env[name] = rewritePaths(value, mappings);
      env.CHUNKGC_PATH_MAP = pathMapJson(mappings);
      // A container's /tmp is its mount when it has one; point Node's os.tmpdir() there too.
      const tmp = mappings.find((m) => m.containerPath === "/tmp");
      if (tmp && own.TMPDIR === undefined) env.TMPDIR = tmp.hostPath;
      const args = chunkgcArguments(container).map((arg) =>
        rewritePaths(
          expandReferences(arg, (name) => own[name] ?? base[name]),
          mappings,
        ),
      );
      let cwd = root;
      if (container.workingDir) {
        const mapped = rewritePaths(container.workingDir, mappings);
        cwd = mapped === container.workingDir ? join(root, container.workingDir) : mapped;
        mkdirSync(cwd, { recursive: true });
      }
      launches.push({ container, args, env, cwd, messagePath, containerDir });
    }
    return launches;
  }

  private launch(launch: Launch, restartCount: number): void {
    if (this.stopping.signal.aborted) return;
    const { container } = launch;
    const logDir = join(this.context.podLogDir(this.pod), container.name);
    mkdirSync(logDir, { recursive: true });
    const logPath = join(logDir, `${restartCount}.log`);
    writeFileSync(launch.messagePath, "");
    const proc = startContainerProcess({
      name: `${this.key}/${container.name}`,
      args: launch.args,
      env: launch.env,
      cwd: launch.cwd,
      logPath,
      graceSeconds: this.pod.spec?.terminationGracePeriodSeconds ?? 30,
      entrypoint: this.context.entrypoint,
    });
    const startedAt = new Date();
    const containerID = `chunkgc-agent://${proc.pid}`;
    const previous = this.records.get(container.name);
    this.records.set(container.name, {
      name: container.name,
      image: container.image ?? "",
      restartCount,
      state: { kind: "running", startedAt, containerID },
      ...(previous?.lastTerminated ? { lastTerminated: previous.lastTerminated } : {}),
    });
    this.processes.set(container.name, proc);
    this.context.logger.info(
      { pod: this.key, container: container.name, pid: proc.pid, args: launch.args },
      "started container",
    );
    if (restartCount === 0)
      this.context.recordEvent(this.pod, "Normal", "Started", `Started container ${container.name}`);
    void proc.exited.then((code) => this.exited(launch, restartCount, startedAt, containerID, logPath, code ?? 255));
  }

  private exited(
    launch: Launch,
    restartCount: number,
    startedAt: Date,
    containerID: string,
    logPath: string,
    exitCode: number,
  ): void {
    const { container } = launch;
    this.processes.delete(container.name);
    const message = terminationMessage({
      messagePath: launch.messagePath,
      logPath,
      policy: container.terminationMessagePolicy,
      exitCode,
    });
    const terminated: Terminated = {
      exitCode,
      reason: exitReason(exitCode),
      ...(message ? { message } : {}),
      startedAt,
      finishedAt: new Date(),
      containerID,
    };
    this.context.logger.info({ pod: this.key, container: container.name, exitCode }, "container exited");
    const policy = this.restartPolicy;
    const restart =
      !this.stopping.signal.aborted &&
      !this.failure &&
      (policy === "Always" || (policy === "OnFailure" && exitCode !== 0));
    if (restart) {
      const backoff = Math.min(MAX_RESTART_BACKOFF_MS, 1000 * 2 ** restartCount);
      this.records.set(container.name, {
        name: container.name,
        image: container.image ?? "",
        restartCount,
        state: {
          kind: "waiting",
          reason: "CrashLoopBackOff",
          message: `back-off ${backoff / 1000}s restarting failed container=${container.name}`,
        },
        lastTerminated: terminated,
      });
      const timer = setTimeout(() => {
        this.restartTimers.delete(container.name);
        this.launch(launch, restartCount + 1);
        void this.report();
      }, backoff);
      timer.unref();
      this.restartTimers.set(container.name, timer);
    } else {
      this.records.set(container.name, {
        name: container.name,
        image: container.image ?? "",
        restartCount,
        state: { kind: "terminated", ...terminated },
      });
    }
    const phase = podPhase(policy, [...this.records.values()]);
    if (phase === "Succeeded" || phase === "Failed") {
      this.finished = true;
      clearTimeout(this.deadlineTimer);
    }
    void this.report();
  }

  private async deadlineExceeded(): Promise<void> {
    if (this.finished || this.stopping.signal.aborted) return;
    this.failure = {
      reason: "DeadlineExceeded",
      message: `Pod was active on the node longer than the specified deadline`,
    };
    this.context.recordEvent(this.pod, "Normal", "DeadlineExceeded", this.failure.message);
    await this.stopProcesses(this.pod.spec?.terminationGracePeriodSeconds ?? 30);
    this.finished = true;
    await this.report();
  }

  /** Stops every container process (TERM, KILL after `graceSeconds`) and cancels pending restarts. */
  private async stopProcesses(graceSeconds: number): Promise<void> {
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    this.restartTimers.clear();
    await Promise.all([...this.processes.values()].map((proc) => proc.stop(graceSeconds * 1000 + 2_000)));
  }

  /** Deletion requested: stop the containers within the grace period, report, then remove the pod object. */
  private async terminate(graceful: boolean): Promise<void> {
    this.stopping.abort();
    const grace = graceful
      ? (this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30)
      : 0;
    if (this.processes.size > 0) {
      this.context.recordEvent(this.pod, "Normal", "Killing", "Stopping the pod's containers");
    }
    await this.stopProcesses(grace);
    // let the exit handlers record the final container states
    await new Promise((resolve) => setImmediate(resolve));
    for (const [name, record] of this.records) {
      if (record.state.kind === "waiting") {
        const now = new Date();
        this.records.set(name, {
          ...record,
          state: {
            kind: "terminated",
            exitCode: 137,
            reason: "ContainerStatusUnknown",
            startedAt: now,
            finishedAt: now,
          },
        });
      }
    }
    if (this.records.size > 0) await this.report();
    const name = this.pod.metadata?.name ?? "";
    const namespace = this.pod.metadata?.namespace ?? "";
    try {
      await this.context.api.deleteNamespacedPod({
        name,
        namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: this.pod.metadata?.uid } },
      });
    } catch (error) {
      if (
        !isNotFound(error) &&
        !(typeof error === "object" && error !== null && "code" in error && error.code === 409)
      ) {
        this.context.logger.error({ pod: this.key, err: error }, "removing the deleted pod failed");
      }
    }
  }

  /** Removes the pod's directory (emptyDirs, projected files, container roots); logs stay. */
  cleanup(): void {
    rmSync(this.context.podDir(this.pod), { recursive: true, force: true });
  }

  /** Writes the current status; concurrent calls coalesce into one patch that sees the latest state. */
  report(): Promise<void> {
    if (this.reportQueued) return this.reporting;
    this.reportQueued = true;
    this.reporting = this.reporting.then(async () => {
      this.reportQueued = false;
      await this.patchStatus();
    });
    return this.reporting;
  }

  private async patchStatus(): Promise<void> {
    const containers = (this.pod.spec?.containers ?? []).map(
      (c) =>
        this.records.get(c.name) ?? {
          name: c.name,
          image: c.image ?? "",
          restartCount: 0,
          state: { kind: "waiting" as const, reason: "ContainerCreating" },
        },
    );
    const status = podStatus({
      restartPolicy: this.restartPolicy,
      containers,
      previousConditions: this.pod.status?.conditions ?? [],
      startTime: this.startTime,
      hostIP: "127.0.0.1",
      now: new Date(),
      ...(this.failure ? { failure: this.failure } : {}),
    });
    const name = this.pod.metadata?.name ?? "";
    const namespace = this.pod.metadata?.namespace ?? "";
    for (let attempt = 1; ; attempt++) {
      try {
        const patched = await this.context.api.patchNamespacedPodStatus(
          { name, namespace, body: { status } },
          STATUS_PATCH,
        );
        if (newerThan(patched, this.pod)) this.pod = patched;
        return;
      } catch (error) {
        if (isNotFound(error)) return;
        if (attempt >= 3) {
          this.context.logger.error({ pod: this.key, err: error }, "pod status update failed");
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }
}
