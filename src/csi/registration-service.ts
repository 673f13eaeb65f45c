/**
 * The kubelet's plugin registration API (pluginregistration.v1): the kubelet's plugin watcher
 * finds the socket in `<kubelet root-dir>/plugins_registry/`, calls GetInfo to learn the
 * driver's name and its CSI socket, and reports the outcome with NotifyRegistrationStatus.
 * The endpoint is a path the kubelet dials on the node, so the agent must run with the CSI
 * socket at the same path on the host (a hostPath directory).
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CSI_DRIVER_NAME } from './identity-service.js';
import { unary } from './unary-handler.js';

/** The CSI versions the plugin speaks, as the kubelet expects them. */
export const SUPPORTED_CSI_VERSIONS = ['1.0.0'] as const;

/** The file name of the registration socket in the kubelet's plugins_registry directory. */
export const REGISTRATION_SOCKET_NAME = `${CSI_DRIVER_NAME}-reg.sock`;

export interface RegistrationStatus {
  registered: boolean;
  /** The kubelet's error; empty when registered. */
  error: string;
  at: Date;
}

export class RegistrationService {
  private last: RegistrationStatus | undefined;

  constructor(
    private readonly csiSocketPath: string,
    private readonly log: Logger,
  ) {}

  /** What the kubelet last said, or undefined before it has called. */
  status(): RegistrationStatus | undefined {
    return this.last;
  }

  handlers(): UntypedServiceImplementation {
    return {
      GetInfo: unary(() => ({ type: 'CSIPlugin', name: CSI_DRIVER_NAME, endpoint: this.csiSocketPath, supported_versions: [...SUPPORTED_CSI_VERSIONS] })),
      NotifyRegistrationStatus: unary((req: { plugin_registered?: boolean; error?: string }) => {
        this.last = { registered: req.plugin_registered === true, error: req.error ?? '', at: new Date() };
        if (this.last.registered) this.log.info({ driver: CSI_DRIVER_NAME }, 'the kubelet registered the CSI plugin');
        else this.log.error({ driver: CSI_DRIVER_NAME, error: this.last.error }, 'the kubelet did not register the CSI plugin');
        return {};
      }),
    };
  }
}
