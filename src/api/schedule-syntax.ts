/**
 * What the resource accepts as `spec.schedule`, before any cron library sees it: five fields (minute hour
 * day-of-month month day-of-week) or one of the classic macros. The same rule is emitted as CEL into the CRD.
 * A seconds field, `CRON_TZ=` prefixes and Jenkins-style `H` jitter are rejected; the time zone has its own field.
 */

/** The macros accepted, with their five-field meaning (the cron library's own macros carry a seconds field). */
export const SCHEDULE_MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** RE2-compatible (CEL) and ECMAScript-compatible patterns. */
export const SCHEDULE_MACRO_PATTERN = "^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$";
export const SCHEDULE_FIVE_FIELDS_PATTERN = "^[^\\s]+(\\s+[^\\s]+){4}$";

export const SCHEDULE_CEL_RULE = `self.matches('${SCHEDULE_MACRO_PATTERN}') || self.matches('${SCHEDULE_FIVE_FIELDS_PATTERN.replaceAll("\\", "\\\\")}')`;
export const SCHEDULE_RULE_MESSAGE =
  "schedule must have five fields (minute hour day-of-month month day-of-week) or be one of @yearly, @annually, " +
  "@monthly, @weekly, @daily, @midnight, @hourly; a seconds field is not supported and the time zone goes in timeZone";

const FIELD_CHARS = /^[0-9A-Za-z*?,/#-]+$/;
const HASH_JITTER = /(^|,)H/;
const FIVE_FIELDS = new RegExp(SCHEDULE_FIVE_FIELDS_PATTERN);

/** The five fields of a schedule (macros expanded), or a message saying what is wrong with it. Same rule as the CRD. */
export function normalizeScheduleSyntax(
  schedule: string,
): { ok: true; fields: string } | { ok: false; message: string } {
  const macro = Object.hasOwn(SCHEDULE_MACROS, schedule) ? SCHEDULE_MACROS[schedule] : undefined;
  if (macro !== undefined) return { ok: true, fields: macro };
  if (schedule.startsWith("@")) return { ok: false, message: `unknown schedule macro ${JSON.stringify(schedule)}` };
  if (!FIVE_FIELDS.test(schedule)) {
    const count = schedule.split(/\s+/).filter((field) => field.length > 0).length;
    const what = count === 5 ? "has leading or trailing whitespace" : `has ${count} fields`;
    return { ok: false, message: `schedule ${JSON.stringify(schedule)} ${what}; ${SCHEDULE_RULE_MESSAGE}` };
  }
  const fields = schedule.split(/\s+/);
  for (const field of fields) {
    if (!FIELD_CHARS.test(field)) {
      return { ok: false, message: `schedule field ${JSON.stringify(field)} is not cron syntax` };
    }
    if (HASH_JITTER.test(field)) {
      return { ok: false, message: `schedule field ${JSON.stringify(field)}: H (hash jitter) is not supported` };
    }
  }
  return { ok: true, fields: fields.join(" ") };
}
