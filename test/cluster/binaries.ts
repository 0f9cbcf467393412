/**
 * Where the control-plane binaries are: $KUBEBUILDER_ASSETS (the envtest convention) first, then the cache that
 * test/cluster/build-binaries.sh fills (${CHUNKGC_CACHE:-~/.cache/chunkgc}/kube-<version>/bin), then PATH for helm
 * only (a kubectl on PATH may be far older than the apiserver; the pinned one is built).
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

export type BinaryName =
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kubelet"
  | "kube-proxy"
  | "kubectl"
  | "helm";

export class MissingBinaryError extends Error {
  readonly binary: BinaryName;
  constructor(binary: BinaryName, searched: string[]) {
    super(
      `${binary} not found (looked in ${searched.join(", ")}); run \`bash test/cluster/build-binaries.sh\` ` +
        "(needs Go) or point KUBEBUILDER_ASSETS at a directory holding it (see docs/test-cluster.md)",
    );
    this.name = "MissingBinaryError";
    this.binary = binary;
  }
}

export interface Versions {
  readonly kube: string;
  readonly etcd: string;
  readonly helm: string;
  readonly localPathProvisioner: string;
  readonly pause: string;
  readonly npm: string;
}

/** The versions pinned in test/cluster/versions.env. */
export function pinnedVersions(): Versions {
  const text = readFileSync(new URL("./versions.env", import.meta.url), "utf8");
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (match?.[1] && match[2]) values.set(match[1], match[2]);
  }
  const get = (key: string): string => {
    const value = values.get(key);
    if (!value) throw new Error(`versions.env has no ${key}`);
    return value;
  };
  return {
    kube: get("KUBE_VERSION"),
    etcd: get("ETCD_VERSION"),
    helm: get("HELM_VERSION"),
    localPathProvisioner: get("LOCAL_PATH_PROVISIONER_VERSION"),
    pause: get("PAUSE_VERSION"),
    npm: get("NPM_VERSION"),
  };
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CHUNKGC_CACHE ?? join(homedir(), ".cache", "chunkgc");
}

/** A file scripts/install.d/40-node.sh makes; throws naming the step when it is missing. */
export function installedFile(relative: string, env: NodeJS.ProcessEnv = process.env): string {
  const path = join(cacheDir(env), relative);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new Error(`${path} is missing; run \`bash scripts/install.d/40-node.sh\` (or \`make test\`) first`);
  }
  return path;
}

export function cacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), `kube-${pinnedVersions().kube}`, "bin");
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of one binary; throws {@link MissingBinaryError} naming where it looked. */
export function findBinary(name: BinaryName, env: NodeJS.ProcessEnv = process.env): string {
  const known = [env.KUBEBUILDER_ASSETS, cacheBinDir(env)].filter((dir): dir is string => Boolean(dir));
  const onPath = name === "helm" ? (env.PATH ?? "").split(delimiter).filter(Boolean) : [];
  for (const dir of [...known, ...onPath]) {
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  throw new MissingBinaryError(name, onPath.length > 0 ? [...known, "PATH"] : known);
}
