// Podman for the image tests (../shared/CONTAINERS.md): hapilot's own podman configuration and storage
// (made by scripts/setup-containers.sh), one private mount namespace per session (crun refuses the
// machine's hybrid cgroups, so the cgroup v2 `unified` mount is unmounted there, and only there), and
// the image built from docker/Dockerfile once per content hash of its inputs.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs scripts/setup-containers.sh (podman, crun, debootstrap, the local base image); returns its state dir. */
export async function setupContainers(): Promise<string> {
  const r = await execa('scripts/setup-containers.sh', { reject: false, stdin: 'ignore', timeout: 600_000 });
  if (r.exitCode !== 0) {
    const last = String(r.stderr).trim().split('\n').at(-1) ?? `exit code ${r.exitCode}`;
    throw new Error(last);
  }
  return String(r.stdout).trim().split('\n').at(-1)!;
}

/**
 * One podman session: every podman command runs in the same private mount namespace (containers
 * started with -d keep theirs, and podman stop/rm must see the same mounts). Sessions are serialised
 * by a lock in the state dir; `close()` ends the namespace holder.
 */
export class PodmanSession {
  readonly #holder: ChildProcessByStdio<Writable, Readable, null>;
  readonly #env: Record<string, string>;
  readonly state: string;

  private constructor(state: string, holder: ChildProcessByStdio<Writable, Readable, null>) {
    this.state = state;
    this.#holder = holder;
    this.#env = {
      CONTAINERS_CONF: path.join(state, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: path.join(state, 'storage.conf'),
      TMPDIR: path.join(state, 'tmp'),
      XDG_RUNTIME_DIR: path.join(state, 'tmp'),
    };
  }

  static async open(state: string): Promise<PodmanSession> {
    // unshare execs flock (same pid, in the new namespace), which holds the lock while sh waits for
    // stdin to close: when this process ends for any reason, the holder ends with it.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'flock', path.join(state, 'session.lock'),
      'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; echo ready; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('podman session: the namespace holder did not start within 120 s (another session holding the lock?)')), 120_000);
      holder.stdout.once('data', () => { clearTimeout(timer); resolve(); });
      holder.once('exit', (code) => { clearTimeout(timer); reject(new Error(`podman session: unshare exited with ${code}`)); });
    });
    const s = new PodmanSession(state, holder);
    // Containers left by a session that crashed (this storage is the tests' own).
    await s.podman(['rm', '--all', '--force', '--time', '0']);
    return s;
  }

  /** `podman ARGS` inside the session's mount namespace. Never rejects. */
  async podman(args: string[], o: { timeout?: number } = {}): Promise<Run> {
    const r = await execa('nsenter', ['-t', String(this.#holder.pid), '-m', '--', 'podman', ...args], {
      env: this.#env, extendEnv: true, reject: false, stdin: 'ignore', timeout: o.timeout ?? 120_000,
    });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  /** As `podman`, but throws with podman's stderr when it fails. */
  async must(args: string[], o: { timeout?: number } = {}): Promise<string> {
    const r = await this.podman(args, o);
    if (r.code !== 0) throw new Error(`podman ${args.slice(0, 3).join(' ')} … failed (${r.code}): ${r.stderr.trim().split('\n').slice(-12).join(' | ')}`);
    return r.stdout;
  }

  close(): void {
    this.#holder.stdin.end();
  }
}

/** Files and folders docker/Dockerfile copies (plus itself): the build context and the cache key. */
export const IMAGE_INPUTS = [
  'docker/Dockerfile', 'docker/healthcheck.mjs', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json',
  'src', 'templates', 'examples',
];

async function files(p: string): Promise<string[]> {
  const entries = await readdir(p, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return [p];
  const nested = await Promise.all(entries.map((e) => files(path.join(p, e.name))));
  return nested.flat();
}

/** sha256 over the inputs' paths and bytes, and the base image's id. */
export async function imageInputsHash(baseImageId: string): Promise<string> {
  const h = createHash('sha256').update(`base ${baseImageId}\n`);
  const all = (await Promise.all(IMAGE_INPUTS.map(files))).flat().sort();
  for (const f of all) h.update(`${f}\n`).update(await readFile(f)).update('\n');
  return h.digest('hex').slice(0, 16);
}

export const IMAGE_REPO = 'localhost/hapilot';

/**
 * The image built from docker/Dockerfile as it is now: reused when an image of the same inputs hash
 * exists, otherwise built (`podman build`, as ../shared/CONTAINERS.md describes) from a context holding
 * only the inputs. Older test images are untagged.
 */
export async function hapilotImage(s: PodmanSession): Promise<{ tag: string; built: boolean; ms: number }> {
  const started = performance.now();
  const baseId = (await s.must(['image', 'inspect', '--format', '{{.Id}}', 'localhost/node:20-bookworm-slim'])).trim();
  const tag = `${IMAGE_REPO}:test-${await imageInputsHash(baseId)}`;
  if ((await s.podman(['image', 'exists', tag])).code === 0) return { tag, built: false, ms: performance.now() - started };
  await mkdir(path.join(s.state, 'tmp'), { recursive: true });
  const ctx = await mkdtemp(path.join(s.state, 'tmp', 'context-'));
  try {
    for (const p of IMAGE_INPUTS) await cp(p, path.join(ctx, p), { recursive: true });
    await s.must(['build', '--pull=never', '--network', 'host', '--format', 'docker', '--quiet', '-f', path.join(ctx, 'docker/Dockerfile'), '-t', tag, ctx], { timeout: 600_000 });
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  const old = (await s.must(['images', '--format', '{{.Repository}}:{{.Tag}}', IMAGE_REPO])).split('\n').filter((t) => t.includes(':test-') && t !== tag);
  if (old.length) await s.podman(['rmi', ...old]);
  return { tag, built: true, ms: performance.now() - started };
}

// ---- host-side view of a container's processes ---------------------------------------------------

export async function childPids(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: number[] = [];
  for (const t of tasks) {
    const text = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    out.push(...text.trim().split(/\s+/).filter(Boolean).map(Number));
  }
  return out;
}

/** The process and all its descendants (host pids), each with its parent, real uid and command line. */
export async function processTree(pid: number): Promise<Array<{ pid: number; ppid: number; uid: number; cmdline: string }>> {
  const out: Array<{ pid: number; ppid: number; uid: number; cmdline: string }> = [];
  const walk = async (p: number) => {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const cmdline = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ');
    if (!status) return;
    out.push({ pid: p, ppid: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? NaN), uid, cmdline });
    for (const c of await childPids(p)) await walk(c);
  };
  await walk(pid);
  return out;
}

/** Host pid of a running container's first process (tini). */
export async function containerPid(s: PodmanSession, name: string): Promise<number> {
  return Number((await s.must(['inspect', '--format', '{{.State.Pid}}', name])).trim());
}
