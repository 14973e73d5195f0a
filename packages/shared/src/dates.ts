// One date format (and one size format) for every page: "2026-12-05 14:03 UTC" (sortable, unambiguous across locales and
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

/** 950 B, 1.5 KiB, 3.2 MiB: the pages' one size format (binary units, one decimal), as the script's kms.formatBytes writes it. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}
