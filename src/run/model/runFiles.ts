// Safe access to the files of a run folder. A run folder is untrusted data (a cloned repository
// can hold a crafted `.pacs/runs/`): every read and write here refuses symbolic links, and
// anything that is not a regular file, so a run cannot make the editor read or write a file
// outside its folder (docs/run-format.md, "A run folder is untrusted data").
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';

/** An error about a run directory that names the file and what to do. */
export class RunFileError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'RunFileError';
  }
}

// O_NOFOLLOW makes open fail on a link as the last path component; O_NONBLOCK keeps a FIFO planted
// under a run file's name from blocking the open. Both are 0 where the platform lacks them
// (Windows), and the lstat check below still refuses links there.
const NO_FOLLOW = (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
const READ = constants.O_RDONLY | NO_FOLLOW;
const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | NO_FOLLOW;
/** O_EXCL with O_CREAT never follows a link, and fails on any existing name. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NO_FOLLOW;

function unsafe(path: string, what: string): RunFileError {
  const expected = what === 'a folder' ? 'a regular file' : 'a regular file or folder';
  return new RunFileError(
    `${path} is ${what}, not ${expected}: PACS Lab does not follow links or open special files in a run folder ` +
      '(a run folder is untrusted data). Replace it with the file itself, or delete the run.',
    path,
  );
}

function describeStats(s: Stats): string {
  if (s.isSymbolicLink()) return 'a symbolic link';
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a named pipe';
  if (s.isSocket()) return 'a socket';
  return 'a device or special file';
}

/**
 * The path of `relativePath` inside `runDir`, refusing absolute paths and `..` (a path written in a
 * run file, such as a manifest entry, must stay inside the folder it names).
 */
export function pathInside(root: string, relativePath: unknown, label = 'the path'): string {
  if (typeof relativePath !== 'string' || !relativePath) {
    throw new RunFileError(`${label} is ${JSON.stringify(relativePath) ?? String(relativePath)}, not a file name inside ${root}.`, root);
  }
  const normal = normalize(relativePath);
  if (isAbsolute(relativePath) || /^[a-zA-Z]:/.test(relativePath) || normal.split(/[\\/]/).includes('..')) {
    throw new RunFileError(`${label} (${JSON.stringify(relativePath)}) points outside ${root}: a run file may only name files inside its folder.`, root);
  }
  return join(root, normal);
}

/**
 * The path of `relativePath` inside `root` once every folder on the way is checked to be a real
 * folder (not a link), so a run file in a subfolder (rollouts/, onnx/, checkpoints/) cannot lead
 * out of the run folder. The file itself is checked when it is opened.
 */
export async function runFilePath(root: string, relativePath: string, label?: string): Promise<string> {
  const path = pathInside(root, relativePath, label);
  await assertRealFolders(root, path);
  return path;
}

/** Whether `path` is a real folder: false when missing, RunFileError when a link or a file. */
export async function isRealFolder(path: string): Promise<boolean> {
  const s = await lstatIfAny(path);
  if (s && !s.isDirectory()) throw unsafe(path, describeStats(s));
  return s !== null;
}

/** The lstat of `path`, or null when nothing has that name. */
async function lstatIfAny(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function assertRealFolders(root: string, path: string): Promise<void> {
  const parts = dirname(path).slice(root.length).split(sep).filter(Boolean);
  let folder = root;
  for (const part of parts) {
    folder = join(folder, part);
    if (!(await isRealFolder(folder))) return;
  }
}

/**
 * The file's lstat, or null when it does not exist; throws RunFileError when it is a link or not
 * a regular file.
 */
export async function statRunFile(path: string): Promise<Stats | null> {
  const s = await lstatIfAny(path);
  if (s && !s.isFile()) throw unsafe(path, describeStats(s));
  return s;
}

async function openChecked(path: string, flags: number, forWriting: boolean): Promise<FileHandle> {
  await statRunFile(path);
  let handle: FileHandle;
  try {
    handle = await open(path, flags, 0o644);
  } catch (err) {
    // ELOOP: the name became a link between the lstat and the open (or O_NOFOLLOW caught it).
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw unsafe(path, 'a symbolic link');
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw unsafe(path, 'a named pipe');
    throw err;
  }
  const s = await handle.stat();
  // A hard link to a file elsewhere looks regular; a writer never needs more than one name.
  const problem = !s.isFile() ? describeStats(s) : forWriting && s.nlink > 1 ? 'a hard link to another file' : null;
  if (problem) {
    await handle.close();
    throw unsafe(path, problem);
  }
  return handle;
}

/** Opens a run file for reading without following links (RunFileError for a link or special file). */
export function openRunFile(path: string): Promise<FileHandle> {
  return openChecked(path, READ, false);
}

/** Reads a whole run file as UTF-8 without following links. */
export async function readRunFile(path: string): Promise<string> {
  const handle = await openRunFile(path);
  try {
    return await handle.readFile({ encoding: 'utf8' });
  } finally {
    await handle.close();
  }
}

/** Opens a run file for appending (created when missing) without following links. */
export function openRunFileForAppend(path: string): Promise<FileHandle> {
  return openChecked(path, APPEND, true);
}

/** Creates a new file that must not exist yet under any kind of name (a temp file, a log). */
export function createRunFile(path: string): Promise<FileHandle> {
  return openChecked(path, CREATE_NEW, true);
}
