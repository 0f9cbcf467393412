/**
 * `node scripts/bump-version.ts <semver>`: the one place a release version is set. Writes it to package.json (and
 * package-lock.json's root entries) and to the chart's version and appVersion together (the chart is released with
 * the application; test/unit/chart/chart.test.ts checks that they agree). Edits the lines in place, so comments and
 * layout stay; refuses anything but a SemVer 2 version.
 */
import { readFileSync, writeFileSync } from "node:fs";

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

export function bumpChart(chartYaml: string, version: string): string {
  let versions = 0;
  const out = chartYaml.replace(/^(version|appVersion):.*$/gm, (_line, key: string) => {
    versions += 1;
    return key === "version" ? `version: ${version}` : `appVersion: "${version}"`;
  });
  if (versions !== 2) throw new Error("Chart.yaml: expected one version and one appVersion line");
  return out;
}

export function bumpPackageJson(text: string, version: string): string {
  const json = JSON.parse(text) as { version: string; packages?: Record<string, { version?: string }> };
  json.version = version;
  if (json.packages?.[""]) json.packages[""].version = version;
  return `${JSON.stringify(json, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const version = process.argv[2] ?? "";
  if (!SEMVER.test(version)) {
    console.error(`usage: node scripts/bump-version.ts <semver>; got "${version}"`);
    process.exit(2);
  }
  const root = new URL("../", import.meta.url);
  for (const file of ["package.json", "package-lock.json"]) {
    const url = new URL(file, root);
    writeFileSync(url, bumpPackageJson(readFileSync(url, "utf8"), version));
  }
  const chart = new URL("charts/chunkgc/Chart.yaml", root);
  writeFileSync(chart, bumpChart(readFileSync(chart, "utf8"), version));
  console.error(`version ${version}: package.json, package-lock.json, charts/chunkgc/Chart.yaml (version, appVersion)`);
}
