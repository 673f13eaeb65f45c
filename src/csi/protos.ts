/**
 * The vendored protos (src/csi/proto/, read from the package root so that the compiled
 * dist/ and the installed package use the same files; package.json `files` ships them)
 * loaded once with @grpc/proto-loader. csi.proto's google/protobuf imports resolve to
 * proto-loader's bundled well-known types, so no include directory is needed.
 */
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

export const PROTO_DIR = join(packageRoot, 'src', 'csi', 'proto');
export const CSI_PROTO = join(PROTO_DIR, 'csi.proto');
export const REGISTRATION_PROTO = join(PROTO_DIR, 'pluginregistration', 'v1', 'api.proto');

/** Field names as in the .proto (snake_case), enums as strings, oneofs named, defaults filled in. */
export const PROTO_LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export interface CsiProtos {
  identity: ServiceClientConstructor;
  node: ServiceClientConstructor;
  registration: ServiceClientConstructor;
}

let loaded: CsiProtos | undefined;

function service(root: GrpcObject, path: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`${path} is not a service in the vendored protos`);
  return node as ServiceClientConstructor;
}

/** Service constructors for the CSI Identity and Node services and the kubelet's Registration service (clients and definitions). */
export function csiProtos(): CsiProtos {
  if (!loaded) {
    const csi = loadPackageDefinition(loadSync(CSI_PROTO, PROTO_LOADER_OPTIONS));
    const registration = loadPackageDefinition(loadSync(REGISTRATION_PROTO, PROTO_LOADER_OPTIONS));
    loaded = {
      identity: service(csi, 'csi.v1.Identity'),
      node: service(csi, 'csi.v1.Node'),
      // The kubelet's package is `pluginregistration` (its comment says "This should have been v1").
      registration: service(registration, 'pluginregistration.Registration'),
    };
  }
  return loaded;
}
