import { readFile } from "node:fs/promises";
import { type Command, InvalidArgumentError } from "commander";
import { EXIT } from "../../api/exit-codes.ts";
import { DIGEST_SIZE, digestHex, type InspectedIndex, inspectIndex } from "../../datastore/index.ts";
import { createS3Context, getObjectBytes } from "../../s3/index.ts";
import { addS3Options, type S3CliOptions, s3ConnectionFromOptions } from "../s3-options.ts";

/*
 * `chunkgc index inspect <file-or-key> [--digests]`: a JSON summary of one PBS index, for debugging a datastore.
 *
 * Exit codes: 0 the index is valid; 1 the index is corrupt (bad magic, length, chunk size, end offsets or checksum)
 * or could not be read (stderr says which, naming the file or key; on a checksum mismatch the summary is still
 * printed, with "checksumOk": false); 2 usage error.
 */

/** What the command prints. */
export type IndexSummary = {
  kind: InspectedIndex["kind"];
  uuid: string;
  ctime: number;
  indexBytes: number;
  chunkCount: number;
  chunkSize?: number;
  checksumOk: boolean;
  digests?: string[];
};

/** The printed summary of an inspected index (pure). */
export function indexSummary(index: InspectedIndex, withDigests: boolean): IndexSummary {
  const summary: IndexSummary = {
    kind: index.kind,
    uuid: index.uuid,
    ctime: index.ctime,
    indexBytes: index.indexBytes,
    chunkCount: index.chunkCount,
    ...(index.chunkSize === undefined ? {} : { chunkSize: index.chunkSize }),
    checksumOk: index.checksumOk,
  };
  if (withDigests) {
    summary.digests = Array.from({ length: index.chunkCount }, (_, i) => digestHex(index.digests, i * DIGEST_SIZE));
  }
  return summary;
}

type InspectCliOptions = Partial<S3CliOptions> & { digests?: boolean };

/** Failure to get the bytes at all (missing file, S3 error): not a statement about the index. */
export class IndexReadError extends Error {
  readonly exitCode = EXIT.error;
  constructor(source: string, cause: unknown) {
    super(`cannot read ${source}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "IndexReadError";
  }
}

/** S3 mode when an endpoint is given (flag or CHUNKGC_S3_ENDPOINT); the argument is then an object key. */
function isS3Mode(options: InspectCliOptions): options is InspectCliOptions & { endpoint: string } {
  return options.endpoint !== undefined;
}

async function readIndexBytes(
  target: string,
  options: InspectCliOptions,
): Promise<{ bytes: Uint8Array; source: string }> {
  if (!isS3Mode(options)) {
    try {
      return { bytes: await readFile(target), source: target };
    } catch (error) {
      throw new IndexReadError(target, error);
    }
  }
  if (options.bucket === undefined) {
    throw new InvalidArgumentError("--bucket (or CHUNKGC_S3_BUCKET) is required with --endpoint");
  }
  const source = `s3://${options.bucket}/${target}`;
  const s3 = createS3Context(
    s3ConnectionFromOptions({ ...options, bucket: options.bucket, region: options.region ?? "us-east-1" }),
  );
  try {
    const object = await getObjectBytes(s3, target, AbortSignal.timeout(10 * 60_000));
    return { bytes: object.bytes, source };
  } catch (error) {
    throw new IndexReadError(source, error);
  } finally {
    s3.close();
  }
}

export function registerIndexInspectCommand(program: Command): void {
  const index =
    program.commands.find((command) => command.name() === "index") ??
    program.command("index").description("work with PBS index files (.fidx, .didx)");
  const inspect = index.command("inspect");
  addS3Options(inspect, { optional: true });
  inspect
    .description("print a JSON summary of one index file, or of an object key when S3 options are given")
    .argument("<file-or-key>", "path of a .fidx/.didx file, or with --endpoint an object key in --bucket")
    .option("--digests", "also print the digests (hex), in index order")
    .addHelpText(
      "after",
      [
        "",
        "S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or their *_FILE variants).",
        "Exit codes: 0 valid index; 1 corrupt index or read failure (one line on stderr naming the file or key;",
        'a checksum mismatch still prints the summary, with "checksumOk": false); 2 usage error.',
      ].join("\n"),
    )
    .action(async (target: string, options: InspectCliOptions, command: Command) => {
      let input: { bytes: Uint8Array; source: string };
      try {
        input = await readIndexBytes(target, options);
      } catch (error) {
        if (error instanceof InvalidArgumentError) command.error(`error: ${error.message}`, { exitCode: EXIT.usage });
        throw error;
      }
      // An IndexFormatError (magic, length, chunk size, offsets) propagates: main prints its one line, exit 1.
      const inspected = inspectIndex(input.bytes, input.source);
      process.stdout.write(`${JSON.stringify(indexSummary(inspected, options.digests === true), null, 2)}\n`);
      if (!inspected.checksumOk) {
        process.stderr.write(
          `chunkgc: ${input.source}: ${inspected.kind} index checksum mismatch: header has ${inspected.checksum}, ` +
            `the ${inspected.kind === "fixed" ? "digests" : "entries"} hash to ${inspected.computedChecksum}\n`,
        );
        process.exitCode = EXIT.error;
      }
    });
}
