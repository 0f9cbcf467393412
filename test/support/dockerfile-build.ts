/**
 * Builds the repository's Dockerfile without a container engine, as far as that can be done faithfully: there is no
 * registry here to pull the base image from. The Dockerfile is read with dockerfile-ast and the build context is
 * filtered by .dockerignore with @balena/dockerignore (Docker's own matching rules); every stage gets a directory that
 * stands for its root file system, WORKDIR/COPY/COPY --from act on those directories, and RUN runs its shell command
 * on this machine (Node and npm from PATH stand in for the base image's) in the mapped working directory with the
 * stage's ENV. Instructions the emulation cannot honour fail the build instead of being skipped.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, posix } from "node:path";
import { type Copy, DockerfileParser, type Entrypoint, type Instruction } from "dockerfile-ast";

// A CommonJS package whose typings declare an ES default export: load it as what it is (module.exports = factory).
const ignore = createRequire(import.meta.url)("@balena/dockerignore") as typeof import("@balena/dockerignore").default;

/** An instruction the emulation cannot do faithfully, or one that failed; names the Dockerfile line. */
export class DockerfileBuildError extends Error {
  readonly line: number;
  constructor(instruction: Instruction, problem: string) {
    const line = instruction.getRange().start.line + 1;
    super(`Dockerfile line ${line} (${instruction.getKeyword()}): ${problem}`);
    this.name = "DockerfileBuildError";
    this.line = line;
  }
}

export interface Stage {
  readonly index: number;
  readonly name: string | undefined;
  /** The FROM image after ARG expansion, e.g. node:24-bookworm-slim (or a previous stage's name). */
  readonly baseImage: string;
  /** The directory standing for the stage's root file system. */
  readonly root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  entrypoint: string[] | undefined;
}

export interface BuildResult {
  readonly stages: Stage[];
  /** The last stage: what the image is. */
  readonly final: Stage;
  /** Context paths (relative, POSIX) that .dockerignore lets through. */
  readonly context: string[];
}

export interface BuildOptions {
  /** The build context (the repository root). */
  contextDir: string;
  /** Where the stage roots go (must exist and be empty). */
  outDir: string;
  /** Environment for RUN commands besides the stage's ENV (PATH with node and npm, npm's cache, ...). */
  env: NodeJS.ProcessEnv;
  /** One RUN's time limit. */
  runTimeoutMs?: number;
}

/** Context files (not directories) that .dockerignore keeps, relative POSIX paths; ignored directories are pruned. */
export function contextFiles(contextDir: string): string[] {
  const dockerignore = join(contextDir, ".dockerignore");
  const rules = existsSync(dockerignore) ? readFileSync(dockerignore, "utf8") : "";
  const filter = ignore().add(rules);
  const negations = rules
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("!"))
    .map((line) => line.slice(1).replace(/^\/+/, "").replace(/\/+$/, ""));
  const out: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(contextDir, relative), { withFileTypes: true })) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const ignored = filter.ignores(path);
      if (entry.isDirectory()) {
        // Docker walks into an excluded directory only when an exception could match inside it.
        if (!ignored || negations.some((n) => n.startsWith(`${path}/`))) walk(path);
      } else if (!ignored) {
        out.push(path);
      }
    }
  };
  walk("");
  return out.sort();
}

function jsonStrings(instruction: Entrypoint): string[] {
  return instruction.getJSONStrings().map((s) => s.getJSONValue());
}

function flagsOf(instruction: Instruction): Map<string, string | null> {
  const flags = new Map<string, string | null>();
  const withFlags = instruction as Instruction & {
    getFlags?: () => { getName(): string; getValue(): string | null }[];
  };
  for (const flag of withFlags.getFlags?.() ?? []) flags.set(flag.getName(), flag.getValue());
  return flags;
}

function inRoot(stage: Stage, containerPath: string): string {
  const absolute = posix.resolve(stage.workdir, containerPath);
  return join(stage.root, absolute);
}

function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", command], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`\`${command}\` exited ${code ?? signal}: ${output.slice(-4000)}`)),
    );
  });
}

/**
 * COPY as Docker does it: a directory source copies its contents into the destination; a file goes into a
 * destination ending in "/" (or into one that is an existing directory), else becomes the destination.
 */
function copyInto(source: string, destination: string, destinationIsDir: boolean): void {
  if (statSync(source).isDirectory()) {
    mkdirSync(destination, { recursive: true });
    cpSync(source, destination, { recursive: true, verbatimSymlinks: true });
    return;
  }
  const intoDir = destinationIsDir || (existsSync(destination) && lstatSync(destination).isDirectory());
  const target = intoDir ? join(destination, source.slice(source.lastIndexOf("/") + 1)) : destination;
  mkdirSync(dirname(target), { recursive: true });
  cpSync(source, target);
}

/** Sources of a COPY from the build context: each must exist and survive .dockerignore. */
function contextSources(instruction: Copy, sources: string[], contextDir: string, context: Set<string>): string[] {
  return sources.map((source) => {
    const relative = posix
      .normalize(source)
      .replace(/^\.\/?/, "")
      .replace(/\/+$/, "");
    const kept =
      relative === "" ? context.size > 0 : [...context].some((f) => f === relative || f.startsWith(`${relative}/`));
    if (!kept)
      throw new DockerfileBuildError(instruction, `${source} is missing from the build context (.dockerignore?)`);
    return join(contextDir, relative);
  });
}

export async function buildDockerfile(options: BuildOptions): Promise<BuildResult> {
  const { contextDir, outDir } = options;
  const dockerfile = DockerfileParser.parse(readFileSync(join(contextDir, "Dockerfile"), "utf8"));
  const contextList = contextFiles(contextDir);
  const context = new Set(contextList);
  // The emulated context is a copy holding only what .dockerignore lets through.
  const contextCopy = join(outDir, "context");
  for (const file of contextList) {
    mkdirSync(dirname(join(contextCopy, file)), { recursive: true });
    cpSync(join(contextDir, file), join(contextCopy, file));
  }

  const stages: Stage[] = [];
  let stage: Stage | undefined;
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction.getExpandedArguments().map((a) => a.getValue());
    if (keyword === "ARG") {
      if (stage !== undefined) throw new DockerfileBuildError(instruction, "ARG inside a stage is not emulated");
      continue; // getExpandedArguments applies global ARG defaults.
    }
    if (keyword === "FROM") {
      const [image, as, name] = args;
      if (!image || (as !== undefined && as.toUpperCase() !== "AS")) {
        throw new DockerfileBuildError(instruction, "expected FROM <image> [AS <name>]");
      }
      const index = stages.length;
      const root = join(outDir, `stage-${index}`);
      mkdirSync(root, { recursive: true });
      const previous = stages.find((s) => s.name === image);
      if (previous) cpSync(previous.root, root, { recursive: true, verbatimSymlinks: true });
      stage = {
        index,
        name,
        baseImage: image,
        root,
        workdir: previous?.workdir ?? "/",
        env: { ...(previous?.env ?? {}) },
        user: previous?.user,
        entrypoint: previous?.entrypoint,
      };
      stages.push(stage);
      continue;
    }
    if (stage === undefined) throw new DockerfileBuildError(instruction, "instruction before FROM");
    switch (keyword) {
      case "WORKDIR": {
        stage.workdir = posix.resolve(stage.workdir, args.join(" "));
        mkdirSync(join(stage.root, stage.workdir), { recursive: true });
        break;
      }
      case "ENV": {
        for (const pair of args) {
          const eq = pair.indexOf("=");
          if (eq <= 0) throw new DockerfileBuildError(instruction, "only ENV KEY=value is emulated");
          stage.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
      }
      case "COPY": {
        const copy = instruction as Copy;
        const flags = flagsOf(instruction);
        for (const name of flags.keys()) {
          if (name !== "from") throw new DockerfileBuildError(instruction, `COPY --${name} is not emulated`);
        }
        if (args.length < 2) throw new DockerfileBuildError(instruction, "COPY needs a source and a destination");
        const destination = args[args.length - 1] as string;
        const sources = args.slice(0, -1);
        const from = flags.get("from");
        let paths: string[];
        if (from !== undefined) {
          const source = stages.find((s) => s.name === from || String(s.index) === from);
          if (!source) throw new DockerfileBuildError(instruction, `no earlier stage ${from}`);
          paths = sources.map((s) => join(source.root, posix.resolve("/", s)));
          for (const path of paths) {
            if (!existsSync(path)) throw new DockerfileBuildError(instruction, `stage ${from} has no ${path}`);
          }
        } else {
          paths = contextSources(copy, sources, contextCopy, context).map((p) => p);
        }
        const destinationIsDir = destination.endsWith("/") || sources.length > 1;
        for (const path of paths) copyInto(path, inRoot(stage, destination), destinationIsDir);
        break;
      }
      case "RUN": {
        for (const name of flagsOf(instruction).keys()) {
          if (name !== "mount") throw new DockerfileBuildError(instruction, `RUN --${name} is not emulated`);
        }
        const command = args.join(" ");
        if (/(^|\s)\/(?!dev\/null)/.test(command)) {
          throw new DockerfileBuildError(instruction, "RUN with absolute paths cannot be mapped onto the stage root");
        }
        const env = { ...options.env, ...stage.env };
        await runShell(command, join(stage.root, stage.workdir), env, options.runTimeoutMs ?? 300_000).catch(
          (error: unknown) => {
            throw new DockerfileBuildError(instruction, String(error));
          },
        );
        break;
      }
      case "USER": {
        stage.user = args.join(" ");
        break;
      }
      case "ENTRYPOINT": {
        const strings = jsonStrings(instruction as Entrypoint);
        if (strings.length === 0)
          throw new DockerfileBuildError(instruction, "ENTRYPOINT must be the JSON (exec) form");
        stage.entrypoint = strings;
        break;
      }
      default:
        throw new DockerfileBuildError(instruction, `${keyword} is not emulated`);
    }
  }
  const final = stages[stages.length - 1];
  if (!final) throw new Error("the Dockerfile has no FROM");
  return { stages, final, context: contextList };
}
