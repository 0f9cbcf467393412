/**
 * kubectl and helm as the demo's user runs them: the pinned binaries, the demo cluster's kubeconfig, and caches and
 * helm's configuration in the demo's own directory (nothing read from or written to the user's ~/.kube or ~/.config).
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { findBinary } from "../../test/cluster/binaries.ts";
import { shown } from "./progress.ts";

export class KubeCommandError extends Error {
  readonly args: readonly string[];
  constructor(tool: string, args: readonly string[], detail: string) {
    super(`${tool} ${args.join(" ")} failed: ${detail}`);
    this.name = "KubeCommandError";
    this.args = args;
  }
}

export interface Kube {
  readonly kubeconfig: string;
  readonly kubectlPath: string;
  /** Runs kubectl and returns its stdout; throws {@link KubeCommandError} on a non-zero exit. */
  kubectl(args: readonly string[], options?: RunOptions): Promise<string>;
  helm(args: readonly string[], options?: RunOptions): Promise<string>;
  /** kubectl with the command echoed and its output printed, as a user would see it. */
  show(args: readonly string[]): Promise<void>;
  getJson<T>(args: readonly string[]): Promise<T>;
}

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  /** Echo the command first. */
  readonly echo?: boolean;
}

export function kubeTools(kubeconfig: string, stateDir: string): Kube {
  const kubectlPath = findBinary("kubectl");
  const helmPath = findBinary("helm");
  const helmHome = join(stateDir, "helm");
  mkdirSync(helmHome, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: helmHome,
    KUBECONFIG: kubeconfig,
    KUBECACHEDIR: join(stateDir, "kube-cache"),
    HELM_CACHE_HOME: join(helmHome, "cache"),
    HELM_CONFIG_HOME: join(helmHome, "config"),
    HELM_DATA_HOME: join(helmHome, "data"),
    LANG: "C.UTF-8",
  };
  const run = (tool: string, path: string, args: readonly string[], options: RunOptions = {}) =>
    new Promise<string>((resolve, reject) => {
      if (options.echo) shown(tool, args);
      const child = execFile(
        path,
        args,
        { env, timeout: options.timeoutMs ?? 60_000, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) reject(new KubeCommandError(tool, args, (stderr.trim() || error.message).slice(-3000)));
          else resolve(stdout);
        },
      );
      child.stdin?.end(options.input ?? "");
    });
  const kubectl = (args: readonly string[], options?: RunOptions) => run("kubectl", kubectlPath, args, options);
  return {
    kubeconfig,
    kubectlPath,
    kubectl,
    helm: (args, options) => run("helm", helmPath, args, options),
    show: async (args) => {
      const out = await kubectl(args, { echo: true });
      process.stdout.write(out.endsWith("\n") || out === "" ? out : `${out}\n`);
    },
    getJson: async <T>(args: readonly string[]) => JSON.parse(await kubectl([...args, "-o", "json"])) as T,
  };
}
