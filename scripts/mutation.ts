/**
 * `npm run mutation`: StrykerJS over the modules that decide deletions and runs (stryker.config.json), then the
 * per-module scores, and a failure when a deletion-deciding module scores below 85 %.
 *
 *   npm run mutation                      every module (≈ 30–40 min on two cores)
 *   npm run mutation -- --changed [base]  only modules changed since `base` (default origin/main), or whose tests
 *                                         (`test/**\/<module>*.test.ts`) changed; nothing to do exits 0
 *   npm run mutation -- --modules a,b     these modules only
 *   npm run mutation -- --subset ci       the fixed CI subset (CI_SUBSET below): the deletion-deciding modules
 *                                         driven by the in-memory unit tests only; minutes, no S3 server
 *   npm run mutation -- --unit ...        with any of the above: the unit tests only (test/unit/**)
 *   npm run mutation -- --subset ci --modules a   one module of the subset, with the subset's tests
 *   npm run mutation -- --modules a --tests g1,g2 these test files (globs) only
 *
 * The sweep and mark tests start their own versitygw per test file (scripts/install.d/20-versitygw.sh); the CI
 * variables that ask for Ceph as well are removed for Stryker's test processes, which would start it per mutant.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { belowThreshold, markdownTable, moduleScores, type MutationReport, touchedModules } from "./mutation-report.ts";

const root = path.resolve(import.meta.dirname, "..");
const config = JSON.parse(readFileSync(path.join(root, "stryker.config.json"), "utf8")) as {
  mutate: string[];
  jsonReporter: { fileName: string };
  tap: { testFiles: string[] };
};

/** The unit tests: pure, no S3 server, no cluster. */
const UNIT_TESTS = "test/unit/**/*.test.ts";

/**
 * The subset every `make test` runs (a CI clone has no base to diff against): the modules that decide deletions,
 * driven by the pure unit tests of test/unit/engine that import them (the sweep and mark against an in-memory
 * bucket). Fixed, so that its time and its verdict do not depend on what changed. The other engine unit tests reach
 * none of these modules; left out, their heavy cases (a million-entry mark table) cannot fail Stryker's initial run
 * on a loaded machine.
 */
const CI_SUBSET = {
  modules: ["src/engine/classify.ts", "src/engine/sweep.ts", "src/engine/mark.ts", "src/engine/lock.ts"],
  testFiles: [
    "test/unit/engine/classify*.test.ts",
    "test/unit/engine/sweep*.test.ts",
    "test/unit/engine/mark-bucket.test.ts",
    "test/unit/engine/dedup-base-cache.test.ts",
    "test/unit/engine/lock*.test.ts",
  ],
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
  const subsetAt = argv.indexOf("--subset");
  if (subsetAt >= 0) {
    if (argv[subsetAt + 1] !== "ci") throw new Error(`unknown mutation subset ${argv[subsetAt + 1] ?? "(none)"}`);
    return CI_SUBSET.modules;
  }
  const changedAt = argv.indexOf("--changed");
  if (changedAt >= 0) {
    const next = argv[changedAt + 1];
    const base = next && !next.startsWith("--") ? next : "origin/main";
    return touchedModules(config.mutate, changedFiles(base));
  }
  return config.mutate;
}

const argv = process.argv.slice(2);
const modules = selectedModules(argv);
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
// A narrower set of test files goes through a derived configuration (Stryker reads testFiles from its config only).
const testsAt = argv.indexOf("--tests");
const testFiles =
  testsAt >= 0
    ? (argv[testsAt + 1] ?? "").split(",").filter(Boolean)
    : argv.includes("--subset")
      ? CI_SUBSET.testFiles
      : argv.includes("--unit")
        ? [UNIT_TESTS]
        : config.tap.testFiles;
const configFile = path.join(workDir, "stryker.config.json");
writeFileSync(configFile, JSON.stringify({ ...config, $schema: undefined, tap: { ...config.tap, testFiles } }));
const stryker = path.join(root, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
const started = Date.now();
const code = await new Promise<number>((resolve, reject) => {
  const child = spawn(process.execPath, [stryker, "run", configFile, "--mutate", modules.join(",")], {
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
console.log(`mutation: ${Math.round((Date.now() - started) / 1000)} s for ${modules.length} module(s)`);
const failing = belowThreshold(scores);
for (const s of failing) console.error(`mutation: ${s.file} scores ${s.score.toFixed(2)} %, below 85 %`);
process.exit(failing.length > 0 ? 1 : 0);
