import { existsSync, readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { type Command, InvalidArgumentError, Option } from "commander";
import { EXIT } from "../../api/exit-codes.ts";
import { ENGINE_ENV_MESSAGE, isAllowedRunEnvName } from "../../api/spec.ts";
import { createLogger } from "../../log.ts";
import { startOperator } from "../../operator/controller/index.ts";
import { type DatastorePolicy, parseDatastorePolicy } from "../../operator/datastore-policy.ts";
import { durationSeconds, positiveInteger } from "../arg-parsers.ts";

interface OperatorCliOptions {
  kubeconfig?: string;
  namespace: string[];
  operatorNamespace?: string;
  defaultImage: string;
  metricsAddr: string;
  leaderElect?: boolean | string;
  leaderElectLeaseDuration: number;
  workers: number;
  relistInterval: number;
  datastoreLeaseDuration: number;
  runEnv: Record<string, string>;
  leaderElectLeaseName: string;
  runServiceAccount?: string;
  runImagePullSecret: string[];
  runActiveDeadline: number;
  runPodIds: "fixed" | "platform";
  runStartTimeout: number;
  datastorePolicy?: DatastorePolicy;
  manageRunServiceAccount?: boolean;
  runServiceAccountAnnotation: Record<string, string>;
}

/** In a pod: the service account's namespace file. */
const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** --run-env NAME=VALUE: the same names a spec may set (spec.runPod.env), never an engine safety switch. */
export function collectEnv(value: string, previous: Record<string, string>): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`--run-env takes NAME=VALUE, got "${value}"`);
  const name = value.slice(0, at);
  if (!isAllowedRunEnvName(name)) throw new InvalidArgumentError(`--run-env ${name}: ${ENGINE_ENV_MESSAGE}`);
  return { ...previous, [name]: value.slice(at + 1) };
}

function collectPair(flag: string) {
  return (value: string, previous: Record<string, string>): Record<string, string> => {
    const at = value.indexOf("=");
    if (at <= 0) throw new InvalidArgumentError(`${flag} takes KEY=VALUE, got "${value}"`);
    return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
  };
}

function collectList(value: string, previous: string[]): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== ""),
  ];
}

function operatorNamespace(explicit: string | undefined): string {
  if (explicit) return explicit;
  if (existsSync(SERVICE_ACCOUNT_NAMESPACE)) return readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8").trim();
  return "default";
}

export function registerOperatorCommand(program: Command): void {
  program
    .command("operator")
    .description("run the Kubernetes operator for chunkgc.io GarbageCollection resources")
    .addOption(
      new Option("--kubeconfig <file>", "kubeconfig to use (default: KUBECONFIG, ~/.kube/config, else in-cluster)"),
    )
    .addOption(
      new Option("--namespace <ns>", "watch only these namespaces (repeatable or comma-separated; default: all)")
        .env("CHUNKGC_WATCH_NAMESPACE")
        .default([])
        .argParser(collectList),
    )
    .addOption(
      new Option(
        "--operator-namespace <ns>",
        "namespace of the datastore and leader Leases (default: own namespace)",
      ).env("POD_NAMESPACE"),
    )
    .addOption(
      new Option("--default-image <image>", "engine image for resources without spec.runPod.image")
        .env("CHUNKGC_DEFAULT_IMAGE")
        .default("chunkgc:dev"),
    )
    .addOption(
      new Option("--metrics-addr <host:port>", "address of /metrics, /healthz and /readyz; 0 disables")
        .env("CHUNKGC_METRICS_ADDR")
        .default(":8080"),
    )
    .addOption(new Option("--leader-elect", "run only while holding the leader Lease").env("CHUNKGC_LEADER_ELECT"))
    .addOption(
      new Option("--leader-elect-lease-duration <duration>", "leader Lease duration (renew deadline: 2/3 of it)")
        .default(15, "15s")
        .argParser(durationSeconds("--leader-elect-lease-duration")),
    )
    .addOption(
      new Option("--workers <n>", "resources reconciled in parallel")
        .default(2)
        .argParser(positiveInteger("--workers")),
    )
    .addOption(
      new Option("--relist-interval <duration>", "full relist of every watched kind")
        .default(300, "5m")
        .argParser(durationSeconds("--relist-interval")),
    )
    .addOption(
      new Option(
        "--datastore-lease-duration <duration>",
        "datastore lock Lease duration, renewed while a run is active",
      )
        .default(60, "60s")
        .argParser(durationSeconds("--datastore-lease-duration")),
    )
    .addOption(
      new Option(
        "--run-env <NAME=VALUE>",
        "add a variable to every run pod (repeatable), such as HTTPS_PROXY; CHUNKGC_* switches are refused",
      )
        .default({})
        .argParser(collectEnv),
    )
    .addOption(
      new Option("--leader-elect-lease-name <name>", "leader Lease name (two releases in one namespace need two)")
        .env("CHUNKGC_LEADER_ELECT_LEASE_NAME")
        .default("chunkgc-operator"),
    )
    .addOption(
      new Option("--run-service-account <name>", "ServiceAccount of run pods whose spec names none").env(
        "CHUNKGC_RUN_SERVICE_ACCOUNT",
      ),
    )
    .addOption(
      new Option(
        "--manage-run-service-account",
        "create --run-service-account in a namespace that lacks it (when no installation creates it there)",
      ),
    )
    .addOption(
      new Option("--run-service-account-annotation <KEY=VALUE>", "annotation of a created run ServiceAccount")
        .default({})
        .argParser(collectPair("--run-service-account-annotation")),
    )
    .addOption(
      new Option("--run-image-pull-secret <names>", "pull secrets of run pods whose spec names none (repeatable)")
        .env("CHUNKGC_RUN_IMAGE_PULL_SECRETS")
        .default([])
        .argParser(collectList),
    )
    .addOption(
      new Option("--run-active-deadline <duration>", "deadline of a run whose spec sets none (it ends stuck runs)")
        .env("CHUNKGC_RUN_ACTIVE_DEADLINE")
        .default(12 * 3600, "12h")
        .argParser(durationSeconds("--run-active-deadline")),
    )
    .addOption(
      new Option("--run-start-timeout <duration>", "a run whose pod cannot start for this long is ended")
        .env("CHUNKGC_RUN_START_TIMEOUT")
        .default(600, "10m")
        .argParser(durationSeconds("--run-start-timeout")),
    )
    .addOption(
      new Option(
        "--datastore-policy <json>",
        'datastores each namespace may name: {"team-a": [{"bucket": "pbs-a", "store": "*"}], "*": [...]}',
      )
        .env("CHUNKGC_DATASTORE_POLICY")
        .argParser((value: string) => {
          try {
            return parseDatastorePolicy(value);
          } catch (error) {
            throw new InvalidArgumentError((error as Error).message);
          }
        }),
    )
    .addOption(
      new Option("--run-pod-ids <mode>", "fixed: run pods run as 65532; platform: the platform assigns uid/gid/fsGroup")
        .env("CHUNKGC_RUN_POD_IDS")
        .choices(["fixed", "platform"])
        .default("fixed"),
    )
    .action(async (options: OperatorCliOptions) => {
      const log = createLogger({ name: "chunkgc-operator" });
      const kubeConfig = new KubeConfig();
      if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
      else kubeConfig.loadFromDefault();
      const leaseDuration = options.leaderElectLeaseDuration;
      const operator = await startOperator({
        kubeConfig,
        namespaces: options.namespace,
        operatorNamespace: operatorNamespace(options.operatorNamespace),
        defaultImage: options.defaultImage,
        runPod: {
          ...(options.runServiceAccount ? { serviceAccountName: options.runServiceAccount } : {}),
          ...(options.manageRunServiceAccount
            ? { manageServiceAccount: { annotations: options.runServiceAccountAnnotation } }
            : {}),
          imagePullSecrets: options.runImagePullSecret,
          activeDeadlineSeconds: options.runActiveDeadline,
          ids: options.runPodIds,
          env: options.runEnv,
        },
        metricsAddress: options.metricsAddr,
        leaderElection: {
          enabled: options.leaderElect === true || options.leaderElect === "true" || options.leaderElect === "1",
          leaseName: options.leaderElectLeaseName,
          leaseDurationSeconds: leaseDuration,
          renewDeadlineSeconds: Math.max(1, Math.floor((leaseDuration * 2) / 3)),
          retryPeriodSeconds: Math.max(1, Math.floor(leaseDuration / 7)),
        },
        workers: options.workers,
        relistIntervalMs: options.relistInterval * 1000,
        datastoreLeaseSeconds: options.datastoreLeaseDuration,
        runStartTimeoutMs: options.runStartTimeout * 1000,
        datastorePolicy: options.datastorePolicy,
        log,
        processMetrics: true,
      });
      const onSignal = (signal: NodeJS.Signals) => {
        log.info({ signal }, "shutting down");
        void operator.stop();
      };
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
      const { reason } = await operator.stopped;
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      process.exitCode = reason === "LeaderLost" ? EXIT.error : EXIT.ok;
    });
}
