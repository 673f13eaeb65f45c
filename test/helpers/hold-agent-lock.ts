/**
 * Takes a node agent's lock and waits to be killed. argv: key (decimal). Prints "held" or
 * "busy" (another live process holds it).
 */
import { AgentLock } from '../../src/replication/agent-lock.js';

const lock = new AgentLock(Number(process.argv[2]));
console.log(lock.held() ? 'held' : `busy ${lock.lastError ?? ''}`);
setInterval(() => {}, 1000);
