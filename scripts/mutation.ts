/**
 * `npm run mutation`: StrykerJS over the modules that decide deletions and runs (stryker.config.json), then the
 * per-module scores, and a failure when a deletion-deciding module scores below 85 %.
 *
 *   npm run mutation                      every module (≈ 30–40 min on two cores)
 *   npm run mutation -- --changed [base]  only modules changed since `base` (default origin/main), or whose tests
 *                                         (`test/**\/<module>*.test.ts`) changed; nothing to do exits 0
 *   npm run mutation -- --modules a,b     these modules only
 *
 * The sweep and mark tests start their own versitygw per test file (scripts/install.d/20-versitygw.sh); the CI
 * variables that ask for Ceph as well are removed for Stryker's test processes, which would start it per mutant.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { belowThreshold, markdownTable, moduleScores, type MutationReport, touchedModules } from "./mutation-report.ts";

const root = path.resolve(import.meta.dirname, "..");
const config = JSON.parse(readFileSync(path.join(root, "stryker.config.json"), "utf8")) as {
  mutate: string[];
  jsonReporter: { fileName: string };
};

function changedFiles(base: string): string[] {
  const git = (...args: string[]) => {
    const run = spawnSync("git", args, { cwd: root, encoding: "utf8" });
    if (run.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${run.stderr}`);
    return run.stdout.split("\n").filter(Boolean);
  };
  return [...new Set([...git("diff", "--name-only", `${base}...HEAD`), ...git("diff", "--name-only", "HEAD")])];
}

function selectedModules(argv: string[]): string[] {
  const modulesAt = argv.indexOf("--modules");
  if (modulesAt >= 0) return (argv[modulesAt + 1] ?? "").split(",").filter(Boolean);
  const changedAt = argv.indexOf("--changed");
  if (changedAt >= 0) {
    const next = argv[changedAt + 1];
    const base = next && !next.startsWith("--") ? next : "origin/main";
    return touchedModules(config.mutate, changedFiles(base));
  }
  return config.mutate;
}

const modules = selectedModules(process.argv.slice(2));
if (modules.length === 0) {
  console.log("mutation: no mutated module or its tests changed; nothing to do");
  process.exit(0);
}
console.log(`mutation: ${modules.join(", ")}`);

const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };
// The S3 servers the test files start (one per test process) keep their data here, removed at the end.
const workDir = mkdtempSync(path.join(tmpdir(), "chunkgc-mutation-"));
env.CHUNKGC_TEST_WORKDIR = workDir;
delete env.CI;
delete env.CHUNKGC_TEST_CEPH;
delete env.CHUNKGC_TEST_S3_SERVERS;
const stryker = path.join(root, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
const code = await new Promise<number>((resolve, reject) => {
  const child = spawn(process.execPath, [stryker, "run", "--mutate", modules.join(",")], {
    cwd: root,
    env,
    stdio: "inherit",
  });
  child.on("error", reject);
  child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
}).finally(() => rmSync(workDir, { recursive: true, force: true }));
if (code !== 0) process.exit(code);

const report = JSON.parse(readFileSync(path.join(root, config.jsonReporter.fileName), "utf8")) as MutationReport;
const scores = moduleScores(report);
console.log(`\n${markdownTable(scores)}\n`);
const failing = belowThreshold(scores);
for (const s of failing) console.error(`mutation: ${s.file} scores ${s.score.toFixed(2)} %, below 85 %`);
process.exit(failing.length > 0 ? 1 : 0);
