/** The CSI node plugin that mounts channels into pods as inline ephemeral volumes; the node agent starts it. */
export { startCsiPlugin, type CsiPlugin, type CsiPluginOptions } from './plugin.js';
export { CSI_DRIVER_NAME } from './identity-service.js';
export type { AuthorizeChannelMount, VolumeOperationObserver } from './node-service.js';
export type { ChannelMountRequest } from './volume-request.js';
export { VolumeContextKey } from './volume-request.js';
export type { RegistrationStatus } from './registration-service.js';
export { REGISTRATION_SOCKET_NAME, SUPPORTED_CSI_VERSIONS } from './registration-service.js';
export { CsiRefusal } from './csi-error.js';
export { publishedKey } from './published-volumes.js';
