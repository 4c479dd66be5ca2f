// CSV files of what a panel shows (RFC 4180), saved by the browser: no request leaves the page.

function cell(value) {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

/** CSV text of a header row and rows (arrays). Pure. */
export function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** Saves `blob` as `filename` (a download, from memory). */
export function saveBlob(blob, filename) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

export function saveCsv(filename, header, rows) {
  saveBlob(new Blob([toCsv(header, rows)], { type: 'text/csv' }), filename);
}
