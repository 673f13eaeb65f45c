import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { CRDS } from '../k8s/crd.js';
import { packageRoot } from '../paths.js';

export const CRD_DIR = join(packageRoot, 'charts', 'shimmy', 'crds');

export function crdFiles(): Map<string, string> {
  const header = '# Generated from src/k8s/crd.ts by `shimmy manifests`; do not edit.\n';
  return new Map(
    CRDS.map((make) => {
      const crd = make();
      return [join(CRD_DIR, `${crd.metadata.name}.yaml`), header + stringify(crd, { lineWidth: 0 })];
    }),
  );
}

export function registerManifestsCommand(program: Command): void {
  program
    .command('manifests')
    .description('write the CustomResourceDefinitions (from src/k8s/crd.ts) to charts/shimmy/crds/, or print them')
    .option('--stdout', 'print instead of writing')
    .option('--check', 'exit 1 if the committed files differ from the source')
    .action((flags: { stdout?: boolean; check?: boolean }) => {
      const files = crdFiles();
      if (flags.stdout) {
        console.log([...files.values()].join('---\n'));
        return;
      }
      if (flags.check) {
        const stale = [...files].filter(([file, text]) => {
          try {
            return readFileSync(file, 'utf8') !== text;
          } catch {
            return true;
          }
        });
        if (stale.length) {
          console.error(`shimmy: ${stale.map(([f]) => f).join(', ')} out of date; run shimmy manifests`);
          process.exitCode = 1;
        }
        return;
      }
      mkdirSync(CRD_DIR, { recursive: true });
      for (const [file, text] of files) {
        writeFileSync(file, text);
        console.log(`wrote ${file}`);
      }
    });
}
