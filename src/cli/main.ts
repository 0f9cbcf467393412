import { Command } from "commander";
import { registerVersionCommand } from "./commands/version.ts";

// Every subcommand lives in its own module under ./commands and registers itself here.
export function buildProgram(): Command {
  const program = new Command("chunkgc")
    .description("Garbage collection for Proxmox Backup Server chunk datastores on S3")
    .showHelpAfterError()
    .exitOverride();
  registerVersionCommand(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (isCommanderExit(error)) {
      process.exitCode = error.exitCode;
      return;
    }
    throw error;
  }
}

function isCommanderExit(error: unknown): error is { exitCode: number; code: string } {
  return typeof error === "object" && error !== null && "code" in error && String(error.code).startsWith("commander.");
}

await main(process.argv);
