/**
 * Escaping for the HTML timeline: text into markup, and data into an inline `<script>` block, so
 * that no task name, driver name or callback message can break out of where it is put.
 */

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for use in HTML content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Serializes `data` as JSON that is safe inside `<script type="application/json">`: `<`, `>`
 * and `&` become `\u003c`-style escapes (so `</script>` and `<!--` cannot appear), and so do the
 * line separators U+2028 and U+2029. `JSON.parse` reads the escapes back as the same characters.
 */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
