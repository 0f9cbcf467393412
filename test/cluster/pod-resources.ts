/**
 * What a container needs from the API before it can start, fetched and laid out on disk the way the kubelet would:
 * env values from Secrets, ConfigMaps and the pod's own fields, and volume contents (PVC directories, emptyDirs,
 * Secret/ConfigMap/downward-API files, projected service-account tokens). A reference that cannot be resolved
 * throws {@link ContainerConfigError}; the agent reports it (CreateContainerConfigError) and retries, as the kubelet does.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import type {
  CoreV1Api,
  V1ConfigMap,
  V1Container,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1Secret,
  V1Volume,
} from "@kubernetes/client-node";
import { expandReferences, type PathMapping } from "./pod-plan.ts";

export class ContainerConfigError extends Error {
  readonly resource: string;
  constructor(resource: string, message: string) {
    super(message);
    this.name = "ContainerConfigError";
    this.resource = resource;
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === 404;
}

/** Reads Secrets and ConfigMaps once per pod start (a pod sees one consistent version, as with the kubelet). */
export class ObjectReader {
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly secrets = new Map<string, Promise<V1Secret | undefined>>();
  private readonly configMaps = new Map<string, Promise<V1ConfigMap | undefined>>();

  constructor(api: CoreV1Api, namespace: string) {
    this.api = api;
    this.namespace = namespace;
  }

  secret(name: string): Promise<V1Secret | undefined> {
    let found = this.secrets.get(name);
    if (!found) {
      found = this.api.readNamespacedSecret({ name, namespace: this.namespace }).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      this.secrets.set(name, found);
    }
    return found;
  }

  configMap(name: string): Promise<V1ConfigMap | undefined> {
    let found = this.configMaps.get(name);
    if (!found) {
      found = this.api.readNamespacedConfigMap({ name, namespace: this.namespace }).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      this.configMaps.set(name, found);
    }
    return found;
  }
}

/** Secret data as text (the API returns base64). */
function secretValues(secret: V1Secret): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(secret.data ?? {})) values.set(key, Buffer.from(value, "base64"));
  for (const [key, value] of Object.entries(secret.stringData ?? {})) values.set(key, Buffer.from(value, "utf8"));
  return values;
}

function configMapValues(configMap: V1ConfigMap): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(configMap.data ?? {})) values.set(key, Buffer.from(value, "utf8"));
  for (const [key, value] of Object.entries(configMap.binaryData ?? {})) {
    values.set(key, Buffer.from(value, "base64"));
  }
  return values;
}

/** The value of a supported fieldRef path (see pod-plan.ts isSupportedFieldPath). */
export function fieldValue(pod: V1Pod, path: string): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === "labels" ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelOrAnnotation[2] ?? ""] ?? "";
  }
  switch (path) {
    case "metadata.name":
      return pod.metadata?.name ?? "";
    case "metadata.namespace":
      return pod.metadata?.namespace ?? "";
    case "metadata.uid":
      return pod.metadata?.uid ?? "";
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.podIP":
    case "status.hostIP":
      return "127.0.0.1";
    default:
      throw new ContainerConfigError(`fieldRef ${path}`, `unsupported fieldRef ${path}`);
  }
}

/**
 * The container's env as the kubelet builds it: envFrom first, then env in order, each value expanded with
 * `$(VAR)` against what is defined so far (and `base`, the service variables); later definitions win.
 */
export async function resolveEnv(
  pod: V1Pod,
  container: V1Container,
  reader: ObjectReader,
  base: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const namespace = pod.metadata?.namespace ?? "";
  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? "";
    if (source.secretRef) {
      const secret = await reader.secret(source.secretRef.name ?? "");
      if (!secret) {
        if (source.secretRef.optional) continue;
        throw new ContainerConfigError(
          `secret ${namespace}/${source.secretRef.name}`,
          `secret "${source.secretRef.name}" not found`,
        );
      }
      for (const [key, value] of secretValues(secret)) env[prefix + key] = value.toString("utf8");
    } else if (source.configMapRef) {
      const configMap = await reader.configMap(source.configMapRef.name ?? "");
      if (!configMap) {
        if (source.configMapRef.optional) continue;
        throw new ContainerConfigError(
          `configmap ${namespace}/${source.configMapRef.name}`,
          `configmap "${source.configMapRef.name}" not found`,
        );
      }
      for (const [key, value] of configMapValues(configMap)) env[prefix + key] = value.toString("utf8");
    }
  }
  const lookup = (name: string) => env[name] ?? base[name];
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = expandReferences(variable.value ?? "", lookup);
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      const secret = await reader.secret(ref.name ?? "");
      const value = secret ? secretValues(secret).get(ref.key) : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          `secret ${namespace}/${ref.name}`,
          secret ? `couldn't find key ${ref.key} in Secret ${namespace}/${ref.name}` : `secret "${ref.name}" not found`,
        );
      }
      env[variable.name] = value.toString("utf8");
    } else if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      const configMap = await reader.configMap(ref.name ?? "");
      const value = configMap ? configMapValues(configMap).get(ref.key) : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          `configmap ${namespace}/${ref.name}`,
          configMap
            ? `couldn't find key ${ref.key} in ConfigMap ${namespace}/${ref.name}`
            : `configmap "${ref.name}" not found`,
        );
      }
      env[variable.name] = value.toString("utf8");
    } else if (from.fieldRef) {
      env[variable.name] = fieldValue(pod, from.fieldRef.fieldPath);
    } else {
      throw new ContainerConfigError(`env ${variable.name}`, `env ${variable.name}: unsupported valueFrom`);
    }
  }
  return env;
}

/** Joins a relative key path below `dir`, refusing `..` escapes. */
function fileBelow(dir: string, relative: string): string {
  const path = normalize(join(dir, relative));
  if (!path.startsWith(`${dir}/`))
    throw new ContainerConfigError(`path ${relative}`, `path ${relative} escapes its volume`);
  return path;
}

function writeProjectedFile(dir: string, relative: string, content: Buffer | string, mode: number | undefined): void {
  const path = fileBelow(dir, relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode ?? 0o644);
}

/** Writes the selected keys (all when `items` is absent) of a Secret or ConfigMap into `dir`. */
function writeKeys(
  dir: string,
  values: Map<string, Buffer>,
  items: readonly V1KeyToPath[] | undefined,
  defaultMode: number | undefined,
  describe: string,
  optional: boolean,
): void {
  if (!items) {
    for (const [key, value] of values) writeProjectedFile(dir, key, value, defaultMode);
    return;
  }
  for (const item of items) {
    const value = values.get(item.key);
    if (value === undefined) {
      if (optional) continue;
      throw new ContainerConfigError(describe, `couldn't find key ${item.key} in ${describe}`);
    }
    writeProjectedFile(dir, item.path, value, item.mode ?? defaultMode);
  }
}

function writeDownward(dir: string, pod: V1Pod, items: readonly V1DownwardAPIVolumeFile[], mode?: number): void {
  for (const item of items) {
    if (!item.fieldRef)
      throw new ContainerConfigError(`downwardAPI ${item.path}`, `unsupported downward API item ${item.path}`);
    writeProjectedFile(dir, item.path, fieldValue(pod, item.fieldRef.fieldPath), item.mode ?? mode);
  }
}

export interface VolumeContext {
  readonly pod: V1Pod;
  readonly api: CoreV1Api;
  readonly reader: ObjectReader;
  /** The pod's own directory for emptyDirs and projected files. */
  readonly podVolumesDir: string;
  /** The directory that stands for a PersistentVolumeClaim of this namespace. */
  claimDir(claimName: string): string;
}

/** Lays out one volume and returns its host directory. */
export async function materialiseVolume(volume: V1Volume, context: VolumeContext): Promise<string> {
  const { pod, reader } = context;
  const namespace = pod.metadata?.namespace ?? "";
  if (volume.persistentVolumeClaim) {
    const claimName = volume.persistentVolumeClaim.claimName;
    try {
      const claim = await context.api.readNamespacedPersistentVolumeClaim({ name: claimName, namespace });
      if (claim.metadata?.deletionTimestamp) {
        throw new ContainerConfigError(
          `persistentvolumeclaim ${namespace}/${claimName}`,
          `persistentvolumeclaim "${claimName}" is being deleted`,
        );
      }
    } catch (error) {
      if (isNotFound(error)) {
        throw new ContainerConfigError(
          `persistentvolumeclaim ${namespace}/${claimName}`,
          `persistentvolumeclaim "${claimName}" not found`,
        );
      }
      throw error;
    }
    const dir = context.claimDir(claimName);
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  const dir = join(context.podVolumesDir, volume.name);
  mkdirSync(dir, { recursive: true });
  if (volume.emptyDir) return dir;
  if (volume.secret) {
    const name = volume.secret.secretName ?? "";
    const secret = await reader.secret(name);
    if (!secret) {
      if (volume.secret.optional) return dir;
      throw new ContainerConfigError(`secret ${namespace}/${name}`, `secret "${name}" not found`);
    }
    const describe = `Secret ${namespace}/${name}`;
    writeKeys(
      dir,
      secretValues(secret),
      volume.secret.items,
      volume.secret.defaultMode,
      describe,
      Boolean(volume.secret.optional),
    );
    return dir;
  }
  if (volume.configMap) {
    const name = volume.configMap.name ?? "";
    const configMap = await reader.configMap(name);
    if (!configMap) {
      if (volume.configMap.optional) return dir;
      throw new ContainerConfigError(`configmap ${namespace}/${name}`, `configmap "${name}" not found`);
    }
    const describe = `ConfigMap ${namespace}/${name}`;
    writeKeys(
      dir,
      configMapValues(configMap),
      volume.configMap.items,
      volume.configMap.defaultMode,
      describe,
      Boolean(volume.configMap.optional),
    );
    return dir;
  }
  if (volume.downwardAPI) {
    writeDownward(dir, pod, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode);
    return dir;
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode;
    for (const source of volume.projected.sources ?? []) {
      if (source.secret) {
        const name = source.secret.name ?? "";
        const secret = await reader.secret(name);
        if (!secret) {
          if (source.secret.optional) continue;
          throw new ContainerConfigError(`secret ${namespace}/${name}`, `secret "${name}" not found`);
        }
        writeKeys(
          dir,
          secretValues(secret),
          source.secret.items,
          mode,
          `Secret ${namespace}/${name}`,
          Boolean(source.secret.optional),
        );
      } else if (source.configMap) {
        const name = source.configMap.name ?? "";
        const configMap = await reader.configMap(name);
        if (!configMap) {
          if (source.configMap.optional) continue;
          throw new ContainerConfigError(`configmap ${namespace}/${name}`, `configmap "${name}" not found`);
        }
        writeKeys(
          dir,
          configMapValues(configMap),
          source.configMap.items,
          mode,
          `ConfigMap ${namespace}/${name}`,
          Boolean(source.configMap.optional),
        );
      } else if (source.downwardAPI) {
        writeDownward(dir, pod, source.downwardAPI.items ?? [], mode);
      } else if (source.serviceAccountToken) {
        const request = await context.api.createNamespacedServiceAccountToken({
          name: pod.spec?.serviceAccountName ?? "default",
          namespace,
          body: {
            spec: {
              audiences: source.serviceAccountToken.audience ? [source.serviceAccountToken.audience] : [],
              expirationSeconds: source.serviceAccountToken.expirationSeconds ?? 3607,
              boundObjectRef: {
                apiVersion: "v1",
                kind: "Pod",
                name: pod.metadata?.name ?? "",
                uid: pod.metadata?.uid ?? "",
              },
            },
          },
        });
        writeProjectedFile(dir, source.serviceAccountToken.path, request.status?.token ?? "", mode ?? 0o600);
      }
    }
    return dir;
  }
  throw new ContainerConfigError(`volume ${volume.name}`, `volume ${volume.name} has an unsupported source`);
}

/** The mappings of a container's volume mounts (subPath honoured) onto the volumes' host directories. */
export function mountMappings(container: V1Container, volumeDirs: ReadonlyMap<string, string>): PathMapping[] {
  return (container.volumeMounts ?? []).map((mount) => {
    const volumeDir = volumeDirs.get(mount.name);
    if (volumeDir === undefined) {
      throw new ContainerConfigError(
        `volume ${mount.name}`,
        `volume mount ${mount.mountPath} names unknown volume ${mount.name}`,
      );
    }
    const hostPath = mount.subPath ? fileBelow(volumeDir, mount.subPath) : volumeDir;
    if (mount.subPath && !existsSync(hostPath)) mkdirSync(hostPath, { recursive: true });
    return { containerPath: mount.mountPath.replace(/\/+$/, ""), hostPath };
  });
}
