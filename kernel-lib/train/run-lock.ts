/**
 * One writer per run: an exclusive lock file in the run's checkpoint folder, taken by createRun and released by
 * dispose(). It names its owner (host, pid) and carries a heartbeat time, so a lock left by a dead process is
 * recognised on a shared filesystem too: on the same host by its pid, elsewhere by a heartbeat older than
 * `staleAfterMs`. The grid runner shares results stores across machines through the same mechanism.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LockOwner {
  host: string;
  pid: number;
  /** Distinguishes two locks of one pid (a released and a retaken one). */
  token: string;
  startedAt: string;
  heartbeatAt: string;
}

export const LOCK_FILE = '.run.lock';
const HEARTBEAT_MS = 30_000;
const STALE_AFTER_MS = 5 * 60_000;

export class RunLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly owner: LockOwner,
  ) {
    const age = Math.round((Date.now() - Date.parse(owner.heartbeatAt)) / 1000);
    super(`run ${path.dirname(lockFile)} is in use by host ${owner.host}, pid ${owner.pid} (heartbeat ${age} s ago); wait for it, or stop that process`);
    this.name = 'RunLockedError';
  }
}

/** Whether a process of this host is alive (EPERM: alive, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
    return typeof owner.host === 'string' && Number.isInteger(owner.pid) ? owner : null;
  } catch {
    return null;
  }
}

/** A lock is stale when its owner is dead: same host and no such pid, or no heartbeat for `staleAfterMs`. */
export function isStale(owner: LockOwner | null, staleAfterMs = STALE_AFTER_MS): boolean {
  if (!owner) return true; // unreadable or half-written by a process that died before finishing it
  if (owner.host === os.hostname()) return !processAlive(owner.pid);
  return Date.now() - Date.parse(owner.heartbeatAt) > staleAfterMs;
}

export class RunLock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;

  private constructor(
    readonly file: string,
    readonly owner: LockOwner,
  ) {}

  /** Takes the lock of a run folder, or throws RunLockedError naming the live owner. */
  static acquire(dir: string, options: { staleAfterMs?: number; heartbeatMs?: number } = {}): RunLock {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, LOCK_FILE);
    const now = new Date().toISOString();
    const owner: LockOwner = { host: os.hostname(), pid: process.pid, token: crypto.randomUUID(), startedAt: now, heartbeatAt: now };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeSync(fd, JSON.stringify(owner));
        } finally {
          fs.closeSync(fd);
        }
        const lock = new RunLock(file, owner);
        lock.startHeartbeat(options.heartbeatMs ?? HEARTBEAT_MS);
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const current = readOwner(file);
      if (!isStale(current, options.staleAfterMs)) throw new RunLockedError(file, current!);
      // Move the stale lock aside (rename is atomic: of two processes judging it stale, one moves it). If what was
      // moved is not the lock judged stale (another process took over in between), put it back.
      const aside = `${file}.stale-${owner.host}-${owner.pid}-${Date.now()}`;
      try {
        fs.renameSync(file, aside);
        if (readOwner(aside)?.token !== current?.token) {
          try {
            fs.linkSync(aside, file);
          } catch {
            // Someone holds a newer lock already: the retry below reports it.
          }
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      for (const name of fs.readdirSync(dir)) if (name.startsWith(`${LOCK_FILE}.stale-`)) fs.rmSync(path.join(dir, name), { force: true });
    }
    const current = readOwner(file);
    if (current) throw new RunLockedError(file, current);
    throw new Error(`could not take the run lock ${file}: it keeps changing hands`);
  }

  /** Whether the lock file is still this lock (nobody judged it stale and took it over). */
  held(): boolean {
    const current = readOwner(this.file);
    return !this.released && current?.token === this.owner.token;
  }

  private startHeartbeat(ms: number): void {
    this.timer = setInterval(() => {
      if (!this.held()) return;
      const beat = { ...this.owner, heartbeatAt: new Date().toISOString() };
      const tmp = `${this.file}.beat-${this.owner.pid}`;
      try {
        fs.writeFileSync(tmp, JSON.stringify(beat));
        fs.renameSync(tmp, this.file);
      } catch {
        // A missed heartbeat only makes the lock look older; the next one retries.
      }
    }, ms);
    this.timer.unref();
  }

  release(): void {
    if (this.released) return;
    if (this.timer) clearInterval(this.timer);
    if (this.held()) fs.rmSync(this.file, { force: true });
    this.released = true;
  }
}
