import { aeron } from './aeron.js';
import type { ExternalPeer } from './external.js';
import { iceoryx2 } from './iceoryx2.js';

/** Registered by name; each module adds itself here. */
export const EXTERNAL_PEERS: Record<string, ExternalPeer> = {
  aeron,
  iceoryx2,
};
