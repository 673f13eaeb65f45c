/**
 * The dev cluster's node images, checked without Kubernetes: each archive is unpacked the
 * way a runtime would (manifest.json -> config + layer) into a root filesystem, and the
 * image's entrypoint runs there under chroot. System V shared memory works in a chroot;
 * the shared-memory round trip runs in its own IPC and mount namespaces (unshare) so it
 * leaves nothing on the host. Needs root (chroot) and builds `scripts/go-build.sh node`
 * when its binaries are missing (minutes on a cold Go cache); archives are cached in
 * .cache/images, shared with `shimmy dev-cluster up`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quietPeriod } from '../helpers/wait.js';
import { ensureGoTools } from '../../src/devcluster/go-tools.js';
import { buildPauseImage, buildShimmyImage, PAUSE_IMAGE, SHIMMY_IMAGE, type ImageArchive } from '../../src/devcluster/images.js';
import { packageRoot } from '../../src/paths.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const cacheDir = join(packageRoot, '.cache', 'images');

interface ImageConfig {
  os: string;
  architecture: string;
  config: { Entrypoint?: string[]; Env?: string[]; WorkingDir?: string; User?: string };
}

interface Unpacked {
  root: string;
  config: ImageConfig;
  repoTags: string[];
}

/** manifest.json -> config and layer, the layer extracted into `<dir>/root`. */
async function unpack(archive: string, dir: string): Promise<Unpacked> {
  const manifest = JSON.parse((await exec('tar', ['-xOf', archive, 'manifest.json'])).stdout) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  expect(manifest).toHaveLength(1);
  const [entry] = manifest;
  expect(entry!.Layers).toHaveLength(1);
  const config = JSON.parse((await exec('tar', ['-xOf', archive, entry!.Config], { maxBuffer: 1 << 20 })).stdout) as ImageConfig;
  const root = join(dir, 'root');
  await exec('mkdir', ['-p', root]);
  await exec('sh', ['-c', 'tar -xOf "$1" "$2" | tar -xz --numeric-owner -C "$3"', 'sh', archive, entry!.Layers[0]!, root]);
  return { root, config, repoTags: entry!.RepoTags };
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` in the image's root with the image's env only. `isolated`: in new IPC and
 * mount namespaces (segments vanish with them) with /proc and /dev mounted, as a runtime would.
 */
function inImage(image: Unpacked, argv: string[], opts: { user?: string; isolated?: boolean; timeoutMs?: number } = {}): Promise<Result> {
  const env = Object.fromEntries((image.config.config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const chroot = ['chroot', ...(opts.user ? [`--userspec=${opts.user}`] : []), image.root, ...argv];
  const mounts = 'mount -t proc proc "$0/proc" && mount --bind /dev "$0/dev" && exec "$@"';
  const [cmd, ...args] = opts.isolated ? ['unshare', '--ipc', '--mount', '--propagation', 'private', '/bin/sh', '-c', mounts, image.root, ...chroot] : chroot;
  return new Promise((resolve) => {
    const child = spawn(cmd!, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!isRoot || process.platform !== 'linux')('dev-cluster node images', () => {
  let dir: string;
  let nodeTools: string;
  let shimmy: ImageArchive;
  let pause: ImageArchive;
  let shimmyImage: Unpacked;
  let pauseImage: Unpacked;
  let buildSeconds: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shimmy-images-'));
    nodeTools = await ensureGoTools('node');
    const started = Date.now();
    pause = await buildPauseImage({ cacheDir, nodeTools });
    shimmy = await buildShimmyImage({ cacheDir, nodeTools });
    buildSeconds = (Date.now() - started) / 1000;
    shimmyImage = await unpack(shimmy.path, join(dir, 'shimmy'));
    pauseImage = await unpack(pause.path, join(dir, 'pause'));
  }, 900_000);

  afterAll(() => {
    // The isolated runs mount /proc and /dev in a private mount namespace; never delete
    // through a mount that escaped it.
    if (dir && !readFileSync('/proc/self/mountinfo', 'utf8').includes(dir)) rmSync(dir, { recursive: true, force: true });
  });

  it('names the platform, the tag and the entrypoint in each archive', () => {
    expect(shimmy.tag).toBe(SHIMMY_IMAGE);
    expect(shimmyImage.repoTags).toEqual([SHIMMY_IMAGE]);
    expect(shimmyImage.config).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect(shimmyImage.config.config.Entrypoint).toEqual(['/usr/local/bin/shimmy']);
    expect(shimmyImage.config.config.WorkingDir).toBe('/');
    expect(shimmyImage.config.config.Env).toContainEqual(expect.stringMatching(/^PATH=\/usr\/local\/bin:/));
    expect(pause.tag).toBe(PAUSE_IMAGE);
    expect(pauseImage.repoTags).toEqual([PAUSE_IMAGE]);
    expect(pauseImage.config).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect(pauseImage.config.config.Entrypoint).toEqual(['/pause']);
  });

  it('runs `shimmy --help` and `shimmy channel ls` through the entrypoint, as root and as uid 10001', async () => {
    const entrypoint = shimmyImage.config.config.Entrypoint!;
    const help = await inImage(shimmyImage, [...entrypoint, '--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: shimmy/);
    const ls = await inImage(shimmyImage, [...entrypoint, 'channel', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    const asUser = await inImage(shimmyImage, [...entrypoint, 'channel', 'ls'], { user: '10001:10001' });
    expect(asUser.code, asUser.stderr).toBe(0);
  });

  it('has a shell, env and the tools pods use in `sh -c`', async () => {
    const r = await inImage(shimmyImage, [
      '/bin/sh',
      '-c',
      'env node -e "console.log(process.version)" && echo hi | grep -c hi && id -u && ls -ld /tmp && sleep 0.01 && true',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [version, count, uid, tmp] = r.stdout.trim().split('\n');
    expect(version).toBe(process.version);
    expect(count).toBe('1');
    expect(uid).toBe('0');
    expect(tmp).toMatch(/^drwxrwxrwt/);
    expect(readFileSync(join(shimmyImage.root, 'etc/passwd'), 'utf8')).toMatch(/^shimmy:x:10001:10001:/m);
  });

  it('creates a channel and carries messages over shared memory inside the image', async () => {
    const script = [
      'set -e',
      'shimmy channel create frames -n test --capacity 64KiB --max-message 1KiB',
      'shimmy sub frames -n test --count 2 >/tmp/sub.out 2>/tmp/sub.err &',
      'i=0; while ! grep -q subscribed /tmp/sub.err; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done',
      'shimmy pub frames -n test hello world',
      'wait $!',
      'cat /tmp/sub.out',
      'shimmy channel ls',
    ].join('\n');
    const r = await inImage(shimmyImage, ['/bin/sh', '-c', script], { isolated: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hello\nworld\n/m);
    expect(r.stdout).toMatch(/test\s+frames\s+pubsub\s+0x[0-9a-f]{8}/);
  });

  it('runs the static pause binary, which exits 0 on SIGTERM', async () => {
    expect(statSync(join(pauseImage.root, 'pause')).mode & 0o777).toBe(0o755);
    expect(pauseImage.config.config.User).toBe('65535:65535');
    const child = spawn('chroot', [`--userspec=${pauseImage.config.config.User}`, pauseImage.root, ...pauseImage.config.config.Entrypoint!], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await quietPeriod(300);
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('reuses the cached archives', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const again = await buildShimmyImage({ cacheDir, nodeTools, progress: (l) => lines.push(l) });
    const pauseAgain = await buildPauseImage({ cacheDir, nodeTools, progress: (l) => lines.push(l) });
    expect(again.path).toBe(shimmy.path);
    expect(pauseAgain.path).toBe(pause.path);
    expect(lines.join('\n')).toMatch(/localhost\/shimmy:dev is cached/);
    expect((Date.now() - started) / 1000).toBeLessThan(Math.max(15, buildSeconds));
  }, 60_000);
});
