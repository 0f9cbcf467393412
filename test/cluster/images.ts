/**
 * The node's images, without a registry: the pause sandbox and the storage image (local-path-provisioner + busybox)
 * imported from what scripts/install.d/40-node.sh built, and `chunkgc:dev` built from the repository's Dockerfile by
 * Debian's Docker engine (BuildKit), FROM a base image made locally (Debian minbase + the project's Node + npm), then
 * loaded into the node's containerd. containerd's image store outlives a cluster, and the chunkgc image carries the
 * hash of its build context as a label, so a warm start neither starts dockerd nor imports anything.
 *
 * dockerd runs only while something is built: no bridge, no iptables, no IP forwarding, no oom_score_adj (the
 * default needs CAP_SYS_RESOURCE), its own config file (never /etc/docker/daemon.json), data in the cache, builds on
 * the host network (it has no bridge).
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { cacheDir, installedFile, pinnedVersions } from "./binaries.ts";
import { NODE } from "./node-config.ts";
import { ManagedProcess, waitUntilReady } from "./processes.ts";

// A CommonJS package whose typings declare an ES default export: load it as what it is (module.exports = factory).
const dockerignore = createRequire(import.meta.url)(
  "@balena/dockerignore",
) as typeof import("@balena/dockerignore").default;

const run = promisify(execFile);

/** The chunkgc image tag pods use; containerd stores it as docker.io/library/chunkgc:dev. */
export const CHUNKGC_IMAGE = "chunkgc:dev";
/** The name containerd stores it under. */
export const CHUNKGC_IMAGE_REF = "docker.io/library/chunkgc:dev";
const CONTEXT_LABEL = "dev.chunkgc.build-context";
/** Debian's docker CLI (20.10, BuildKit in the daemon); a newer CLI elsewhere on PATH may lack buildx. */
const DOCKER = "/usr/bin/docker";
const DOCKERD = "/usr/sbin/dockerd";
const DOCKER_RUN_DIR = "/run/chunkgc-docker";

export interface ImageTimings {
  nodeImagesMs: number;
  chunkgcBuildMs: number;
  chunkgcImportMs: number;
  rebuilt: boolean;
}

export interface ImagesOptions {
  readonly containerdSocket: string;
  /** Where dockerd's log and the build log go. */
  readonly logDir: string;
  /** The Dockerfile's directory (the repository root). */
  readonly contextDir: string;
  readonly signal?: AbortSignal;
  /** Progress lines (first builds take a while). */
  readonly progress?: (line: string) => void;
}

export class ImageBuildError extends Error {
  constructor(what: string, logPath: string, cause: unknown) {
    super(`${what} failed (log: ${logPath}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "ImageBuildError";
  }
}

async function ctr(socket: string, args: string[], input?: string): Promise<string> {
  const { stdout } = await run("ctr", ["--address", socket, "--namespace", "k8s.io", ...args], {
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
    ...(input ? { input } : {}),
  });
  return stdout;
}

/** image reference -> labels, for the images containerd holds. */
async function containerdImages(socket: string): Promise<Map<string, string>> {
  const out = await ctr(socket, ["images", "list"]);
  const images = new Map<string, string>();
  for (const line of out.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[0]) images.set(fields[0], fields[fields.length - 1] ?? "");
  }
  return images;
}

/**
 * A hash of what the build reads: the Dockerfile, the context .dockerignore lets through (paths, modes, contents) and
 * the base image's inputs. Equal hash, equal image.
 */
export function buildContextHash(contextDir: string, baseImage: string): string {
  const ignoreText = readFileSync(join(contextDir, ".dockerignore"), "utf8");
  const patterns = ignoreText
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const filter = dockerignore({ ignorecase: false }).add(patterns);
  const reincluded = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1).replace(/^\/+|\/+$/g, ""));
  const hash = createHash("sha256");
  hash.update(`base ${baseImage}\n`);
  hash.update(readFileSync(join(contextDir, "Dockerfile")));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      const rel = relative(contextDir, path);
      if (entry.isDirectory()) {
        const mayHold =
          !filter.ignores(`${rel}/`) ||
          reincluded.some((p) => p === rel || p.startsWith(`${rel}/`) || rel.startsWith(`${p}/`));
        if (mayHold) walk(path);
      } else if (!filter.ignores(rel)) {
        hash.update(`${rel}\0`);
        hash.update(readFileSync(path));
        hash.update("\0");
      }
    }
  };
  walk(contextDir);
  return hash.digest("hex").slice(0, 32);
}

/** The Docker engine, for the length of a build. */
class Dockerd {
  private proc: ManagedProcess | undefined;
  readonly env: NodeJS.ProcessEnv;
  private readonly logPath: string;

  constructor(logDir: string) {
    this.logPath = join(logDir, "dockerd.log");
    this.env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DOCKER_HOST: `unix://${DOCKER_RUN_DIR}/docker.sock`,
      DOCKER_BUILDKIT: "1",
    };
  }

  async start(signal?: AbortSignal): Promise<void> {
    const dataRoot = join(cacheDir(), "docker");
    mkdirSync(dataRoot, { recursive: true });
    mkdirSync(DOCKER_RUN_DIR, { recursive: true, mode: 0o700 });
    const config = join(DOCKER_RUN_DIR, "daemon.json");
    writeFileSync(config, "{}\n");
    this.proc = new ManagedProcess({
      name: "dockerd",
      command: DOCKERD,
      args: [
        `--config-file=${config}`,
        `--data-root=${dataRoot}`,
        `--exec-root=${DOCKER_RUN_DIR}/exec`,
        `--host=unix://${DOCKER_RUN_DIR}/docker.sock`,
        `--pidfile=${DOCKER_RUN_DIR}/docker.pid`,
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        "--oom-score-adjust=0",
        "--storage-driver=overlay2",
        "--log-level=warn",
      ],
      logPath: this.logPath,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      graceSeconds: 15,
    });
    await waitUntilReady(
      this.proc,
      () => this.docker(["version", "--format", "{{.Server.Version}}"]).then(() => true),
      {
        timeoutMs: 60_000,
        ...(signal ? { signal } : {}),
      },
    );
  }

  async docker(args: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run(DOCKER, args, { env: this.env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }

  async stop(): Promise<void> {
    await this.proc?.stop(30_000);
    this.proc = undefined;
    rmSync(DOCKER_RUN_DIR, { recursive: true, force: true });
  }
}

/** Runs a shell pipeline, output to a log; rejects with the log's tail. */
function pipeline(
  script: string,
  env: NodeJS.ProcessEnv,
  logPath: string,
  cwd?: string,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = openSync(logPath, "a");
    const child = spawn("bash", ["-o", "pipefail", "-ec", script], {
      env,
      cwd,
      stdio: ["ignore", log, log],
      ...(signal ? { signal } : {}),
    });
    closeSync(log);
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`exit ${code}: ${tailOf(logPath)}`));
    });
  });
}

function tailOf(path: string): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Root file systems of the node's own images, as tar streams for `docker import`. */
function nodeImageRoots(work: string): { pause: string; storage: string } {
  const versions = pinnedVersions();
  const pause = join(work, "pause");
  mkdirSync(pause, { recursive: true });
  copyFileSync(installedFile(`node-images/pause-${versions.pause}`), join(pause, "pause"));
  chmodSync(join(pause, "pause"), 0o755);
  const storage = join(work, "storage");
  for (const dir of ["bin", "usr/bin", "tmp", "etc"]) mkdirSync(join(storage, dir), { recursive: true });
  chmodSync(join(storage, "tmp"), 0o1777);
  copyFileSync("/bin/busybox", join(storage, "bin/busybox"));
  chmodSync(join(storage, "bin/busybox"), 0o755);
  for (const applet of [
    "sh",
    "mkdir",
    "rm",
    "rmdir",
    "chmod",
    "chown",
    "ls",
    "cat",
    "echo",
    "test",
    "[",
    "sleep",
    "du",
    "mount",
  ]) {
    symlinkSync("busybox", join(storage, "bin", applet));
  }
  copyFileSync(installedFile("bin/local-path-provisioner"), join(storage, "usr/bin/local-path-provisioner"));
  chmodSync(join(storage, "usr/bin/local-path-provisioner"), 0o755);
  writeFileSync(join(storage, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n");
  writeFileSync(join(storage, "etc/group"), "root:x:0:\nnobody:x:65534:\n");
  return { pause, storage };
}

const tarOf = (dir: string) => `tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C '${dir}' -c .`;

/**
 * Makes sure the node's containerd holds the pause and storage images and a chunkgc:dev built from the current
 * working tree; starts dockerd only when something must be built.
 */
export async function ensureImages(options: ImagesOptions): Promise<ImageTimings> {
  const progress = options.progress ?? (() => {});
  const versions = pinnedVersions();
  const started = Date.now();
  const held = await containerdImages(options.containerdSocket);
  const needNode = !held.has(NODE.pauseImage) || !held.has(NODE.storageImage);
  const baseTar = installedFile(`node-images/base-bookworm-node${process.versions.node}-npm${versions.npm}.tar`);
  const baseImage = `chunkgc-base/node:${process.versions.node}-npm${versions.npm}`;
  const key = buildContextHash(options.contextDir, baseImage);
  const current = held.get(CHUNKGC_IMAGE_REF) ?? "";
  const needChunkgc = !current.split(",").includes(`${CONTEXT_LABEL}=${key}`);
  const timings: ImageTimings = { nodeImagesMs: 0, chunkgcBuildMs: 0, chunkgcImportMs: 0, rebuilt: false };
  if (!needNode && !needChunkgc) return timings;

  const dockerd = new Dockerd(options.logDir);
  const buildLog = join(options.logDir, "image-build.log");
  const work = mkdtempSync(join(options.logDir, "images-"));
  try {
    progress("starting dockerd for the image build");
    await dockerd.start(options.signal);
    const env = dockerd.env;
    if (needNode) {
      const roots = nodeImageRoots(work);
      await pipeline(
        [
          `${tarOf(roots.pause)} | ${DOCKER} import -c 'ENTRYPOINT ["/pause"]' -c 'USER 65535:65535' - ${NODE.pauseImage}`,
          `${tarOf(roots.storage)} | ${DOCKER} import -c 'ENTRYPOINT ["/usr/bin/local-path-provisioner"]' - ${NODE.storageImage}`,
          `${DOCKER} save ${NODE.pauseImage} ${NODE.storageImage} | ctr --address '${options.containerdSocket}' --namespace k8s.io images import -`,
        ].join("\n"),
        env,
        buildLog,
        undefined,
        options.signal,
      ).catch((error: unknown) => {
        throw new ImageBuildError("importing the pause and storage images", buildLog, error);
      });
      timings.nodeImagesMs = Date.now() - started;
    }
    if (needChunkgc) {
      const haveBase = await dockerd.docker(["images", "-q", baseImage]);
      if (haveBase.trim() === "") {
        progress(`importing the base image ${baseImage}`);
        await pipeline(
          `${DOCKER} import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["node"]' '${baseTar}' ${baseImage}`,
          env,
          buildLog,
          undefined,
          options.signal,
        ).catch((error: unknown) => {
          throw new ImageBuildError("importing the base image", buildLog, error);
        });
      }
      progress(`building ${CHUNKGC_IMAGE} from the working tree (context ${key})`);
      const buildStarted = Date.now();
      await pipeline(
        `${DOCKER} build --progress=plain --network=host --build-arg NODE_IMAGE=${baseImage} --label ${CONTEXT_LABEL}=${key} -t ${CHUNKGC_IMAGE} .`,
        env,
        buildLog,
        options.contextDir,
        options.signal,
      ).catch((error: unknown) => {
        throw new ImageBuildError(`docker build of ${CHUNKGC_IMAGE}`, buildLog, error);
      });
      timings.chunkgcBuildMs = Date.now() - buildStarted;
      const importStarted = Date.now();
      await pipeline(
        [
          `${DOCKER} save ${CHUNKGC_IMAGE} | ctr --address '${options.containerdSocket}' --namespace k8s.io images import -`,
          `ctr --address '${options.containerdSocket}' --namespace k8s.io images label ${CHUNKGC_IMAGE_REF} ${CONTEXT_LABEL}=${key}`,
        ].join("\n"),
        env,
        buildLog,
        undefined,
        options.signal,
      ).catch((error: unknown) => {
        throw new ImageBuildError(`loading ${CHUNKGC_IMAGE} into containerd`, buildLog, error);
      });
      timings.chunkgcImportMs = Date.now() - importStarted;
      timings.rebuilt = true;
    }
    return timings;
  } finally {
    await dockerd.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
