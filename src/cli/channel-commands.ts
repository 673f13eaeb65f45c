import type { Command } from 'commander';
import { Channel, type ChannelStats } from '../channel/channel.js';
import { formatSize } from '../size.js';
import { choiceOption, sizeOption } from '../terminal/options.js';
import { table } from '../terminal/table.js';

interface CreateFlags {
  namespace: string;
  mode: 'pubsub' | 'stream';
  capacity?: number;
  maxMessage?: number;
  slowConsumer: 'block' | 'overwrite';
  permissions: string;
  ifAbsent?: boolean;
}

export function registerChannelCommands(program: Command): void {
  const channel = program.command('channel').description('create, remove and list channels on this host');

  channel
    .command('create')
    .description('create a channel segment on this host (standalone mode; in Kubernetes the node agent does this)')
    .argument('<name>', 'channel name (DNS label)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--mode <mode>', 'pubsub or stream', choiceOption('--mode', ['pubsub', 'stream'] as const), 'pubsub')
    .option(
      '--capacity <size>',
      'ring size, a power of two: bytes or a quantity, 8Mi = 8MiB = 8,388,608 bytes, 8M = 8,000,000 (default 8Mi)',
      sizeOption('--capacity'),
    )
    .option('--max-message <size>', 'largest message, bytes or a quantity (default 1Mi)', sizeOption('--max-message'))
    .option(
      '--slow-consumer <policy>',
      'block (publishers wait) or overwrite (lapped subscribers lose messages)',
      choiceOption('--slow-consumer', ['block', 'overwrite'] as const),
      'block',
    )
    .option('--permissions <octal>', 'segment permission bits', '0660')
    .option('--if-absent', 'succeed without changes when the channel already exists')
    .action((name: string, flags: CreateFlags) => {
      const perms = Number.parseInt(flags.permissions, 8);
      if (!/^0?[0-7]{3}$/.test(flags.permissions)) program.error(`shimmy: --permissions must be octal like 0660, got ${flags.permissions}`);
      const ref = { namespace: flags.namespace, name };
      const ch = flags.ifAbsent
        ? Channel.openOrCreate(ref, {
            mode: flags.mode,
            capacity: flags.capacity,
            maxMessage: flags.maxMessage,
            slowConsumer: flags.slowConsumer,
            permissions: perms,
          })
        : Channel.create(ref, {
            mode: flags.mode,
            capacity: flags.capacity,
            maxMessage: flags.maxMessage,
            slowConsumer: flags.slowConsumer,
            permissions: perms,
          });
      const s = ch.stats();
      ch.close();
      console.log(
        `channel ${s.namespace}/${s.name} ready: mode ${s.mode}, key ${s.key}, capacity ${formatSize(s.capacity)}, max message ${formatSize(s.maxMessage)}, slow consumer ${s.slowConsumer}`,
      );
    });

  channel
    .command('rm')
    .description('remove a channel; the segment goes away when the last process detaches')
    .argument('<name>', 'channel name')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action((name: string, flags: { namespace: string }) => {
      if (!Channel.remove({ namespace: flags.namespace, name })) program.error(`shimmy: no channel ${flags.namespace}/${name} on this host`, { exitCode: 1 });
      console.log(`channel ${flags.namespace}/${name} removed`);
    });

  channel
    .command('ls')
    .description('list the channels on this host with their attachments and traffic')
    .option('--json', 'print a JSON array')
    .action((flags: { json?: boolean }) => {
      const stats: ChannelStats[] = [];
      for (const ref of Channel.list()) {
        try {
          const ch = Channel.open(ref);
          stats.push(ch.stats());
          ch.close();
        } catch {
          // removed between listing and opening
        }
      }
      if (flags.json) {
        console.log(JSON.stringify(stats, null, 2));
        return;
      }
      const rows = [['NAMESPACE', 'NAME', 'MODE', 'KEY', 'SIZE', 'ATTACHED', 'PUBLISHERS', 'SUBSCRIBERS', 'MESSAGES', 'LAG']];
      for (const s of stats) {
        rows.push([
          s.namespace,
          s.name,
          s.mode,
          s.key,
          formatSize(s.sizeBytes),
          s.attached === null ? '-' : String(s.attached),
          String(s.mode === 'stream' ? s.streamEnds : s.publishers),
          String(s.mode === 'stream' ? s.streamEnds : s.subscribers),
          String(s.messages),
          String(s.lag),
        ]);
      }
      console.log(rows.length === 1 ? 'no channels on this host (create one with `shimmy channel create NAME`)' : table(rows));
    });
}
