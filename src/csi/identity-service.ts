/** The CSI Identity service: who the plugin is, and whether it is ready (the channel root exists). */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CSI_DRIVER } from '../k8s/types.js';
import { packageRoot } from '../paths.js';
import { unary } from './unary-handler.js';

/** The CSI driver's name: the CSIDriver object's name and the `driver` of the pods' inline volumes. */
export const CSI_DRIVER_NAME = CSI_DRIVER;

let version: string | undefined;
/** The package's version, GetPluginInfo's vendor_version. */
export function pluginVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

export function identityHandlers(root: string): UntypedServiceImplementation {
  return {
    GetPluginInfo: unary(() => ({ name: CSI_DRIVER_NAME, vendor_version: pluginVersion(), manifest: {} })),
    // A node-only plugin: no CONTROLLER_SERVICE, no topology.
    GetPluginCapabilities: unary(() => ({ capabilities: [] })),
    Probe: unary(async () => ({
      ready: {
        value: await stat(root).then(
          (s) => s.isDirectory(),
          () => false,
        ),
      },
    })),
  };
}
