/**
 * The node agent's stream taker on ring 0, killed with SIGKILL in the middle of a take: at
 * STEP `seal` (while the frame is made: nothing noted yet) or `commit` (as its spool commit
 * would run: noted, the cursor not moved). argv: namespace name durableId step
 */
import { Channel } from '../../src/channel/channel.js';

const [namespace, name, durableId, step] = process.argv.slice(2);
const ch = Channel.open({ namespace: namespace!, name: name! });
const taker = ch.streamTaker(0, Number(durableId), true);
const die = () => process.kill(process.pid, 'SIGKILL');
taker.takeFrame(100, 0x5eed, {
  add: () => true,
  seal: () => {
    if (step === 'seal') die();
    return { seq: 0x1_0000_0007n, commit: die };
  },
});
