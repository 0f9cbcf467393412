import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { packageVersion } from "../../util/package-info.ts";

export function registerVersionCommand(program: Command): void {
  program.version(packageVersion(), "-V, --version");
  program
    .command("version")
    .description("print the chunkgc version as JSON")
    .option(
      "--termination-message-path <path>",
      "also write the JSON to this file (a Kubernetes container's terminationMessagePath)",
    )
    .action((options: { terminationMessagePath?: string }) => {
      const json = JSON.stringify({ name: "chunkgc", version: packageVersion(), node: process.version });
      process.stdout.write(`${json}\n`);
      if (options.terminationMessagePath) writeFileSync(options.terminationMessagePath, json);
    });
}
