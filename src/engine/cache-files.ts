/**
 * The file discipline both of chunkgc's own caches (the marker cache, the index cache) follow, in one place.
 *
 * A cache file is only ever replaced whole: the new content goes to `<file>.tmp-<pid>-<random>` in the same directory,
 * is fsync'd, renamed over the old file, and the directory is fsync'd so that the rename itself is durable. A process
 * killed at any moment leaves the old complete file or the new complete one, plus at most a temp file, which the next
 * writer of that file removes. Readers never trust a file without its checksum, so a torn write is a miss, not a lie.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readdir, rename, unlink } from "node:fs/promises";
import path from "node:path";

/** What follows a cache file's name in the name of its temp files. */
export const TEMP_MARK = ".tmp-";

export function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Unlinks `file`; one already gone is fine. */
export async function unlinkQuietly(file: string): Promise<void> {
  await unlink(file).catch((error: unknown) => {
    if (errorCode(error) !== "ENOENT") throw error;
  });
}

/** A fresh temp path next to `file`: same directory (so the rename is atomic), unique to this process and call. */
export function tempPathFor(file: string): string {
  return `${file}${TEMP_MARK}${process.pid}-${randomBytes(6).toString("hex")}`;
}

/** Removes the temp files of `<dir>/<fileName>` that a killed writer left behind. */
export async function removeStaleTemps(dir: string, fileName: string): Promise<void> {
  const prefix = `${fileName}${TEMP_MARK}`;
  for (const name of await readdir(dir)) {
    if (name.startsWith(prefix)) await unlinkQuietly(path.join(dir, name));
  }
}

/** fsync of a directory, so that a rename in it is durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `bytes` at `position` (a single write may be short). */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Replaces `file` atomically with what `write` puts into the handle of a new temp file: temp file (created, never
 * reused), fsync, rename, directory fsync. On any error the temp file is removed and the error is rethrown as it is;
 * the old file is untouched.
 */
export async function replaceFileAtomically<T>(file: string, write: (handle: FileHandle) => Promise<T>): Promise<T> {
  const temp = tempPathFor(file);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, "wx", 0o644);
    const result = await write(handle);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, file);
    await syncDirectory(path.dirname(file));
    return result;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlinkQuietly(temp).catch(() => undefined);
    throw error;
  }
}
