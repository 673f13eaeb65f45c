/**
 * The images real dev-cluster nodes run, built offline from the checkout as docker-archive
 * files that `ctr -n k8s.io images import` loads (no registry, no container engine):
 *
 * - localhost/pause:shimmy — the pod sandbox: test/node/pause/pause.c built with
 *   `gcc -static`, alone in its layer.
 * - localhost/shimmy:dev — the package as users install it (`npm pack` of the checkout,
 *   then `npm install --omit=dev` of that tarball under /opt/shimmy), Node.js at
 *   /usr/local/bin/node with the shared libraries it, koffi and libshimmy.so load (copied
 *   from this host, at the paths `ldd` names), Debian's busybox-static for a shell, and
 *   /usr/local/bin/shimmy as the entrypoint, so a pod's `args: ["sub", "frames"]` runs
 *   `shimmy sub frames`. The Dockerfile at the repository root builds the same layout.
 * - registry.k8s.io/kube-scheduler:<Kubernetes version> — the Helm chart's second scheduler
 *   (shimmy-scheduler) under the tag the chart uses by default, so that nodes with this
 *   archive loaded never pull it: shimmy-kube (test/kube, built by scripts/go-build.sh kube)
 *   copied to /usr/local/bin/kube-scheduler, where it runs as the scheduler by its name.
 *
 * Each archive is cached in `cacheDir` under a hash of its inputs; the layer is a GNU tar
 * with sorted names, owner 0 and a fixed mtime, made into an image by `oci-image`
 * (test/node/oci-image, built by scripts/go-build.sh node).
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, ShimmyError } from '../errors.js';
import { runAsync } from './system.js';
import { packageRoot } from '../paths.js';

export interface ImageArchive {
  tag: string;
  path: string;
}

export interface ImageBuildOptions {
  /** Where archives are cached, e.g. `<repo>/.cache/images`. */
  cacheDir: string;
  /** The directory `scripts/go-build.sh node` prints (holds `oci-image`). */
  nodeTools: string;
  progress?: (line: string) => void;
}

export const SHIMMY_IMAGE = 'localhost/shimmy:dev';
export const PAUSE_IMAGE = 'localhost/pause:shimmy';
/** The repository of the upstream kube-scheduler image, which the chart's second scheduler runs. */
export const SCHEDULER_REPOSITORY = 'registry.k8s.io/kube-scheduler';
/** Where the scheduler image has its binary (on PATH: the chart runs `kube-scheduler ...`). */
export const SCHEDULER_BINARY = '/usr/local/bin/kube-scheduler';

/** `registry.k8s.io/kube-scheduler:<version>`, e.g. for kubeVersion() from go-tools.ts. */
export function schedulerImageTag(version: string): string {
  return `${SCHEDULER_REPOSITORY}:${version}`;
}

/** Where the shimmy image has things; the Dockerfile uses the same paths. */
export const IMAGE_PATHS = {
  prefix: '/opt/shimmy',
  package: '/opt/shimmy/node_modules/shimmy',
  shimmy: '/usr/local/bin/shimmy',
  node: '/usr/local/bin/node',
} as const;

/** Bump when what goes into an image changes in a way its inputs' hash does not show. */
const RECIPE = 'shimmy-images/1';
const PATH_ENV = 'PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin';
const BUSYBOX = '/bin/busybox';
const BUSYBOX_APPLETS = ['sh', 'env', 'sleep', 'cat', 'ls', 'ps', 'echo', 'grep', 'wc', 'head', 'tail', 'true', 'false', 'id', 'kill'];
const PAUSE_SOURCE = join(packageRoot, 'test', 'node', 'pause', 'pause.c');
/** UCX's transport modules (InfiniBand and RoCE verbs, RDMA CM, CMA), loaded at run time from here; TCP is in libuct itself. */
const UCX_MODULE_DIR = '/usr/lib/x86_64-linux-gnu/ucx';

/** The modules UCX loads by their soname (`libuct_ib.so.0`), where UCX is installed. */
function ucxModules(): string[] {
  return existsSync(UCX_MODULE_DIR)
    ? readdirSync(UCX_MODULE_DIR)
        .filter((f) => /^lib\w+\.so\.\d+$/.test(f))
        .map((f) => join(UCX_MODULE_DIR, f))
    : [];
}
/** Files in the layers get this mtime (2000-01-01), so equal inputs give equal layers. */
const LAYER_MTIME = '@946684800';

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function sizeOf(path: string): string {
  return `${(statSync(path).size / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * The shared libraries the dynamic loader maps for `file` (and the loader itself), as the
 * absolute paths `ldd` prints; [] for a static executable. Unresolvable ones ("not found",
 * e.g. koffi's musl build) are skipped: such a file is never loaded on glibc.
 */
async function sharedLibraries(file: string): Promise<string[]> {
  let out: string;
  try {
    out = (await runAsync('ldd', [file])).stdout;
  } catch (err) {
    if (err instanceof ShimmyError && /not a dynamic executable|statically linked/.test(err.message)) return [];
    throw err;
  }
  if (/statically linked/.test(out)) return [];
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** Native addons (.node) under `dir`, except musl builds (koffi ships both). */
function nativeAddons(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!e.name.startsWith('musl')) walk(p);
      } else if (e.isFile() && e.name.endsWith('.node')) found.push(p);
    }
  };
  walk(dir);
  return found.sort();
}

/** What an archive is built from: a label (a file's path, or a name) -> a digest or value. */
type Inputs = Record<string, string>;

function fileDigest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}

function inputsKey(inputs: Inputs): string {
  const sorted = Object.keys(inputs)
    .sort()
    .map((k) => [k, inputs[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

/** The inputs that differ from the newest earlier build's, to say why an image is rebuilt. */
function changedSince(cacheDir: string, name: string, inputs: Inputs): string | undefined {
  const earlier = readdirSync(cacheDir)
    .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.inputs.json'))
    .map((f) => join(cacheDir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!earlier) return undefined;
  let before: Inputs;
  try {
    before = JSON.parse(readFileSync(earlier, 'utf8')) as Inputs;
  } catch {
    return undefined;
  }
  const keys = new Set([...Object.keys(before), ...Object.keys(inputs)]);
  return [...keys]
    .filter((k) => before[k] !== inputs[k])
    .sort()
    .join(', ');
}

/** Drops older archives (and their inputs files) of the same image, keeping `keep`. */
function pruneOld(cacheDir: string, name: string, key: string): void {
  for (const f of readdirSync(cacheDir)) {
    if (f.startsWith(`${name}-`) && !f.startsWith(`${name}-${key}.`) && (f.endsWith('.tar') || f.endsWith('.inputs.json')))
      rmSync(join(cacheDir, f), { force: true });
  }
}

function ociImageTool(nodeTools: string): string {
  const tool = join(nodeTools, 'oci-image');
  if (!existsSync(tool))
    throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${tool} does not exist`, 'Build it with `bash scripts/go-build.sh node` and pass the directory it prints');
  return tool;
}

/** GNU tar of everything under `root`: sorted names, owner 0, fixed mtime. */
async function makeLayer(root: string, out: string): Promise<void> {
  const top = readdirSync(root).sort();
  await runAsync('tar', [
    '--create',
    '--file',
    out,
    '--directory',
    root,
    '--format=gnu',
    '--sort=name',
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    `--mtime=${LAYER_MTIME}`,
    '--',
    ...top,
  ]);
}

/** The image's config: its entrypoint, environment and user (uid[:gid]); the workdir is /. */
interface ImageConfig {
  entrypoint: string[];
  env?: string[];
  user?: string;
}

async function writeImage(tool: string, layer: string, tag: string, out: string, config: ImageConfig): Promise<void> {
  const args = ['--layer', layer, '--tag', tag, '--out', out, '--workdir', '/'];
  for (const word of config.entrypoint) args.push('--entrypoint', word);
  for (const e of config.env ?? []) args.push('--env', e);
  if (config.user) args.push('--user', config.user);
  await runAsync(tool, args);
}

/**
 * `<cacheDir>/<name>-<hash of inputs>.tar`, built when missing in a scratch directory next
 * to the cache and moved in place (so a half-written archive is never used).
 */
async function buildCached(
  cacheDir: string,
  name: string,
  tag: string,
  inputs: Inputs,
  progress: (line: string) => void,
  build: (work: string, out: string) => Promise<void>,
): Promise<ImageArchive> {
  const key = inputsKey(inputs);
  const path = join(cacheDir, `${name}-${key}.tar`);
  if (existsSync(path)) {
    progress(`images: ${tag} is cached (${basename(path)}, ${sizeOf(path)})`);
    return { tag, path };
  }
  const changed = changedSince(cacheDir, name, inputs);
  progress(`images: building ${tag}${changed ? ` (changed since the last build: ${changed})` : ''}`);
  const work = mkdtempSync(join(cacheDir, `.${name}-build-`));
  try {
    const out = join(work, 'image.tar');
    await build(work, out);
    writeFileSync(join(cacheDir, `${name}-${key}.inputs.json`), `${JSON.stringify(inputs, null, 2)}\n`);
    renameSync(out, path);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  pruneOld(cacheDir, name, key);
  return { tag, path };
}

/**
 * A cached one-layer image whose files `fill` writes under an empty root; `inputs` are what
 * those files are made from (the recipe, the tag and oci-image are added here).
 */
async function buildOneLayerImage(
  opts: ImageBuildOptions,
  name: string,
  tag: string,
  inputs: Inputs,
  config: ImageConfig,
  fill: (root: string) => Promise<void> | void,
): Promise<ImageArchive> {
  const progress = opts.progress ?? (() => undefined);
  const started = Date.now();
  const tool = ociImageTool(opts.nodeTools);
  mkdirSync(opts.cacheDir, { recursive: true });
  const all: Inputs = { ...inputs, recipe: RECIPE, tag, 'oci-image': fileDigest(tool) };
  return buildCached(opts.cacheDir, name, tag, all, progress, async (work, out) => {
    const root = join(work, 'root');
    mkdirSync(root, { recursive: true });
    await fill(root);
    const layer = join(work, 'layer.tar');
    await makeLayer(root, layer);
    await writeImage(tool, layer, tag, out, config);
    progress(`images: built ${tag} in ${seconds(started)} (${sizeOf(out)})`);
  });
}

/** localhost/pause:shimmy: a static pause binary at /pause, run as 65535 like the upstream image. */
export async function buildPauseImage(opts: ImageBuildOptions): Promise<ImageArchive> {
  const gccVersion = (await runAsync('gcc', ['--version'])).stdout.split('\n')[0] ?? '';
  const inputs: Inputs = { gcc: gccVersion, [PAUSE_SOURCE]: fileDigest(PAUSE_SOURCE) };
  return buildOneLayerImage(opts, 'pause', PAUSE_IMAGE, inputs, { entrypoint: ['/pause'], user: '65535:65535' }, async (root) => {
    await runAsync('gcc', ['-static', '-O2', '-s', '-Wall', '-Wextra', '-o', join(root, 'pause'), PAUSE_SOURCE]);
    chmodSync(join(root, 'pause'), 0o755);
  });
}

/**
 * registry.k8s.io/kube-scheduler:<kubeVersion>: `kubeBinary` (shimmy-kube, from
 * ensureKubeBinary(), which runs as kube-scheduler under that name) copied to
 * /usr/local/bin/kube-scheduler, the entrypoint, with /usr/local/bin on PATH and a /tmp.
 * No user: the pod sets it (the chart runs it as 65532). Cached under the binary's path,
 * size and mtime (its go-build.sh directory already names a hash of its sources) and the
 * version; the binary is not hashed (150 MB).
 */
export async function buildSchedulerImage(opts: ImageBuildOptions, kubeBinary: string, kubeVersion: string): Promise<ImageArchive> {
  const tag = schedulerImageTag(kubeVersion);
  const st = statSync(kubeBinary);
  const inputs: Inputs = { [kubeBinary]: `${st.size} bytes, mtime ${st.mtime.toISOString()}`, 'kube version': kubeVersion };
  return buildOneLayerImage(opts, 'kube-scheduler', tag, inputs, { entrypoint: [SCHEDULER_BINARY], env: [PATH_ENV] }, (root) => {
    const to = join(root, SCHEDULER_BINARY);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(kubeBinary, to);
    chmodSync(to, 0o755);
    mkdirSync(join(root, 'tmp'));
    chmodSync(join(root, 'tmp'), 0o1777);
  });
}

/** /bin/busybox, installed from Debian's busybox-static when missing. */
async function ensureBusybox(progress: (line: string) => void): Promise<void> {
  if (existsSync(BUSYBOX)) return;
  progress("images: installing busybox-static from Debian (the shimmy image's shell)");
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const apt = async (...args: string[]) => {
    const [cmd, ...rest] = [...sudo, 'apt-get', ...args];
    await runAsync(cmd!, rest, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  await apt('update', '-qq');
  await apt('install', '-y', '-qq', 'busybox-static');
}

/** `npm pack` of the package at packageRoot (built first) into `dir`; returns the tarball. */
async function packPackage(dir: string): Promise<string> {
  await runAsync(process.execPath, [join(packageRoot, 'scripts', 'build.mjs'), '--quiet'], { cwd: packageRoot });
  const lib = join(packageRoot, 'native', 'build', 'libshimmy.so');
  if (!existsSync(lib)) throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${lib} was not built`, 'Run `npm run build` (needs gcc)');
  const { stdout } = await runAsync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: packageRoot });
  const json = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string }[];
  const file = json[0]?.filename;
  if (!file)
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      `npm pack printed no tarball name: ${stdout.trim().slice(0, 200)}`,
      'Run npm pack by hand to see its whole output',
    );
  return join(dir, basename(file));
}

/** Copies `from` (following links) to the same absolute path under `root`. */
function copyInto(root: string, from: string, mode?: number): void {
  const to = join(root, from);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode ?? statSync(from).mode & 0o7777);
}

function writeEtc(root: string): void {
  const etc = join(root, 'etc');
  mkdirSync(etc, { recursive: true });
  writeFileSync(
    join(etc, 'passwd'),
    ['root:x:0:0:root:/root:/bin/sh', 'shimmy:x:10001:10001:shimmy:/tmp:/bin/sh', 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', ''].join('\n'),
  );
  writeFileSync(join(etc, 'group'), ['root:x:0:', 'shimmy:x:10001:', 'nogroup:x:65534:', ''].join('\n'));
  writeFileSync(join(etc, 'nsswitch.conf'), ['passwd: files', 'group: files', 'hosts: files dns', ''].join('\n'));
  for (const f of ['passwd', 'group', 'nsswitch.conf']) chmodSync(join(etc, f), 0o644);
}

/**
 * localhost/shimmy:dev, cached under a hash of the packed package, the node binary, busybox,
 * the libraries that will be copied and oci-image. The package's npm dependencies come
 * from the registry (through npm's cache) when the archive is built, and are not part of
 * the hash.
 */
export async function buildShimmyImage(opts: ImageBuildOptions): Promise<ImageArchive> {
  const progress = opts.progress ?? (() => undefined);
  const started = Date.now();
  const tool = ociImageTool(opts.nodeTools);
  mkdirSync(opts.cacheDir, { recursive: true });
  await ensureBusybox(progress);

  const packDir = mkdtempSync(join(opts.cacheDir, '.pack-'));
  try {
    const tarball = await packPackage(packDir);
    const node = process.execPath;
    const hostLib = join(packageRoot, 'native', 'build', 'libshimmy.so');
    const hostUcxLib = join(packageRoot, 'native', 'build', 'libshimmy_ucx.so');
    const addons = [...nativeAddons(join(packageRoot, 'node_modules', 'koffi')), ...nativeAddons(join(packageRoot, 'node_modules', '@koromix'))];
    const libs = new Set<string>(ucxModules());
    for (const f of [node, hostLib, hostUcxLib, BUSYBOX, ...addons, ...ucxModules()]) for (const l of await sharedLibraries(f)) libs.add(l);
    const inputs: Inputs = {
      recipe: RECIPE,
      tag: SHIMMY_IMAGE,
      'package tarball': fileDigest(tarball),
      [`node ${node}`]: fileDigest(node),
      [BUSYBOX]: fileDigest(BUSYBOX),
      'oci-image': fileDigest(tool),
    };
    for (const l of libs) inputs[l] = fileDigest(l);
    progress(`images: packed ${basename(tarball)} and hashed the image's inputs in ${seconds(started)}`);

    return await buildCached(opts.cacheDir, 'shimmy', SHIMMY_IMAGE, inputs, progress, async (work, out) => {
      const root = join(work, 'root');
      const prefix = join(root, IMAGE_PATHS.prefix);
      mkdirSync(prefix, { recursive: true });
      copyFileSync(tarball, join(prefix, basename(tarball)));
      // Without a package.json here npm would walk up to the checkout's and install into it.
      writeFileSync(join(prefix, 'package.json'), `${JSON.stringify({ name: 'shimmy-image', private: true }, null, 2)}\n`);

      let t = Date.now();
      progress(`images: npm install --omit=dev ${basename(tarball)} into ${IMAGE_PATHS.prefix}`);
      await runAsync(
        'npm',
        ['install', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--no-update-notifier', '--loglevel=error', `./${basename(tarball)}`],
        { cwd: prefix },
      );
      progress(`images: npm install took ${seconds(t)}`);
      const pkg = join(root, IMAGE_PATHS.package);
      const lib = join(pkg, 'native', 'build', 'libshimmy.so');
      if (!existsSync(lib))
        throw new ShimmyError(ErrorCode.DEV_CLUSTER, `the installed package has no native/build/libshimmy.so`, 'Check the `files` list in package.json');

      t = Date.now();
      mkdirSync(join(root, dirname(IMAGE_PATHS.node)), { recursive: true });
      copyFileSync(node, join(root, IMAGE_PATHS.node));
      chmodSync(join(root, IMAGE_PATHS.node), 0o755);
      const ucxLib = join(pkg, 'native', 'build', 'libshimmy_ucx.so');
      if (!existsSync(ucxLib))
        throw new ShimmyError(
          ErrorCode.DEV_CLUSTER,
          'the installed package has no native/build/libshimmy_ucx.so (replication)',
          'Install UCX: `bash scripts/ucx-deps.sh`',
        );
      const copied = new Set<string>(ucxModules());
      for (const f of [node, lib, ucxLib, BUSYBOX, ...nativeAddons(join(prefix, 'node_modules')), ...ucxModules()])
        for (const l of await sharedLibraries(f)) copied.add(l);
      for (const l of [...copied].sort()) copyInto(root, l);
      copyInto(root, BUSYBOX, 0o755);
      for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
      mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
      symlinkSync(BUSYBOX, join(root, 'usr', 'bin', 'env'));
      symlinkSync(`${IMAGE_PATHS.package}/bin/shimmy.js`, join(root, IMAGE_PATHS.shimmy));
      writeEtc(root);
      for (const d of ['tmp', 'root', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
      chmodSync(join(root, 'tmp'), 0o1777);
      chmodSync(join(root, 'root'), 0o700);

      const layer = join(work, 'layer.tar');
      await makeLayer(root, layer);
      progress(`images: ${copied.size} libraries copied, layer written (${sizeOf(layer)}) in ${seconds(t)}`);
      t = Date.now();
      await writeImage(tool, layer, SHIMMY_IMAGE, out, { entrypoint: [IMAGE_PATHS.shimmy], env: [PATH_ENV] });
      progress(`images: built ${SHIMMY_IMAGE} in ${seconds(started)} (oci-image ${seconds(t)}, ${sizeOf(out)})`);
    });
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
}
