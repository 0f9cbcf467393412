import { Command } from "commander";
import { registerGcCommand } from "./commands/gc.ts";
import { registerIndexInspectCommand } from "./commands/index-inspect.ts";
import { registerOperatorCommand } from "./commands/operator.ts";
import { registerSeedCommand } from "./commands/seed.ts";
import { registerVersionCommand } from "./commands/version.ts";
import { EXIT, exitCodeOf } from "./exit-codes.ts";

// Every subcommand lives in its own module under ./commands and registers itself here.
export function buildProgram(): Command {
  const program = new Command("chunkgc")
    .description("Garbage collection for Proxmox Backup Server chunk datastores on S3")
    .showHelpAfterError()
    .exitOverride();
  registerVersionCommand(program);
  registerSeedCommand(program);
  registerGcCommand(program);
  registerIndexInspectCommand(program);
  registerOperatorCommand(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
