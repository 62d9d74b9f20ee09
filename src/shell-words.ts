/**
 * Shell words for the commands Shepherd suggests (in Slack messages and reports), written so that
 * pasting one runs exactly the command shown.
 * @module
 */

/**
 * Quotes a shell word only when it needs it, so the common case reads naturally. A word with a
 * control character or a backtick is written in `$'…'` quoting (bash, zsh, ksh, POSIX.1-2024 sh)
 * with those characters as `\xNN`: pasted, it is the same word, and the command holds no character
 * that could end the code span it is shown in or move the reader's cursor.
 */
export function shellArg(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-][A-Za-z0-9_@%+=:,./#-]*$/.test(s)) return s
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f`]/.test(s)) {
    const body = s.replace(/[\\']/g, (ch) => `\\${ch}`)
    // eslint-disable-next-line no-control-regex
    return `$'${body.replace(/[\x00-\x1f\x7f`]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`
  }
  return `'${s.replace(/'/g, `'\\''`)}'`
}
