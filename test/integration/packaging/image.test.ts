/**
 * The Dockerfile, built without a container engine (test/support/dockerfile-build.ts: no registry here to pull
 * node:24 from): its base is a supported Node LTS, the context that .dockerignore lets through holds what the COPYs
 * need and nothing else, `npm ci` + `npm run build` compile, the final stage carries production dependencies only,
 * and its ENTRYPOINT runs `chunkgc version` as the unprivileged uid 65532 on a file system it cannot write.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { RUN_USER_ID } from "../../../src/operator/job-builder.ts";
import { packageVersion } from "../../../src/util/package-info.ts";
import { type BuildResult, buildDockerfile } from "../../support/dockerfile-build.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};
/** package-lock.json's packages: `dev: true` marks those only devDependencies need. */
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { dev?: boolean; optional?: boolean }>;
};

/** An absolute path of a program on this process's PATH (the image's run gets a PATH of its own). */
function which(program: string): string {
  const result = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" });
  const path = result.stdout.trim();
  assert.ok(result.status === 0 && path.startsWith("/"), `${program} not found on PATH`);
  return path;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** Makes a tree read-only for everyone (the uid that runs the image is not its owner anyway). */
function makeReadOnly(dir: string): void {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) continue;
    chmodSync(path, entry.isDirectory() ? 0o555 : entry.name === "node" ? 0o555 : 0o444);
  }
  chmodSync(dir, 0o555);
}

describe("the Dockerfile, built without a container engine", () => {
  let out = "";
  let build: BuildResult;

  before(async () => {
    out = mkdtempSync(join(tmpdir(), "chunkgc-image-"));
    chmodSync(out, 0o755);
    build = await buildDockerfile({
      contextDir: ROOT,
      outDir: out,
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
        npm_config_prefer_offline: "true",
        npm_config_update_notifier: "false",
      },
    });
  });

  after(() => {
    if (!out) return;
    for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
      if (entry.isDirectory()) chmodSync(join(entry.parentPath, entry.name), 0o755);
    }
    chmodSync(out, 0o755);
    rmSync(out, { recursive: true, force: true });
  });

  test("every stage starts from the official Node 24 LTS image", () => {
    assert.equal(build.stages.length, 3);
    for (const stage of build.stages) assert.match(stage.baseImage, /^node:24(-|$)/, stage.baseImage);
  });

  test(".dockerignore lets through the sources and manifests, never node_modules, dist, tests or git", () => {
    const tops = new Set(build.context.map((path) => path.split("/")[0]));
    assert.deepEqual([...tops].sort(), [
      "bin",
      "package-lock.json",
      "package.json",
      "src",
      "tsconfig.build.json",
      "tsconfig.json",
    ]);
    assert.ok(build.context.includes("src/cli/main.ts"));
    assert.ok(build.context.includes("bin/chunkgc.js"));
  });

  test("the final stage: compiled code, production dependencies only, no sources", () => {
    const app = join(build.final.root, "app");
    assert.deepEqual(readdirSync(app).sort(), ["bin", "dist", "node_modules", "package.json"]);
    assert.ok(existsSync(join(app, "dist/cli/main.js")));
    assert.ok(!listFiles(join(app, "dist")).some((file) => file.endsWith(".ts") && !file.endsWith(".d.ts")));
    for (const name of Object.keys(manifest.dependencies)) {
      assert.ok(existsSync(join(app, "node_modules", name, "package.json")), `dependency ${name}`);
    }
    const devOnly = Object.entries(lock.packages).filter(([path, info]) => path !== "" && info.dev === true);
    assert.ok(
      devOnly.some(([path]) => path === "node_modules/typescript"),
      "the lock marks dev-only packages",
    );
    for (const [path] of devOnly) assert.ok(!existsSync(join(app, path)), `${path} is only for development`);
  });

  test("runs as the numeric user 65532 (the chart's and the run pods' uid) with `node /app/bin/chunkgc.js`", () => {
    assert.equal(build.final.user, `${RUN_USER_ID}:${RUN_USER_ID}`);
    assert.deepEqual(build.final.entrypoint, ["node", "/app/bin/chunkgc.js"]);
    assert.equal(build.final.env.NODE_ENV, "production");
  });

  test("the ENTRYPOINT runs `version` as uid 65532 on a read-only tree, writing nothing", () => {
    const root = build.final.root;
    // The base image's node stands in as /usr/local/bin/node of the stage.
    mkdirSync(join(root, "usr/local/bin"), { recursive: true });
    copyFileSync(process.execPath, join(root, "usr/local/bin/node"));
    makeReadOnly(root);
    const before = listFiles(root);
    const [command, ...entryArgs] = build.final.entrypoint ?? [];
    assert.equal(command, "node");
    const mapped = entryArgs.map((arg) => (arg.startsWith("/") ? join(root, arg) : arg));
    const env = { ...build.final.env, PATH: join(root, "usr/local/bin") };
    const asUser =
      process.getuid?.() === 0
        ? [which("setpriv"), `--reuid=${RUN_USER_ID}`, `--regid=${RUN_USER_ID}`, "--clear-groups", "--"]
        : [];
    const argv = [...asUser, join(root, "usr/local/bin/node"), ...mapped, "version"];
    const result = spawnSync(argv[0] as string, argv.slice(1), { env, encoding: "utf8", timeout: 60_000 });
    assert.equal(result.status, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as { name: string; version: string; node: string };
    assert.equal(printed.name, "chunkgc");
    assert.equal(printed.version, packageVersion());
    assert.match(printed.node, /^v24\./);
    assert.deepEqual(listFiles(root), before, "nothing written into the image's file system");

    const help = spawnSync(argv[0] as string, [...argv.slice(1, -1), "gc", "--help"], { env, encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--endpoint/);
  });
});
