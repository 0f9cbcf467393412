/**
 * Runs the pinned helm binary (test/cluster/binaries.ts) on the repository's chart, with helm's cache, config and data
 * directories in a temporary directory of their own (nothing read from or written to the user's), and parses what
 * `helm template` renders with the `yaml` package.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { findBinary, pinnedVersions } from "../cluster/binaries.ts";

export const CHART_DIR = fileURLToPath(new URL("../../charts/chunkgc", import.meta.url));

/** A rendered Kubernetes object, loosely typed: tests cast to client-node models where they need more. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A failed helm command; the message carries its arguments and stderr. */
export class HelmError extends Error {
  readonly args: readonly string[];
  readonly result: HelmResult;
  constructor(args: readonly string[], result: HelmResult) {
    super(`helm ${args.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = "HelmError";
    this.args = args;
    this.result = result;
  }
}

let home: string | undefined;

function helmHome(): string {
  if (home === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "chunkgc-helm-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  return home;
}

/** Runs helm; resolves with its output whatever the exit code (see {@link helmOk}). */
export function helm(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<HelmResult> {
  const dir = helmHome();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    HELM_CACHE_HOME: join(dir, "cache"),
    HELM_CONFIG_HOME: join(dir, "config"),
    HELM_DATA_HOME: join(dir, "data"),
  };
  return new Promise((resolve, reject) => {
    execFile(
      findBinary("helm"),
      [...args],
      { env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
      },
    );
  });
}

/** Runs helm and throws {@link HelmError} unless it exits 0. */
export async function helmOk(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<HelmResult> {
  const result = await helm(args, options);
  if (result.code !== 0) throw new HelmError(args, result);
  return result;
}

/** Writes values to a temporary file for `-f` (values as YAML keep types that `--set` would guess). */
export function valuesFile(values: unknown): string {
  const file = join(helmHome(), `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  values?: unknown;
}

/** The args of `helm template` for the chart (kubeVersion is the test cluster's, as the chart requires ≥ 1.29). */
export function templateArgs(options: RenderOptions = {}): string[] {
  const args = [
    "template",
    options.release ?? "gc",
    CHART_DIR,
    "--namespace",
    options.namespace ?? "ops",
    "--kube-version",
    pinnedVersions().kube,
  ];
  if (options.values !== undefined) args.push("--values", valuesFile(options.values));
  return args;
}

/** Parses a multi-document YAML stream into its objects (empty documents dropped); YAML errors throw. */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw document.errors[0];
    const value = document.toJS() as Manifest | null;
    if (value !== null) out.push(value);
  }
  return out;
}

/** `helm template` of the chart, parsed. */
export async function renderChart(options: RenderOptions = {}): Promise<Manifest[]> {
  const { stdout } = await helmOk(templateArgs(options));
  return parseManifests(stdout);
}
