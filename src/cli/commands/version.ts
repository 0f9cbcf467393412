import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { packageVersion } from "../../util/package-info.ts";

export function registerVersionCommand(program: Command): void {
  program.version(packageVersion(), "-V, --version");
  program
    .command("version")
    .description("print the chunkgc version as JSON")
    .addOption(
      new Option(
        "--termination-message-file <file>",
        "also write the JSON here (a container's termination message)",
      ).env("CHUNKGC_TERMINATION_MESSAGE_PATH"),
    )
    .action((options: { terminationMessageFile?: string }) => {
      const json = JSON.stringify({ name: "chunkgc", version: packageVersion(), node: process.version });
      process.stdout.write(`${json}\n`);
      if (options.terminationMessageFile) writeFileSync(options.terminationMessageFile, json);
    });
}
