/**
 * Text from outside (job ids, signal reasons, error messages, worker log lines) reaches the
 * operator's terminal through the CLI. A terminal obeys control characters, so a job id such as
 * `\e]0;…\a` would retitle the window and `\e[2J` would clear it. Everything the CLI prints passes
 * through {@link printable}, which shows control characters as escapes instead.
 * @module
 */

/**
 * C0 controls but tab and newline, DEL, C1 controls (U+009B is a one-byte CSI on some terminals),
 * and the Unicode bidirectional overrides and isolates that reorder what a line appears to say.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Select Graphic Rendition (colour and weight, nothing that moves, clears or titles), or a control character. */

const SGR_OR_UNPRINTABLE = new RegExp(`(\u001b\\[[0-9;]{0,32}m)|${UNPRINTABLE.source}`, 'g')

/**
 * C0 as `\\xHH`, the rest as `\\uHHHH`: `--json` output stays valid JSON, since JSON.stringify has
 * already escaped every C0 character and `\\uHHHH` is a JSON escape.
 */
function escape(ch: string): string {
  const code = ch.charCodeAt(0)
  return code < 0x20 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/**
 * The text with every control character shown as an escape (`\x1b`, `\u009b`). With `colour`, colour
 * sequences (SGR) are kept, as `less -R` keeps them: the CLI's own styles and a worker's coloured
 * log lines still show in colour, and they can change nothing but colour.
 */
export function printable(text: string, opts: { colour?: boolean } = {}): string {
  if (!opts.colour) return text.replace(UNPRINTABLE, escape)
  return text.replace(SGR_OR_UNPRINTABLE, (m: string, sgr: string | undefined) => sgr ?? escape(m))
}
