import { readFileSync } from "node:fs";

let cached: string | undefined;

/** The version in package.json, read once; both the sources and the compiled build sit one level below it. */
export function packageVersion(): string {
  if (cached === undefined) {
    const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    cached = manifest.version;
  }
  return cached;
}
