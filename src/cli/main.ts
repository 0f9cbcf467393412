import { Command } from "commander";
import { EXIT, exitCodeOf } from "../api/exit-codes.ts";
import { registerGcCommand } from "./commands/gc.ts";
import { registerIndexInspectCommand } from "./commands/index-inspect.ts";
import { registerSeedCommand } from "./commands/seed.ts";
import { registerVersionCommand } from "./commands/version.ts";

// Every subcommand lives in its own module under ./commands and registers itself here.
export async function buildProgram(command: string | undefined): Promise<Command> {
  const program = new Command("chunkgc")
    .description("Garbage collection for Proxmox Backup Server chunk datastores on S3")
    .showHelpAfterError()
    .exitOverride();
  registerVersionCommand(program);
  registerSeedCommand(program);
  registerGcCommand(program);
  registerIndexInspectCommand(program);
  // The operator's Kubernetes client costs ~85 MiB: a `gc` run (a Job pod's whole life, with a documented memory
  // limit) never loads it.
  if (command !== "gc") (await import("./commands/operator.ts")).registerOperatorCommand(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv[2]);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (isCommanderExit(error)) {
      process.exitCode = error.exitCode === 1 ? EXIT.usage : error.exitCode;
      return;
    }
    // One clear line for the user; the stack only when asked for.
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`chunkgc: ${message}\n`);
    if (process.env.CHUNKGC_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = exitCodeOf(error);
  }
}

function isCommanderExit(error: unknown): error is { exitCode: number; code: string } {
  return typeof error === "object" && error !== null && "code" in error && String(error.code).startsWith("commander.");
}

await main(process.argv);
