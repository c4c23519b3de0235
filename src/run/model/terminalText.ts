// Text from a run folder printed to a terminal: a folder name, a run id or a commit can hold ANSI
// or OSC escape sequences (colours, a new window title, a hyperlink, a cleared screen). Control
// characters are written as visible escapes instead (docs/run-format.md, "A run folder is untrusted data").

// C0 and C1 controls, DEL, and the line separators and bidirectional overrides that reorder what a terminal shows.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `value` with every control character written as `\uNNNN`, so printing it changes nothing on the terminal. */
export function terminalText(value: unknown): string {
  return String(value).replace(CONTROL, visible);
}

/** As terminalText, but keeping newlines and tabs: for whole messages of several lines (a log's tail). */
export function terminalLines(value: unknown): string {
  return String(value).replace(CONTROL, (c) => (c === '\n' || c === '\t' ? c : visible(c)));
}

/** `\u001b`: readable, and a valid escape inside a JSON string too (so JSON output stays JSON). */
function visible(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
