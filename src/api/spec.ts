import { z } from "zod";
import { durationSchema } from "./duration.ts";
import { normalizeScheduleSyntax, SCHEDULE_CEL_RULE, SCHEDULE_RULE_MESSAGE } from "./schedule-syntax.ts";

/**
 * `spec` of `chunkgc.io/v1alpha1` GarbageCollection. Field names are part of the public contract; every field carries
 * the description `kubectl explain` shows, and defaults live here once (the CRD is generated from this file).
 */

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes resource.Quantity, as the API server's own pattern. */
export const QUANTITY_PATTERN =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** IANA time zones as the runtime knows them; UTC offsets (`+01:00`) and abbreviations are not accepted. */
export function isIanaTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const objectName = (what: string) =>
  z
    .string()
    .min(1)
    .max(253)
    .regex(DNS_SUBDOMAIN)
    .describe(`Name of the ${what} (a DNS subdomain name), in the namespace of the GarbageCollection.`);

const quantity = (description: string) =>
  z
    .union([z.string().regex(QUANTITY_PATTERN), z.int().nonnegative()])
    .meta({ "x-kubernetes-int-or-string": true })
    .describe(description);

const identityImmutable = (field: string) => ({
  "x-kubernetes-validations": [
    {
      rule: "self == oldSelf",
      message: `${field} is immutable: it identifies the datastore; create a new GarbageCollection for another one`,
    },
  ],
});

export const SecretReferenceSchema = z
  .object({ name: objectName("Secret") })
  .describe("Reference to a Secret in the namespace of the GarbageCollection.");

export const CaBundleSecretReferenceSchema = z
  .object({
    name: objectName("Secret"),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/)
      .default("ca.crt")
      .describe("Key in the Secret that holds the PEM-encoded CA certificates."),
  })
  .describe(
    "Secret with additional PEM CA certificates to trust for the S3 endpoint (self-signed or private CAs). " +
      "The system trust store is still used.",
  );

export const S3DatastoreSchema = z
  .object({
    endpoint: z
      .string()
      .min(1)
      .max(2048)
      .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/)
      .refine((endpoint) => URL.canParse(endpoint), { message: "must be a valid http(s) URL" })
      .meta(identityImmutable("endpoint"))
      .describe(
        'URL of the S3 endpoint, such as "https://s3.eu-central-1.amazonaws.com" or "http://rgw.storage:7480". ' +
          "Part of the datastore identity (with bucket and store): immutable.",
      ),
    region: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default("us-east-1")
      .describe("Signing region of the S3 endpoint. Servers without regions (Ceph, MinIO) accept the default."),
    bucket: z
      .string()
      .min(3)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/)
      .meta(identityImmutable("bucket"))
      .describe("Bucket that holds the datastore. Part of the datastore identity: immutable."),
    store: z
      .string()
      .min(3)
      .max(32)
      .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/)
      .meta(identityImmutable("store"))
      .describe(
        "Name of the Proxmox Backup Server datastore: the key prefix `<store>/` in the bucket " +
          "(several datastores may share a bucket). Part of the datastore identity: immutable.",
      ),
    pathStyle: z
      .boolean()
      .default(false)
      .describe(
        "Address the bucket in the URL path (https://endpoint/bucket/key) instead of as a virtual host " +
          "(https://bucket.endpoint/key). Most self-hosted S3 servers need true.",
      ),
    credentialsSecretRef: SecretReferenceSchema.optional().describe(
      "Secret with the S3 credentials under the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally " +
        "AWS_SESSION_TOKEN). They reach the run pod as environment variables only, never the status or events. " +
        "Without it the engine uses the AWS SDK's default credential chain (IRSA or EKS Pod Identity through the " +
        "run ServiceAccount, instance metadata). The credentials need list, get, put and delete on the store prefix.",
    ),
    caBundleSecretRef: CaBundleSecretReferenceSchema.optional(),
  })
  .describe("An S3 bucket (any S3-compatible server) holding a Proxmox Backup Server datastore.");

export const DatastoreSchema = z
  .object({ s3: S3DatastoreSchema })
  .describe(
    "The datastore to collect. Only one run at a time is allowed per datastore identity (endpoint, bucket, store), " +
      "across all GarbageCollections in the cluster.",
  );

export const ClaimRetentionPolicySchema = z.enum(["Retain", "Delete"]);

export const VolumeClaimTemplateSchema = z
  .object({
    storageClassName: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe("StorageClass of the claim; the cluster default StorageClass when omitted."),
    storage: z
      .string()
      .regex(QUANTITY_PATTERN)
      .default("1Gi")
      .describe(
        "Requested size, as a Kubernetes quantity. The cache holds one marker per chunk and a copy of every " +
          "index file (about the size of the datastore's .cnt/ tree).",
      ),
    accessModes: z
      .array(z.enum(["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"]))
      .min(1)
      .max(3)
      .default(["ReadWriteOnce"])
      .describe("Access modes of the claim; one run pod uses it at a time, so ReadWriteOnce suffices."),
    whenDeleted: ClaimRetentionPolicySchema.default("Retain").describe(
      "What happens to the claim when the GarbageCollection is deleted: Retain keeps it (a later resource with " +
        "the same name reuses it), Delete removes it with the resource. Losing the cache costs a full index download " +
        "on the next run.",
    ),
  })
  .describe(
    "A PersistentVolumeClaim the operator creates in the namespace of the GarbageCollection, " +
      "named `<garbagecollection>-marker-cache`.",
  );

export const MarkerCacheSchema = z
  .object({
    claimName: objectName("existing PersistentVolumeClaim").optional(),
    volumeClaimTemplate: VolumeClaimTemplateSchema.optional(),
  })
  .refine((cache) => (cache.claimName === undefined) !== (cache.volumeClaimTemplate === undefined), {
    message: "set exactly one of claimName or volumeClaimTemplate",
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "has(self.claimName) != has(self.volumeClaimTemplate)",
        message: "set exactly one of claimName or volumeClaimTemplate",
      },
    ],
  })
  .describe(
    "Persistent storage for the engine's marker cache (when each chunk was last referenced) and index cache, " +
      "mounted at /var/cache/chunkgc in the run pod. Either an existing claim or a template the operator creates.",
  );

const price = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)?$/)
  .optional();

export const RequestPricesSchema = z
  .object({
    list: price.describe('US dollars per 1000 ListObjectsV2 requests, such as "0.005".'),
    get: price.describe("US dollars per 1000 GetObject requests."),
    head: price.describe("US dollars per 1000 HeadObject requests."),
    put: price.describe("US dollars per 1000 PutObject requests."),
    delete: price.describe("US dollars per 1000 DeleteObjects requests."),
  })
  .describe(
    "Request prices for the cost estimate in the status (decimal strings); kinds left out keep the engine's " +
      "defaults, AWS S3 Standard list prices.",
  );

export const EngineTuningSchema = z
  .object({
    listConcurrency: z
      .int()
      .min(1)
      .max(256)
      .default(16)
      .describe("Parallel listing streams over the store's .chunks/ prefix."),
    indexConcurrency: z.int().min(1).max(128).default(32).describe("Index files read in parallel."),
    deleteConcurrency: z.int().min(1).max(64).default(4).describe("DeleteObjects requests in flight."),
    deleteBatchSize: z
      .int()
      .min(1)
      .max(1000)
      .default(1000)
      .describe("Keys per DeleteObjects request (S3 allows at most 1000)."),
    requestPrices: RequestPricesSchema.optional(),
  })
  .describe("Engine tuning: request concurrency, delete batch size and request prices.");

export const TolerationSchema = z
  .object({
    key: z.string().max(316).optional().describe("Taint key the toleration applies to; empty matches all keys."),
    operator: z
      .enum(["Exists", "Equal"])
      .optional()
      .describe("Exists matches any value, Equal (the default) matches value."),
    value: z.string().max(63).optional().describe("Taint value the toleration matches with operator Equal."),
    effect: z
      .enum(["NoSchedule", "PreferNoSchedule", "NoExecute"])
      .optional()
      .describe("Taint effect to match; empty matches all effects."),
    tolerationSeconds: z
      .int()
      .optional()
      .describe("For NoExecute: how long the pod stays bound after the taint appears."),
  })
  .describe("A Kubernetes toleration (core/v1 Toleration).");

export const ResourceRequirementsSchema = z
  .object({
    limits: z
      .record(z.string(), quantity("A resource quantity."))
      .optional()
      .describe("Maximum compute resources (cpu, memory, ephemeral-storage)."),
    requests: z
      .record(z.string(), quantity("A resource quantity."))
      .optional()
      .describe("Minimum compute resources the scheduler reserves."),
  })
  .describe("Compute resources of the engine container (core/v1 ResourceRequirements without claims).");

/**
 * Engine variables a user may set on a run pod. Every other CHUNKGC_* name is refused: the engine reads its settings
 * (and its safety switches such as CHUNKGC_ACKNOWLEDGE_IN_USE, CHUNKGC_NOW, CHUNKGC_GRACE, CHUNKGC_DRY_RUN) from
 * the environment too, and what a run deletes must follow from the spec alone. Allow-listed, so that a switch the
 * engine gains later is refused without anyone remembering to add it here.
 */
export const ALLOWED_ENGINE_ENV = ["CHUNKGC_LOG_LEVEL"] as const;
export const ENGINE_ENV_PREFIX = "CHUNKGC_";
export const ENGINE_ENV_MESSAGE =
  "CHUNKGC_* variables configure the engine (what it deletes follows from the spec alone); only " +
  `${ALLOWED_ENGINE_ENV.join(", ")} may be set`;
export const ENV_FROM_MESSAGE =
  "envFrom needs a prefix that cannot form a CHUNKGC_* name (such as PROXY_), so that a ConfigMap or Secret cannot " +
  "set the engine's safety switches; use env with valueFrom for single variables";

/** Whether a variable name may be set by a user on the run pod. */
export function isAllowedRunEnvName(name: string): boolean {
  return !name.startsWith(ENGINE_ENV_PREFIX) || (ALLOWED_ENGINE_ENV as readonly string[]).includes(name);
}

/** Whether an envFrom prefix keeps every variable it makes out of the CHUNKGC_* names. */
export function isSafeEnvFromPrefix(prefix: string | undefined): boolean {
  if (prefix === undefined || prefix === "") return false;
  return !prefix.startsWith(ENGINE_ENV_PREFIX) && !ENGINE_ENV_PREFIX.startsWith(prefix);
}

const allowedEnvCel =
  `!self.name.startsWith('${ENGINE_ENV_PREFIX}') || ` +
  ALLOWED_ENGINE_ENV.map((n) => `self.name == '${n}'`).join(" || ");
const safePrefixCel =
  `has(self.prefix) && self.prefix != '' && !self.prefix.startsWith('${ENGINE_ENV_PREFIX}') && ` +
  `!'${ENGINE_ENV_PREFIX}'.startsWith(self.prefix)`;

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const KEY = /^[-._a-zA-Z0-9]+$/;

const keySelector = (what: string) =>
  z
    .object({
      name: objectName(what),
      key: z.string().min(1).max(253).regex(KEY).describe(`Key in the ${what}.`),
      optional: z.boolean().optional().describe(`Whether the ${what} or its key may be missing.`),
    })
    .describe(`A key of a ${what} in the namespace of the GarbageCollection.`);

export const EnvVarSchema = z
  .object({
    name: z.string().min(1).max(256).regex(ENV_NAME).describe("Variable name."),
    value: z.string().max(32768).optional().describe("Literal value."),
    valueFrom: z
      .object({
        configMapKeyRef: keySelector("ConfigMap").optional(),
        secretKeyRef: keySelector("Secret").optional(),
        fieldRef: z
          .object({
            fieldPath: z.string().min(1).max(256).describe("Pod field, such as metadata.name or spec.nodeName."),
            apiVersion: z.string().max(64).optional().describe("Version of fieldPath's schema (v1)."),
          })
          .optional()
          .describe("A field of the run pod."),
      })
      .refine((from) => Object.values(from).filter((v) => v !== undefined).length === 1, {
        message: "set exactly one of configMapKeyRef, secretKeyRef or fieldRef",
      })
      .meta({
        "x-kubernetes-validations": [
          {
            rule: "[has(self.configMapKeyRef), has(self.secretKeyRef), has(self.fieldRef)].filter(x, x).size() == 1",
            message: "set exactly one of configMapKeyRef, secretKeyRef or fieldRef",
          },
        ],
      })
      .optional()
      .describe("Where the value comes from instead of value."),
  })
  .refine((env) => isAllowedRunEnvName(env.name), { message: ENGINE_ENV_MESSAGE, path: ["name"] })
  .refine((env) => env.value === undefined || env.valueFrom === undefined, {
    message: "set value or valueFrom, not both",
  })
  .meta({
    "x-kubernetes-validations": [
      { rule: allowedEnvCel, message: ENGINE_ENV_MESSAGE },
      { rule: "!(has(self.value) && has(self.valueFrom))", message: "set value or valueFrom, not both" },
    ],
  })
  .describe("An environment variable of the engine container (core/v1 EnvVar), such as HTTPS_PROXY.");

export const EnvFromSourceSchema = z
  .object({
    prefix: z.string().min(1).max(256).regex(ENV_NAME).optional().describe("Prefix of every variable made (required)."),
    configMapRef: z
      .object({
        name: objectName("ConfigMap"),
        optional: z.boolean().optional().describe("Whether the ConfigMap may be missing."),
      })
      .optional()
      .describe("All keys of a ConfigMap."),
    secretRef: z
      .object({
        name: objectName("Secret"),
        optional: z.boolean().optional().describe("Whether the Secret may be missing."),
      })
      .optional()
      .describe("All keys of a Secret."),
  })
  .refine((from) => isSafeEnvFromPrefix(from.prefix), { message: ENV_FROM_MESSAGE, path: ["prefix"] })
  .refine((from) => (from.configMapRef === undefined) !== (from.secretRef === undefined), {
    message: "set exactly one of configMapRef or secretRef",
  })
  .meta({
    "x-kubernetes-validations": [
      { rule: safePrefixCel, message: ENV_FROM_MESSAGE },
      {
        rule: "has(self.configMapRef) != has(self.secretRef)",
        message: "set exactly one of configMapRef or secretRef",
      },
    ],
  })
  .describe("Variables from all keys of a ConfigMap or Secret (core/v1 EnvFromSource), under a prefix.");

/** Mounts the operator makes itself; a user's volume may not replace, hide or nest in them. */
export const RESERVED_VOLUME_NAMES = ["marker-cache", "tmp", "ca-bundle"] as const;
export const RESERVED_MOUNT_PATHS = ["/var/cache/chunkgc", "/tmp", "/etc/chunkgc/ca", "/dev/termination-log", "/app"];

/** Whether a mount path equals, contains or lies inside one of the operator's own mounts (or the engine's code). */
export function isReservedMountPath(path: string): boolean {
  const clean = path.replace(/\/+$/, "") || "/";
  return RESERVED_MOUNT_PATHS.some(
    (reserved) =>
      clean === reserved || clean.startsWith(`${reserved}/`) || reserved.startsWith(`${clean === "/" ? "" : clean}/`),
  );
}

const keyToPath = z
  .object({
    key: z.string().min(1).max(253).regex(KEY).describe("Key in the ConfigMap or Secret."),
    path: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[^/.][^/]*(\/[^/]+)*$/)
      .refine((p) => !p.split("/").includes(".."), { message: "must not contain '..'" })
      .describe("Relative file path in the volume."),
  })
  .describe("One key, as a file.");

const volumeSourceFields = (what: "ConfigMap" | "Secret") => ({
  items: z.array(keyToPath).max(64).optional().describe(`Keys of the ${what} to project (all when omitted).`),
  optional: z.boolean().optional().describe(`Whether the ${what} may be missing.`),
});

export const RunPodVolumeSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      .refine((name) => !(RESERVED_VOLUME_NAMES as readonly string[]).includes(name), {
        message: `${RESERVED_VOLUME_NAMES.join(", ")} are the operator's own volumes`,
      })
      .meta({
        "x-kubernetes-validations": [
          {
            rule: `!(self in [${RESERVED_VOLUME_NAMES.map((n) => `'${n}'`).join(", ")}])`,
            message: `${RESERVED_VOLUME_NAMES.join(", ")} are the operator's own volumes`,
          },
        ],
      })
      .describe("Volume name, referred to by volumeMounts."),
    configMap: z
      .object({ name: objectName("ConfigMap"), ...volumeSourceFields("ConfigMap") })
      .optional()
      .describe("A ConfigMap as files (such as a CA bundle a trust-manager Bundle writes)."),
    secret: z
      .object({ secretName: objectName("Secret"), ...volumeSourceFields("Secret") })
      .optional()
      .describe("A Secret as files."),
  })
  .refine((volume) => (volume.configMap === undefined) !== (volume.secret === undefined), {
    message: "set exactly one of configMap or secret",
  })
  .meta({
    "x-kubernetes-validations": [
      { rule: "has(self.configMap) != has(self.secret)", message: "set exactly one of configMap or secret" },
    ],
  })
  .describe(
    "A volume of the run pod: a ConfigMap or a Secret only (other volume types would give the run pod access the " +
      "resource's author may not have).",
  );

const MOUNT_PATH_MESSAGE = `must not be, contain or lie inside ${RESERVED_MOUNT_PATHS.join(", ")}`;

export const RunPodVolumeMountSchema = z
  .object({
    name: z.string().min(1).max(63).describe("Name of a volume in spec.runPod.volumes."),
    mountPath: z
      .string()
      .min(2)
      .max(1024)
      .regex(/^\/[^:]*$/)
      .refine((path) => !isReservedMountPath(path), { message: MOUNT_PATH_MESSAGE })
      .meta({
        "x-kubernetes-validations": [
          {
            rule: RESERVED_MOUNT_PATHS.map(
              (r) => `!(self == '${r}' || self.startsWith('${r}/') || '${r}'.startsWith(self + '/'))`,
            ).join(" && "),
            message: MOUNT_PATH_MESSAGE,
          },
        ],
      })
      .describe("Absolute path in the engine container (mounted read-only), such as /etc/ssl/custom."),
    subPath: z
      .string()
      .max(1024)
      .optional()
      .describe("File or directory inside the volume to mount instead of its root."),
  })
  .describe("Where the engine container mounts one of spec.runPod.volumes (always read-only).");

export const RunPodSecurityContextSchema = z
  .object({
    runAsUser: z
      .int()
      .min(1)
      .max(2147483647)
      .optional()
      .describe(
        "User id of the run pod (the operator's setting when omitted: 65532, or none where the platform assigns it).",
      ),
    runAsGroup: z.int().min(0).max(2147483647).optional().describe("Primary group id of the run pod."),
    fsGroup: z.int().min(0).max(2147483647).optional().describe("Group that owns the marker-cache volume's files."),
    supplementalGroups: z.array(z.int().min(0).max(2147483647)).max(32).optional().describe("Extra group ids."),
    fsGroupChangePolicy: z
      .enum(["OnRootMismatch", "Always"])
      .optional()
      .describe("When the kubelet changes the volume's ownership to fsGroup (OnRootMismatch by default)."),
    seLinuxOptions: z
      .object({
        level: z.string().max(256).optional().describe("SELinux level label."),
        role: z.string().max(256).optional().describe("SELinux role label."),
        type: z.string().max(256).optional().describe("SELinux type label."),
        user: z.string().max(256).optional().describe("SELinux user label."),
      })
      .optional()
      .describe("SELinux labels of the run pod."),
  })
  .describe(
    "Pod security context overrides. The run pod always runs as non-root with a read-only root file system, no " +
      "privilege escalation, no capabilities and the RuntimeDefault seccomp profile; only the ids and labels below " +
      "can be chosen (OpenShift's restricted-v2 assigns the ids: leave them out there).",
  );

export const RunPodSchema = z
  .object({
    image: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe("Engine image; defaults to the operator's own image. It must contain the `chunkgc` command."),
    imagePullPolicy: z
      .enum(["Always", "IfNotPresent", "Never"])
      .optional()
      .describe("Pull policy of the engine image; the Kubernetes default when omitted."),
    resources: ResourceRequirementsSchema.optional(),
    nodeSelector: z.record(z.string(), z.string()).optional().describe("Node labels the run pod must match."),
    tolerations: z.array(TolerationSchema).max(64).optional().describe("Tolerations of the run pod."),
    affinity: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ "x-kubernetes-preserve-unknown-fields": true })
      .describe("Affinity of the run pod (core/v1 Affinity), passed through unchanged."),
    priorityClassName: z.string().min(1).max(253).optional().describe("PriorityClass of the run pod."),
    podAnnotations: z
      .record(z.string(), z.string())
      .optional()
      .describe("Extra annotations on the run pod (such as a service mesh's sidecar opt-out)."),
    podLabels: z
      .record(z.string(), z.string())
      .optional()
      .describe("Extra labels on the run pod; the operator's own labels take precedence."),
    serviceAccountName: z
      .string()
      .min(1)
      .max(253)
      .regex(DNS_SUBDOMAIN)
      .optional()
      .describe(
        "ServiceAccount of the run pod, in the namespace of the GarbageCollection; the operator's default (the " +
          "chart's run ServiceAccount) when omitted. With cloud identity (IRSA, Pod Identity) its annotations carry " +
          "the role. No API token is mounted.",
      ),
    imagePullSecrets: z
      .array(z.object({ name: objectName("Secret") }).describe("A kubernetes.io/dockerconfigjson Secret."))
      .max(16)
      .optional()
      .describe("Pull secrets of the engine image; the operator's defaults when omitted."),
    env: z
      .array(EnvVarSchema)
      .max(64)
      .optional()
      .describe("Extra environment of the engine container (HTTPS_PROXY, NO_PROXY, NODE_EXTRA_CA_CERTS, AWS_*)."),
    envFrom: z.array(EnvFromSourceSchema).max(16).optional().describe("Extra environment from ConfigMaps or Secrets."),
    securityContext: RunPodSecurityContextSchema.optional(),
    volumes: z
      .array(RunPodVolumeSchema)
      .max(16)
      .optional()
      .describe("Extra volumes (ConfigMaps or Secrets), such as a CA bundle for NODE_EXTRA_CA_CERTS."),
    volumeMounts: z.array(RunPodVolumeMountSchema).max(16).optional().describe("Where the engine mounts volumes."),
  })
  .refine((pod) => (pod.volumeMounts ?? []).every((mount) => (pod.volumes ?? []).some((v) => v.name === mount.name)), {
    message: "every volumeMounts[].name must name one of volumes",
    path: ["volumeMounts"],
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.name))",
        message: "every volumeMounts[].name must name one of volumes",
      },
    ],
  })
  .describe("The pod each run executes in.");

export const JobSettingsSchema = z
  .object({
    activeDeadlineSeconds: z
      .int()
      .min(60)
      .optional()
      .describe(
        "Seconds a run may take before Kubernetes stops it (the run then counts as failed, and a run that cannot " +
          "start ends too); the operator's default (12 hours unless configured) when omitted.",
      ),
    backoffLimit: z
      .int()
      .min(0)
      .max(10)
      .default(0)
      .describe("Pod retries within one run; 0 reports a failure at once and leaves the retry to the next slot."),
  })
  .describe("Settings of the batch/v1 Job of each run.");

export const GarbageCollectionSpecSchema = z
  .object({
    datastore: DatastoreSchema,
    markerCache: MarkerCacheSchema,
    schedule: z
      .string()
      .min(1)
      .max(128)
      .refine((schedule) => normalizeScheduleSyntax(schedule).ok, { message: SCHEDULE_RULE_MESSAGE })
      .meta({ "x-kubernetes-validations": [{ rule: SCHEDULE_CEL_RULE, message: SCHEDULE_RULE_MESSAGE }] })
      .optional()
      .describe(
        'Cron schedule of the runs in timeZone: five fields ("30 3 * * *") or a macro (@daily, @hourly, @weekly, ' +
          "@monthly, @yearly). Without a schedule the resource runs once per spec change (metadata.generation).",
      ),
    timeZone: z
      .string()
      .min(1)
      .max(64)
      .refine(isIanaTimeZone, { message: "must be an IANA time zone such as Europe/Berlin or UTC" })
      .default("UTC")
      .describe('IANA time zone the schedule is read in, such as "Europe/Berlin".'),
    startingDeadlineSeconds: z
      .int()
      .min(0)
      .optional()
      .describe(
        "A slot missed (operator down, datastore locked) may still start this many seconds late; later it is " +
          "skipped. Without it, at most one catch-up run starts for all missed slots, however late.",
      ),
    suspend: z
      .boolean()
      .default(false)
      .describe("Suspend scheduled runs and run requests; a run in progress is not stopped."),
    gracePeriod: durationSchema("1m", "48h")
      .default("24h5m")
      .describe(
        "How long a chunk must have been unreferenced (and uploaded) before it is deleted, as Proxmox Backup " +
          'Server\'s GC cutoff: between 1m and 48h, default "24h5m".',
      ),
    maxBackupDuration: durationSchema("1h", "720h")
      .default("48h")
      .describe(
        "A snapshot without manifest younger than this is a running backup that protects its chunks and its dedup " +
          "base; older ones are reported as abandoned so a crashed backup cannot block collection forever.",
      ),
    dryRun: z
      .boolean()
      .default(false)
      .describe("Do everything except deleting; the status reports what would have been removed."),
    acknowledgeInUse: z
      .boolean()
      .default(false)
      .describe(
        "Delete even when the datastore's .in-use marker names a Proxmox Backup Server host. That host's local " +
          "chunk cache then still lists deleted chunks until it is rebuilt (see the docs); without this flag such " +
          "runs only report what they would delete.",
      ),
    engine: EngineTuningSchema.prefault({}),
    runPod: RunPodSchema.prefault({}),
    job: JobSettingsSchema.prefault({}),
    successfulRunsHistoryLimit: z
      .int()
      .min(0)
      .max(100)
      .default(3)
      .describe("Finished successful Jobs to keep; older ones (owned by this resource) are deleted."),
    failedRunsHistoryLimit: z
      .int()
      .min(0)
      .max(100)
      .default(1)
      .describe("Finished failed Jobs to keep; older ones (owned by this resource) are deleted."),
  })
  .describe("Desired state: which datastore to collect, when, and how.");

export type GarbageCollectionSpec = z.infer<typeof GarbageCollectionSpecSchema>;
export type GarbageCollectionSpecInput = z.input<typeof GarbageCollectionSpecSchema>;
export type S3Datastore = z.infer<typeof S3DatastoreSchema>;
export type MarkerCache = z.infer<typeof MarkerCacheSchema>;
export type VolumeClaimTemplate = z.infer<typeof VolumeClaimTemplateSchema>;
export type EngineTuning = z.infer<typeof EngineTuningSchema>;
export type RequestPrices = z.infer<typeof RequestPricesSchema>;
export type RunPod = z.infer<typeof RunPodSchema>;
export type JobSettings = z.infer<typeof JobSettingsSchema>;
export type Toleration = z.infer<typeof TolerationSchema>;
export type EnvVar = z.infer<typeof EnvVarSchema>;
export type EnvFromSource = z.infer<typeof EnvFromSourceSchema>;
export type RunPodVolume = z.infer<typeof RunPodVolumeSchema>;
export type RunPodSecurityContext = z.infer<typeof RunPodSecurityContextSchema>;
