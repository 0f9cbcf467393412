/** A Date from whatever the client hands over (typed lists give Dates, watch events RFC 3339 strings), or undefined. */
export function toDate(value: unknown): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = value instanceof Date ? value : typeof value === "string" ? new Date(value) : undefined;
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}
