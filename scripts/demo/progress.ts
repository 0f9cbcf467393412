/**
 * What the demo prints: numbered steps with the time since the start, the commands a user would type, and a heartbeat
 * for long silent work (a first run builds Kubernetes and versitygw from source, minutes without a line of output).
 */
import { spawn } from "node:child_process";

const started = Date.now();

export function elapsed(ms = Date.now() - started): string {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

let stepNumber = 0;

export function step(title: string): void {
  stepNumber += 1;
  console.log(`\n\x1b[1m[${elapsed()}] ${stepNumber}. ${title}\x1b[0m`);
}

export function note(text: string): void {
  console.log(`   ${text.split("\n").join("\n   ")}`);
}

/** Shows a command the way a user would type it (`$ kubectl ...`). */
export function shown(command: string, args: readonly string[]): void {
  const quoted = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`));
  console.log(`\x1b[2m$ ${[command, ...quoted].join(" ")}\x1b[0m`);
}

export class CommandError extends Error {
  readonly exitCode: number | null;
  constructor(label: string, exitCode: number | null, lastLines: string) {
    super(`${label} failed (exit ${exitCode})${lastLines ? `; last output:\n${lastLines}` : ""}`);
    this.name = "CommandError";
    this.exitCode = exitCode;
  }
}

export interface LongCommandOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Seconds of silence before a heartbeat line. */
  readonly quietSeconds?: number;
  readonly timeoutMs: number;
  /** Show only stderr (progress) and drop stdout (e.g. a JSON report the caller reads from a file). */
  readonly hideStdout?: boolean;
}

/**
 * Runs a command whose output goes to the terminal as it comes, indented; while it is silent, prints every
 * `quietSeconds` how long it has been running and its last line, so a build of many minutes never looks hung.
 */
export function runLong(
  label: string,
  command: string,
  args: readonly string[],
  options: LongCommandOptions,
): Promise<void> {
  const quietMs = (options.quietSeconds ?? 20) * 1000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const begun = Date.now();
    let lastOutput = Date.now();
    let lastLine = "";
    const recent: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        lastLine = line.trim();
        recent.push(line);
        if (recent.length > 30) recent.shift();
        console.log(`   | ${line}`);
      }
      lastOutput = Date.now();
    };
    if (options.hideStdout) child.stdout.resume();
    else child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const heartbeat = setInterval(() => {
      if (Date.now() - lastOutput < quietMs) return;
      const since = lastLine ? `; last: ${lastLine.slice(0, 100)}` : "";
      console.log(`   … ${label}: still working, ${elapsed(Date.now() - begun)} so far${since}`);
      lastOutput = Date.now();
    }, 1000);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearInterval(heartbeat);
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearInterval(heartbeat);
      clearTimeout(timer);
      if (code === 0) resolve();
      else if (timedOut) reject(new CommandError(`${label} (stopped after ${options.timeoutMs / 1000} s)`, code, ""));
      else reject(new CommandError(label, code, recent.slice(-15).join("\n")));
    });
  });
}
