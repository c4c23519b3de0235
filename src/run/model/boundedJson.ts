// Bounded JSON for run files: every run file is untrusted (docs/run-format.md, "A run folder is
// untrusted data"), so a reader caps how much it reads and how deeply a value may nest before it
// hands the text to JSON.parse (whose recursion a value nested 100,000 levels deep overflows).
// Pure and without Node APIs: the store, the CLI and the webviews can all use it.

/** The caps of every run-file reader (docs/run-format.md lists them). */
export const RUN_LIMITS = {
  /** Deepest nesting of arrays and objects in any run-file value (a config nests a few levels). */
  maxDepth: 64,
  /** Longest line of events.jsonl, control.jsonl or a rollouts file; a longer line is skipped and counted. */
  maxLineBytes: 8 * 1024 * 1024,
  /** Largest run.json. */
  maxInfoBytes: 4 * 1024 * 1024,
  /** Largest launcher.json, ONNX manifest or other small JSON file of a run. */
  maxSmallFileBytes: 1024 * 1024,
  /** Largest rollouts/step-NNNNNN.jsonl read at once. */
  maxRolloutFileBytes: 256 * 1024 * 1024,
  /** Largest exported tokenizer.json or tokenizer_config.json (real ones are a few MB to a few tens of MB). */
  maxTokenizerBytes: 128 * 1024 * 1024,
  /** Largest reverify/*.json, and sweep.json, trials.json or importance.json of a sweep. */
  maxResultFileBytes: 64 * 1024 * 1024,
  /** Largest control.jsonl read to find the next seq. */
  maxControlBytes: 16 * 1024 * 1024,
  /** Largest seq of a control.jsonl line (and of a control_ack): an integer from 1 to this. */
  maxSeq: 2 ** 31 - 1,
} as const;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether `text` nests arrays and objects deeper than `maxDepth` (brackets inside strings do not
 * count). One pass over the characters, no recursion, so any length is safe to ask about.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

/** JSON.parse of untrusted text, refusing values nested deeper than `maxDepth` with a message that says so. */
export function parseBoundedJson(text: string, maxDepth: number = RUN_LIMITS.maxDepth): unknown {
  if (nestsDeeperThan(text, maxDepth)) throw new SyntaxError(`nested deeper than ${maxDepth} levels of arrays and objects`);
  return JSON.parse(text);
}

/** Whether a parsed value (from YAML, say) nests deeper than `maxDepth`; iterative, so any depth is safe to ask about. */
export function valueNestsDeeperThan(value: unknown, maxDepth: number = RUN_LIMITS.maxDepth): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  const seen = new Set<object>();
  while (stack.length) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item !== 'object' || item === null || seen.has(item)) continue;
    if (depth + 1 > maxDepth) return true;
    seen.add(item);
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A whole number usable as a control seq: an integer from 1 to RUN_LIMITS.maxSeq. */
export function isValidSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= RUN_LIMITS.maxSeq;
}

/** Counts bytes as a human reads them (`8 MiB`). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
