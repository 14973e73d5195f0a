// One date format for every page: "2026-12-05 14:03 UTC" (sortable, unambiguous across locales and
// time zones), with the full ISO 8601 timestamp in <time datetime> and its title. The pages' script
// (assets/frame.js, kms.formatDate) writes the same; a test holds the two together.

/** "YYYY-MM-DD HH:MM UTC" for an ISO 8601 string, a Date or epoch milliseconds; '' for nothing or an invalid date. */
export function formatDate(value: string | number | Date | null | undefined): string {
  if (value === null || value === undefined || value === '') return ''
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) return ''
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** A <time> element for HTML: the short form shown, the full timestamp in datetime and title. */
export function timeHtml(value: string | number | Date | null | undefined): string {
  const shown = formatDate(value)
  if (!shown) return ''
  const iso = (value instanceof Date ? value : new Date(value!)).toISOString()
  return `<time datetime="${iso}" title="${iso}">${shown}</time>`
}
