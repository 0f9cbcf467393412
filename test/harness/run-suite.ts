/**
 * The README's test command: unit tests first (no services), then every service the integration suites need is
 * started here, the suites run against them, and every service is stopped again, whatever happened.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningService } from "./services.ts";
import { suiteServices } from "./suite-services.ts";

const UNIT_TESTS = ["test/unit/**/*.test.ts"];
const SERVICE_TESTS = ["test/integration/**/*.test.ts", "test/cluster/**/*.test.ts"];

function runNodeTests(patterns: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // --test-force-exit: a test file whose tests all finished ends even if a leaked handle (an idle socket, a timer)
  // would keep its process alive; without it one leak stalls the whole suite until CI's time runs out.
  const args = ["--test", "--test-reporter=spec", "--test-concurrency=1", "--test-force-exit", ...patterns];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: "inherit", env });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  if (only.length > 0) return runWithServices(only);
  const unitExit = await runNodeTests(UNIT_TESTS, process.env);
  if (unitExit !== 0) return unitExit;
  return runWithServices(SERVICE_TESTS);
}

async function runWithServices(patterns: string[]): Promise<number> {
  const root = process.env.CHUNKGC_TEST_WORKDIR ?? join(tmpdir(), "chunkgc-suite");
  mkdirSync(root, { recursive: true });
  const workDir = mkdtempSync(join(root, "run-"));
  const controller = new AbortController();
  const running: RunningService[] = [];
  const stopAll = async () => {
    for (const service of running.reverse()) {
      await service.stop().catch((error: unknown) => console.error(`stopping ${service.name} failed:`, error));
    }
    running.length = 0;
  };
  const onSignal = () => {
    controller.abort();
    void stopAll().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const definition of suiteServices()) {
      const started = Date.now();
      const service = await definition.start({ workDir: join(workDir, definition.name), signal: controller.signal });
      running.push(service);
      Object.assign(env, service.env);
      console.error(`# service ${service.name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    return await runNodeTests(patterns, env);
  } finally {
    await stopAll();
  }
}

process.exitCode = await main();
