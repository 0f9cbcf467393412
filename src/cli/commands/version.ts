import type { Command } from "commander";
import { packageVersion } from "../../util/package-info.ts";

export function registerVersionCommand(program: Command): void {
  program.version(packageVersion(), "-V, --version");
  program
    .command("version")
    .description("print the chunkgc version as JSON")
    .action(() => {
      process.stdout.write(
        `${JSON.stringify({ name: "chunkgc", version: packageVersion(), node: process.version })}\n`,
      );
    });
}
