import { createHash } from "node:crypto";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Crc64Nvme } from "@aws-sdk/checksums";
import { setAttributeSync } from "@napi-rs/xattr";

/*
 * versitygw's POSIX backend keeps an object as a plain file at `<root>/<bucket>/<key>` (directories for the `/`
 * parts) and its metadata in `user.*` extended attributes; LastModified is the file's mtime. Writing that layout
 * directly is what makes a million-object datastore take minutes instead of an hour of PUTs. The attributes are the
 * ones versitygw 1.8 itself sets on a plain PutObject (the bench checks the result by listing through S3):
 *   user.etag          `"<md5 hex>"`, quotes included
 *   user.checksums     JSON of the full-object checksum, CRC64NVME by default (base64 of the big-endian CRC)
 *   user.content-type  application/octet-stream
 * The bucket itself must be created through S3 first (its ACL and ownership attributes are versitygw's business).
 */

const CHECKSUM_FIELDS = [
  "CRC32",
  "CRC32C",
  "SHA1",
  "SHA256",
  "CRC64NVME",
  "SHA512",
  "MD5",
  "XXHASH64",
  "XXHASH3",
  "XXHASH128",
];

async function crc64NvmeBase64(body: Uint8Array): Promise<string> {
  const hash = new Crc64Nvme();
  hash.update(body);
  return Buffer.from(await hash.digest()).toString("base64");
}

export interface LayoutObject {
  readonly key: string;
  readonly body: Uint8Array;
  /** LastModified, epoch milliseconds. */
  readonly mtimeMs: number;
}

/** Writes objects into `<dataDir>/<bucket>/` as versitygw would after PutObject (directories made as needed). */
export class VersitygwLayoutWriter {
  readonly #bucketDir: string;
  readonly #madeDirs = new Set<string>();

  constructor(dataDir: string, bucket: string) {
    this.#bucketDir = join(dataDir, bucket);
  }

  async write(object: LayoutObject): Promise<void> {
    if (object.key.startsWith("/") || object.key.split("/").includes("..")) {
      throw new RangeError(`object key ${JSON.stringify(object.key)} would leave the bucket directory`);
    }
    const path = join(this.#bucketDir, object.key);
    const dir = dirname(path);
    if (!this.#madeDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.#madeDirs.add(dir);
    }
    writeFileSync(path, object.body);
    const md5 = createHash("md5").update(object.body).digest("hex");
    const checksums: Record<string, string | null> = { Algorithm: "CRC64NVME", Type: "FULL_OBJECT" };
    for (const field of CHECKSUM_FIELDS) checksums[field] = null;
    checksums.CRC64NVME = await crc64NvmeBase64(object.body);
    setAttributeSync(path, "user.etag", Buffer.from(`"${md5}"`));
    setAttributeSync(path, "user.checksums", Buffer.from(JSON.stringify(checksums)));
    setAttributeSync(path, "user.content-type", Buffer.from("application/octet-stream"));
    const seconds = object.mtimeMs / 1000;
    utimesSync(path, seconds, seconds);
  }
}
