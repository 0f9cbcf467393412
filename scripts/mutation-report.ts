/**
 * Pure helpers of `npm run mutation`: per-module scores from a Stryker JSON report (mutation-testing-report-schema),
 * the modules a change touches, and the gate for the modules that decide deletions.
 */

export type MutantStatus =
  | "Killed"
  | "Survived"
  | "NoCoverage"
  | "Timeout"
  | "CompileError"
  | "RuntimeError"
  | "Ignored"
  | "Pending";

export interface MutationReport {
  readonly files: Record<string, { readonly mutants: readonly { readonly status: MutantStatus }[] }>;
}

export interface ModuleScore {
  readonly file: string;
  readonly killed: number;
  readonly timeout: number;
  readonly survived: number;
  readonly noCoverage: number;
  readonly errors: number;
  /** Detected (killed or timed out) of all valid mutants (detected, survived, without coverage), in percent. */
  readonly score: number;
}

/** The modules that decide deletions: their score must reach DELETION_THRESHOLD. */
export const DELETION_MODULES: readonly string[] = [
  "src/engine/classify.ts",
  "src/engine/sweep.ts",
  "src/engine/mark.ts",
  "src/engine/lock.ts",
];
export const DELETION_THRESHOLD = 85;

/** Stryker's own definition of the mutation score (errors and ignored mutants do not count). */
export function moduleScores(report: MutationReport): ModuleScore[] {
  return Object.entries(report.files)
    .map(([file, { mutants }]) => {
      const count = (...statuses: MutantStatus[]) => mutants.filter((m) => statuses.includes(m.status)).length;
      const killed = count("Killed");
      const timeout = count("Timeout");
      const survived = count("Survived");
      const noCoverage = count("NoCoverage");
      const valid = killed + timeout + survived + noCoverage;
      const score = valid === 0 ? 100 : Math.floor(((killed + timeout) * 10_000) / valid) / 100;
      return {
        file: file.replaceAll("\\", "/"),
        killed,
        timeout,
        survived,
        noCoverage,
        errors: count("CompileError", "RuntimeError"),
        score,
      };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
}

/** Deletion-deciding modules below the threshold (a module missing from the report is not judged). */
export function belowThreshold(scores: readonly ModuleScore[], threshold = DELETION_THRESHOLD): ModuleScore[] {
  return scores.filter((s) => DELETION_MODULES.some((m) => s.file.endsWith(m)) && s.score < threshold);
}

/**
 * The mutated modules a change touches: the module itself, or a test named after it (`<module>*.test.ts`, e.g.
 * sweep-decisions.test.ts for sweep.ts).
 */
export function touchedModules(modules: readonly string[], changedFiles: readonly string[]): string[] {
  return modules.filter((module) => {
    const base = module.slice(module.lastIndexOf("/") + 1, -".ts".length);
    return changedFiles.some((file) => {
      if (file === module) return true;
      if (!file.startsWith("test/") || !file.endsWith(".test.ts")) return false;
      const name = file.slice(file.lastIndexOf("/") + 1);
      return name === `${base}.test.ts` || name.startsWith(`${base}-`);
    });
  });
}

export function markdownTable(scores: readonly ModuleScore[]): string {
  const rows = scores.map(
    (s) =>
      `| \`${s.file}\` | ${s.score.toFixed(2)} % | ${s.killed} | ${s.timeout} | ${s.survived} | ${s.noCoverage} | ` +
      `${s.errors} |`,
  );
  return [
    "| Module | Score | Killed | Timeout | Survived | No coverage | Errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
}
