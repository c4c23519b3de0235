// What the dashboard's exports write: a PNG from a webview canvas, checked, under a file name
// made safe from run-file text. No vscode here.

const PNG_DATA_URL = 'data:image/png;base64,';
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The bytes of a `data:image/png;base64,` URL from the webview, or null when it holds no PNG. */
export function pngBytes(dataUrl: string): Uint8Array | null {
  if (!dataUrl.startsWith(PNG_DATA_URL)) return null;
  const bytes = Buffer.from(dataUrl.slice(PNG_DATA_URL.length), 'base64');
  return PNG_MAGIC.every((b, i) => bytes[i] === b) ? new Uint8Array(bytes) : null;
}

/** A file name from run-file text: letters, digits, `.`, `_` and `-` only. */
export function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+/, '').slice(0, 80) || 'chart';
}
