/**
 * The modes of what Shepherd creates on disk. The store holds job payloads, results and
 * checkpoints; the worker logs hold whatever workers print, tokens included. Both are the
 * supervisor user's alone, whatever the umask: the usual 022 would make them world-readable.
 *
 * A mode is given only where a file or folder is created (`open(…, O_CREAT, mode)`,
 * `mkdir(…, mode)`), so a folder the user already had, or a file an operator chose to open up,
 * keeps the mode it has: Shepherd never chmods what it did not create.
 * @module
 */

/** Files: the store, its -wal, -shm and lock files, worker logs and their rotations. */
export const PRIVATE_FILE_MODE = 0o600

/** Folders Shepherd creates on the way to a store or a log directory. */
export const PRIVATE_DIR_MODE = 0o700
