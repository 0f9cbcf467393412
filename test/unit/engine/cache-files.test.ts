import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { removeStaleTemps, replaceFileAtomically, TEMP_MARK, writeFully } from "../../../src/engine/cache-files.ts";

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), "chunkgc-cache-files-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("cache files: whole replacement, stale temps", () => {
  test("a successful write replaces the file and leaves no temp file", async () => {
    const dir = await mkdtemp(path.join(root, "ok-"));
    const file = path.join(dir, "cache.bin");
    await writeFile(file, "old");
    const result = await replaceFileAtomically(file, async (handle) => {
      await writeFully(handle, Buffer.from("new content"), 0);
      return 11;
    });
    assert.equal(result, 11);
    assert.equal(await readFile(file, "utf8"), "new content");
    assert.deepEqual(await readdir(dir), ["cache.bin"]);
  });

  test("a write that fails halfway keeps the old file whole, removes its temp file and rethrows the error as is", async () => {
    const dir = await mkdtemp(path.join(root, "fail-"));
    const file = path.join(dir, "cache.bin");
    await writeFile(file, "old");
    const failure = new RangeError("the table changed");
    await assert.rejects(
      replaceFileAtomically(file, async (handle) => {
        await writeFully(handle, Buffer.from("partial"), 0);
        throw failure;
      }),
      (error: unknown) => error === failure,
    );
    assert.equal(await readFile(file, "utf8"), "old");
    assert.deepEqual(await readdir(dir), ["cache.bin"]);
  });

  test("stale-temp cleanup removes the temps of that file only", async () => {
    const dir = await mkdtemp(path.join(root, "stale-"));
    const names = [
      "cache.bin",
      `cache.bin${TEMP_MARK}1234-abcdef`,
      `cache.bin${TEMP_MARK}99-000000`,
      `other.bin${TEMP_MARK}1234-abcdef`,
      "cache.bin.bak",
    ];
    for (const name of names) await writeFile(path.join(dir, name), "x");
    await removeStaleTemps(dir, "cache.bin");
    assert.deepEqual((await readdir(dir)).sort(), ["cache.bin", "cache.bin.bak", `other.bin${TEMP_MARK}1234-abcdef`]);
  });
});
