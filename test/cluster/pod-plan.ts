/**
 * Pure decisions of the node agent about one pod: is it something the agent can run faithfully (else: why not),
 * what argv a container gets, and how container paths map onto the agent's directories.
 *
 * Path mapping: the agent runs containers as plain processes, so a container path such as a volume's mountPath or
 * the terminationMessagePath does not exist on the host. Every such path gets a host directory or file, and the
 * agent (1) rewrites arguments, command words and env values that name a mapped path, either the whole value
 * (`/cache/x`) or the part after the first `=` (`--cache-dir=/cache/x`), (2) passes the whole map as JSON in the
 * env var CHUNKGC_PATH_MAP (`{"/cache": "/tmp/.../pvc/ns/claim"}`) for code that derives paths itself, and (3) sets
 * CHUNKGC_TERMINATION_MESSAGE_PATH to the host file that stands for the container's terminationMessagePath.
 */
import type { V1Container, V1Pod, V1Volume } from "@kubernetes/client-node";

/** The repository name that marks the chunkgc image, whatever the registry prefix, tag or digest. */
export const CHUNKGC_REPOSITORY = "chunkgc";
export const DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";

/** True for `chunkgc`, `chunkgc:dev`, `ghcr.io/org/chunkgc:1.2`, `localhost:5000/chunkgc@sha256:…`. */
export function isChunkgcImage(image: string | undefined): boolean {
  if (!image) return false;
  const withoutDigest = image.split("@")[0] ?? "";
  const lastSlash = withoutDigest.lastIndexOf("/");
  const lastPart = withoutDigest.slice(lastSlash + 1);
  const repository = lastPart.split(":")[0] ?? "";
  return repository === CHUNKGC_REPOSITORY;
}

const SUPPORTED_VOLUME_SOURCES = [
  "persistentVolumeClaim",
  "emptyDir",
  "secret",
  "configMap",
  "projected",
  "downwardAPI",
] as const;

/** The volume's source kind (the one set field besides `name`). */
export function volumeSource(volume: V1Volume): string {
  const keys = Object.keys(volume).filter(
    (key) => key !== "name" && (volume as unknown as Record<string, unknown>)[key] != null,
  );
  return keys[0] ?? "none";
}

const SUPPORTED_FIELD_PATHS = new Set([
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "spec.nodeName",
  "spec.serviceAccountName",
  "status.podIP",
  "status.hostIP",
]);

export function isSupportedFieldPath(path: string): boolean {
  return SUPPORTED_FIELD_PATHS.has(path) || /^metadata\.(labels|annotations)\['[^']+'\]$/.test(path);
}

/**
 * Everything in the pod the agent cannot honour, one message each; an empty list means the pod can run.
 * The agent refuses a pod with any of these (phase Failed, reason Unsupported) rather than run it differently.
 */
export function unsupportedFeatures(pod: V1Pod): string[] {
  const spec = pod.spec;
  if (!spec) return ["the pod has no spec"];
  const problems: string[] = [];
  if (spec.initContainers?.length) problems.push("init containers are not supported");
  if (spec.ephemeralContainers?.length) problems.push("ephemeral containers are not supported");
  if (spec.hostPID || spec.hostIPC) problems.push("hostPID/hostIPC are not supported");
  if (spec.resourceClaims?.length) problems.push("resource claims are not supported");
  if (spec.readinessGates?.length) problems.push("readiness gates are not supported");
  for (const volume of spec.volumes ?? []) {
    const source = volumeSource(volume);
    if (!(SUPPORTED_VOLUME_SOURCES as readonly string[]).includes(source)) {
      problems.push(`volume ${volume.name}: ${source} volumes are not supported`);
    }
    for (const projection of volume.projected?.sources ?? []) {
      if (projection.clusterTrustBundle || projection.podCertificate) {
        problems.push(`volume ${volume.name}: clusterTrustBundle/podCertificate projections are not supported`);
      }
    }
    for (const item of [...(volume.downwardAPI?.items ?? []), ...projectedDownwardItems(volume)]) {
      if (item.resourceFieldRef) problems.push(`volume ${volume.name}: resourceFieldRef items are not supported`);
      if (item.fieldRef && !isSupportedFieldPath(item.fieldRef.fieldPath)) {
        problems.push(`volume ${volume.name}: fieldRef ${item.fieldRef.fieldPath} is not supported`);
      }
    }
  }
  for (const container of spec.containers) problems.push(...unsupportedInContainer(container));
  return problems;
}

function projectedDownwardItems(volume: V1Volume) {
  return (volume.projected?.sources ?? []).flatMap((source) => source.downwardAPI?.items ?? []);
}

function unsupportedInContainer(container: V1Container): string[] {
  const at = `container ${container.name}`;
  const problems: string[] = [];
  if (!isChunkgcImage(container.image)) {
    problems.push(`${at}: image ${container.image ?? "(none)"} is not the chunkgc image; only chunkgc runs here`);
  }
  const entry = container.command?.[0];
  if (entry !== undefined && basename(entry) !== "chunkgc") {
    problems.push(`${at}: command ${entry} is not the chunkgc entrypoint`);
  }
  if (container.livenessProbe) problems.push(`${at}: liveness probes are not supported`);
  if (container.readinessProbe) problems.push(`${at}: readiness probes are not supported`);
  if (container.startupProbe) problems.push(`${at}: startup probes are not supported`);
  if (container.lifecycle) problems.push(`${at}: lifecycle hooks are not supported`);
  if (container.stdin || container.tty) problems.push(`${at}: stdin/tty are not supported`);
  if (container.volumeDevices?.length) problems.push(`${at}: volume devices are not supported`);
  if (container.restartPolicy) problems.push(`${at}: container restart policies are not supported`);
  for (const mount of container.volumeMounts ?? []) {
    if (mount.subPathExpr) problems.push(`${at}: volume mount ${mount.mountPath} uses subPathExpr, not supported`);
    if (!mount.mountPath.startsWith("/") || mount.mountPath === "/") {
      problems.push(`${at}: volume mount path ${mount.mountPath} cannot be mapped`);
    }
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (from?.resourceFieldRef) problems.push(`${at}: env ${variable.name} uses resourceFieldRef, not supported`);
    if (from?.fileKeyRef) problems.push(`${at}: env ${variable.name} uses fileKeyRef, not supported`);
    if (from?.fieldRef && !isSupportedFieldPath(from.fieldRef.fieldPath)) {
      problems.push(`${at}: env ${variable.name} uses fieldRef ${from.fieldRef.fieldPath}, not supported`);
    }
  }
  return problems;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * The arguments after our entrypoint. The image's ENTRYPOINT is `chunkgc` and it has no CMD: `command` replaces the
 * entrypoint (its first word must be chunkgc, the rest are arguments) and `args` follow.
 */
export function chunkgcArguments(container: V1Container): string[] {
  const command = container.command ?? [];
  return [...command.slice(1), ...(container.args ?? [])];
}

/** Expands `$(VAR)` references as Kubernetes does: `$$` is a literal `$`, unknown references stay as written. */
export function expandReferences(input: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const char = input[i];
    if (char !== "$" || i + 1 >= input.length) {
      out += char;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const close = input.indexOf(")", i + 2);
      if (close === -1) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      out += lookup(name) ?? `$(${name})`;
      i = close;
    } else {
      out += char + next;
      i++;
    }
  }
  return out;
}

export interface PathMapping {
  readonly containerPath: string;
  readonly hostPath: string;
}

/** Longest container path first, so `/data/cache` wins over `/data`. */
export function sortMappings(mappings: readonly PathMapping[]): PathMapping[] {
  return [...mappings].sort((a, b) => b.containerPath.length - a.containerPath.length);
}

function mapPath(value: string, mappings: readonly PathMapping[]): string | undefined {
  for (const { containerPath, hostPath } of mappings) {
    if (value === containerPath) return hostPath;
    if (value.startsWith(`${containerPath}/`)) return hostPath + value.slice(containerPath.length);
  }
  return undefined;
}

/** Rewrites a value that is a mapped container path, or `key=<mapped path>`; anything else is returned unchanged. */
export function rewritePaths(value: string, mappings: readonly PathMapping[]): string {
  const sorted = sortMappings(mappings);
  const whole = mapPath(value, sorted);
  if (whole !== undefined) return whole;
  const eq = value.indexOf("=");
  if (eq > 0) {
    const mapped = mapPath(value.slice(eq + 1), sorted);
    if (mapped !== undefined) return `${value.slice(0, eq + 1)}${mapped}`;
  }
  return value;
}

/** The JSON for CHUNKGC_PATH_MAP. */
export function pathMapJson(mappings: readonly PathMapping[]): string {
  return JSON.stringify(Object.fromEntries(sortMappings(mappings).map((m) => [m.containerPath, m.hostPath])));
}
