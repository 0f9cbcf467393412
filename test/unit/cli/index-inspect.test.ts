import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeDynamicIndex, writeFixedIndex } from "../../../src/datastore/index.ts";

const MAIN = new URL("../../../src/cli/main.ts", import.meta.url).pathname;
const UUID = "01234567-89ab-cdef-0011-223344556677";
const digest = (label: string) => createHash("sha256").update(label).digest();
const fixed = writeFixedIndex({
  uuid: UUID,
  ctime: 1714557600,
  size: 9 * 1024 * 1024,
  chunkSize: 4 * 1024 * 1024,
  digests: [digest("a"), digest("b"), digest("c")],
});
const dynamic = writeDynamicIndex({
  uuid: UUID,
  ctime: 1714557601,
  entries: [
    { end: 1000, digest: digest("x") },
    { end: 3000, digest: digest("y") },
  ],
});

type Run = { code: number | null; stdout: string; stderr: string };

/** Runs the CLI as a user would, with a controlled environment (no AWS_CA_BUNDLE, no CHUNKGC_S3_* leaking in). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, "index", "inspect", ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data) => {
      stdout += data;
    });
    child.stderr.on("data", (data) => {
      stderr += data;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("chunkgc index inspect (local files)", { concurrency: true }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "chunkgc-inspect-"));
    await writeFile(join(dir, "drive-scsi0.img.fidx"), fixed);
    await writeFile(join(dir, "root.pxar.didx"), dynamic);
    const badSum = Buffer.from(fixed);
    badSum[4096 + 5] = badSum[4096 + 5]! ^ 0xff;
    await writeFile(join(dir, "bad-checksum.fidx"), badSum);
    await writeFile(join(dir, "truncated.fidx"), fixed.subarray(0, 4096 + 40));
    await writeFile(join(dir, "short.didx"), dynamic.subarray(0, 2000));
    await writeFile(join(dir, "not-an-index.fidx"), Buffer.alloc(5000, 7));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("prints a fixed index summary", async () => {
    const run = await cli([join(dir, "drive-scsi0.img.fidx")]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      kind: "fixed",
      uuid: UUID,
      ctime: 1714557600,
      indexBytes: 9 * 1024 * 1024,
      chunkCount: 3,
      chunkSize: 4 * 1024 * 1024,
      checksumOk: true,
    });
    assert.equal(run.stderr, "");
  });

  it("prints a dynamic index summary with digests, without chunkSize", async () => {
    const run = await cli([join(dir, "root.pxar.didx"), "--digests"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      kind: "dynamic",
      uuid: UUID,
      ctime: 1714557601,
      indexBytes: 3000,
      chunkCount: 2,
      checksumOk: true,
      digests: [digest("x").toString("hex"), digest("y").toString("hex")],
    });
  });

  it("reports a checksum mismatch: summary printed, exit 1, one line naming the file", async () => {
    const file = join(dir, "bad-checksum.fidx");
    const run = await cli([file]);
    assert.equal(run.code, 1);
    assert.equal(JSON.parse(run.stdout).checksumOk, false);
    assert.equal(run.stderr.trim().split("\n").length, 1);
    assert.match(run.stderr, new RegExp(`${file}: fixed index checksum mismatch`));
  });

  for (const [name, reason] of [
    ["truncated.fidx", /truncated fixed index: 4136 bytes, expected 4192/],
    ["short.didx", /truncated dynamic index: 2000 bytes/],
    ["not-an-index.fidx", /not a PBS index file: unknown magic 0707070707070707/],
  ] as const) {
    it(`rejects ${name}: exit 1, nothing on stdout, one line naming the file`, async () => {
      const file = join(dir, name);
      const run = await cli([file]);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, "");
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
      assert.ok(run.stderr.includes(file), run.stderr);
      assert.match(run.stderr, reason);
    });
  }

  it("reports a missing file: exit 1 naming it", async () => {
    const file = join(dir, "missing.fidx");
    const run = await cli([file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`cannot read ${file}: ENOENT`));
  });

  it("exits 2 on usage errors", async () => {
    assert.equal((await cli([])).code, 2);
    const noBucket = await cli(["some/key.fidx", "--endpoint", "http://127.0.0.1:9"]);
    assert.equal(noBucket.code, 2);
    assert.match(noBucket.stderr, /--bucket .* is required with --endpoint/);
  });
});

describe("chunkgc index inspect (object key)", { concurrency: true }, () => {
  // A stand-in for S3 GetObject only, to prove the command's wiring (exact key, path style, errors);
  // S3 behaviour itself is tested against real servers in the S3 layer's suites.
  const objects = new Map<string, Buffer>();
  const requested: string[] = [];
  let server: Server;
  let endpoint: string;
  const key = "store1/.cnt/ns/prod/vm/100/2024-05-01T10:00:00Z/drive-scsi0.img.fidx";
  const s3Env = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test-secret" };

  before(async () => {
    objects.set(`/bucket1/${key}`, Buffer.from(fixed));
    objects.set("/bucket1/store1/broken.didx", Buffer.from(dynamic.subarray(0, 4096 + 39)));
    server = createServer((request, response) => {
      const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
      requested.push(`${request.method} ${path}`);
      const body = objects.get(path);
      if (request.method !== "GET" || body === undefined) {
        response.writeHead(404, { "content-type": "application/xml" });
        response.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>`,
        );
        return;
      }
      response.writeHead(200, {
        "content-length": body.length,
        etag: '"abc"',
        "last-modified": new Date(0).toUTCString(),
      });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const s3Args = () => ["--endpoint", endpoint, "--bucket", "bucket1", "--path-style", "--s3-max-attempts", "1"];

  it("reads the key from the bucket", async () => {
    const run = await cli([key, ...s3Args()], s3Env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).chunkCount, 3);
    assert.ok(requested.includes(`GET /bucket1/${key}`), requested.join("\n"));
  });

  it("takes the S3 settings from the environment too", async () => {
    const run = await cli([key], {
      ...s3Env,
      CHUNKGC_S3_ENDPOINT: endpoint,
      CHUNKGC_S3_BUCKET: "bucket1",
      CHUNKGC_S3_PATH_STYLE: "true",
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).kind, "fixed");
  });

  it("names the key of a corrupt index", async () => {
    const run = await cli(["store1/broken.didx", ...s3Args()], s3Env);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /s3:\/\/bucket1\/store1\/broken\.didx: truncated or wrong-length dynamic index/);
  });

  it("names a missing key", async () => {
    const run = await cli(["store1/missing.fidx", ...s3Args()], s3Env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot read s3:\/\/bucket1\/store1\/missing\.fidx/);
  });
});
