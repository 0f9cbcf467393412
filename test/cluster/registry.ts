/**
 * A private container registry on the node address, for tests of image pull secrets: the CNCF distribution registry
 * (built by scripts/install.d/70-registry.sh) over TLS with a certificate from a test CA, htpasswd (bcrypt) basic
 * auth, storage in a temporary directory. The node's containerd learns the CA from a hosts.toml in its registry hosts
 * directory (NODE.registryHostsDir), so a pull fails on credentials alone, never on trust. Images are pushed from
 * the node's own image store with `ctr`, so no Docker daemon is needed.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { chunkgcCacheDir, controlledEnv } from "../servers/s3-server.ts";
import { NODE } from "./node-config.ts";
import { freePort, ManagedProcess, waitUntilReady } from "./processes.ts";
import { testCaFor } from "./tls-front.ts";

const run = promisify(execFile);
const CONTAINERD_SOCKET = join(NODE.runDir, "containerd.sock");
/** Pushes happen from a containerd namespace of their own: the CRI plugin's (k8s.io) is the kubelet's alone. */
const PUSH_NAMESPACE = "chunkgc-registry-push";

export class RegistryMissingError extends Error {
  constructor(path: string) {
    super(`the registry is not installed at ${path}: run scripts/install.d/70-registry.sh`);
    this.name = "RegistryMissingError";
  }
}

export interface TestRegistry {
  /** host:port, as image references and dockerconfigjson name it. */
  readonly host: string;
  readonly user: string;
  readonly password: string;
  /** Copies an image of the node's store to `<host>/<repository>` (pushed from a containerd namespace of its own). */
  push(localRef: string, repository: string): Promise<string>;
  stop(): Promise<void>;
}

async function ctr(args: string[]): Promise<string> {
  const { stdout } = await run("ctr", ["--address", CONTAINERD_SOCKET, "--namespace", PUSH_NAMESPACE, ...args], {
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** Copies an image of the node's k8s.io namespace into the push namespace (export piped into import). */
async function copyFromNode(ref: string): Promise<void> {
  const ctrIn = (namespace: string) => `ctr --address '${CONTAINERD_SOCKET}' --namespace ${namespace}`;
  await run("sh", ["-c", `${ctrIn("k8s.io")} images export - '${ref}' | ${ctrIn(PUSH_NAMESPACE)} images import -`], {
    timeout: 300_000,
  });
}

/** GET /v2/ with the test CA: 401 once the registry serves (it asks for credentials). */
function probe(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** Starts the registry on `address` (the node address), with one user. */
export async function startTestRegistry(address: string): Promise<TestRegistry> {
  const binary = process.env.CHUNKGC_REGISTRY_BIN ?? join(chunkgcCacheDir(), "bin", "registry");
  if (!existsSync(binary)) throw new RegistryMissingError(binary);
  const dir = mkdtempSync(join(tmpdir(), "chunkgc-registry-"));
  const user = "puller";
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const ca = await testCaFor(address);
  const port = await freePort(address);
  const host = `${address}:${port}`;
  const file = (name: string) => join(dir, name);
  writeFileSync(file("server.crt"), ca.certPem);
  writeFileSync(file("server.key"), ca.keyPem, { mode: 0o600 });
  const { stdout: htpasswd } = await run("htpasswd", ["-nbB", user, password]);
  writeFileSync(file("htpasswd"), htpasswd.trim());
  writeFileSync(
    file("config.yml"),
    stringify({
      version: 0.1,
      log: { level: "info" },
      storage: { filesystem: { rootdirectory: file("data") } },
      http: {
        addr: host,
        secret: Math.random().toString(36).slice(2),
        tls: { certificate: file("server.crt"), key: file("server.key") },
      },
      auth: { htpasswd: { realm: "chunkgc-test", path: file("htpasswd") } },
    }),
  );
  // containerd reads the hosts directory at every pull: the registry's CA, nothing else.
  const hostsDir = join(NODE.registryHostsDir, host);
  mkdirSync(hostsDir, { recursive: true });
  writeFileSync(join(hostsDir, "ca.crt"), ca.caPem);
  writeFileSync(
    join(hostsDir, "hosts.toml"),
    `server = "https://${host}"\n\n[host."https://${host}"]\n  capabilities = ["pull", "resolve"]\n` +
      `  ca = ${JSON.stringify(join(hostsDir, "ca.crt"))}\n`,
  );
  writeFileSync(file("ca.crt"), ca.caPem);

  const proc = new ManagedProcess({
    name: "registry",
    command: binary,
    args: ["serve", file("config.yml")],
    logPath: file("registry.log"),
    env: controlledEnv(),
    cwd: dir,
    graceSeconds: 2,
  });
  const pushed: string[] = [];
  const stop = async () => {
    await proc.stop(10_000);
    for (const ref of pushed) await ctr(["images", "rm", ref]).catch(() => undefined);
    rmSync(hostsDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(proc, async () => (await probe(`https://${host}/v2/`, ca.caPem)) === 401, {
      timeoutMs: 20_000,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host,
    user,
    password,
    async push(localRef, repository) {
      const remote = `${host}/${repository}`;
      await copyFromNode(localRef);
      pushed.push(localRef, remote);
      await ctr(["images", "tag", "--force", localRef, remote]);
      await ctr(["images", "push", "--user", `${user}:${password}`, "--tlscacert", file("ca.crt"), remote]);
      return remote;
    },
    stop,
  };
}
