package dev.shimmy.bench.aeron;

import io.aeron.Aeron;
import io.aeron.CommonContext;
import io.aeron.ExclusivePublication;
import io.aeron.FragmentAssembler;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import org.agrona.BitUtil;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Aeron's side of {@code shimmy bench} (driven by bench/external/aeron.ts): one publisher process
 * and one subscriber process over {@code aeron:ipc}, with the loops of Aeron's own samples
 * (EmbeddedThroughput, EmbeddedBufferClaimIpcThroughput, Ping, Pong).
 *
 * <pre>
 *   throughput-sub DIR SIZE COUNT WARMUP            embedded media driver + subscriber
 *   throughput-pub DIR SIZE COUNT WARMUP BUDGET_MS  connects to DIR's driver, publishes
 *   pong DIR                                        embedded media driver + echo
 *   ping DIR SIZE SAMPLES BUDGET_MS                 connects to DIR's driver, round trips
 * </pre>
 *
 * Each prints JSON lines {@code {"event": ...}} on stdout and reads commands on stdin, one a line:
 * {@code go} (publisher: start the timed run), {@code expect N} (subscriber: the publisher sent
 * N timed messages), {@code stop} (finish now); end of stdin also means stop, then exit.
 * <p>
 * Every receiver sums every payload byte (as 64-bit little-endian words, then the tail bytes);
 * each message carries its sequence number in its first bytes, so the senders know the sum of
 * what they sent without reading it back, and both sides report it.
 */
public final class AeronBench
{
    private static final String CHANNEL = CommonContext.IPC_CHANNEL;
    private static final int DATA_STREAM_ID = 1001;
    private static final int PING_STREAM_ID = 1002;
    private static final int PONG_STREAM_ID = 1003;
    /** SampleConfiguration's default (aeron.sample.frameCountLimit). */
    private static final int FRAGMENT_LIMIT = 10;
    /** As Aeron's IPC throughput scripts set (aeron.ipc.mtu.length=8k). */
    private static final int IPC_MTU = 8 * 1024;
    private static final long CONNECT_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(30);
    private static final long LINGER_NS = TimeUnit.SECONDS.toNanos(30);

    private AeronBench()
    {
    }

    public static void main(final String[] args)
    {
        try
        {
            final String mode = args.length > 0 ? args[0] : "";
            switch (mode)
            {
                case "throughput-sub" -> throughputSub(args[1], intArg(args[2]), longArg(args[3]), longArg(args[4]));
                case "throughput-pub" ->
                    throughputPub(args[1], intArg(args[2]), longArg(args[3]), longArg(args[4]), longArg(args[5]));
                case "pong" -> pong(args[1]);
                case "ping" -> ping(args[1], intArg(args[2]), intArg(args[3]), longArg(args[4]));
                default -> throw new IllegalArgumentException(
                    "usage: AeronBench throughput-sub|throughput-pub|pong|ping DIR ... (got '" + mode + "')");
            }
        }
        catch (final Throwable t)
        {
            t.printStackTrace();
            emit("{\"event\":\"error\",\"message\":" + quote(String.valueOf(t)) + "}");
            System.exit(1);
        }
        System.exit(0);
    }

    private static void throughputSub(final String dir, final int size, final long count, final long warmup)
    {
        final Control control = Control.start();
        try (MediaDriver driver = launchDriver(dir);
            Aeron aeron = connect(dir);
            Subscription subscription = aeron.addSubscription(CHANNEL, DATA_STREAM_ID))
        {
            emit("{\"event\":\"ready\",\"driver\":" + quote(driver.aeronDirectoryName()) + "}");
            if (warmup == 0)
            {
                emit("{\"event\":\"warm\"}");
            }
            final Receiver receiver = new Receiver(warmup);
            final FragmentAssembler assembler = new FragmentAssembler(receiver);
            final IdleStrategy idle = new BusySpinIdleStrategy();
            long expected = warmup + count;
            long lastNs = System.nanoTime();
            while (receiver.total < expected)
            {
                final int fragments = subscription.poll(assembler, FRAGMENT_LIMIT);
                if (fragments > 0)
                {
                    lastNs = System.nanoTime();
                }
                idle.idle(fragments);
                final long expect = control.expect;
                if (expect >= 0)
                {
                    expected = warmup + expect;
                }
                if (control.stop)
                {
                    break;
                }
            }
            emit("{\"event\":\"done\",\"received\":" + Math.max(0, receiver.total - warmup) +
                ",\"bytes\":" + receiver.bytes +
                ",\"lastNs\":\"" + lastNs + "\"" +
                ",\"checksum\":\"" + Long.toHexString(receiver.sum) + "\"}");
            control.awaitEnd(LINGER_NS);
        }
    }

    private static void throughputPub(
        final String dir, final int size, final long count, final long warmup, final long budgetMs)
    {
        final Control control = Control.start();
        try (Aeron aeron = connect(dir);
            ExclusivePublication publication = aeron.addExclusivePublication(CHANNEL, DATA_STREAM_ID))
        {
            awaitConnected(publication, null, control);
            final Sender sender = new Sender(publication, size, control);
            for (long i = 0; i < warmup; i++)
            {
                sender.send(i);
            }
            emit("{\"event\":\"warm\",\"claim\":" + sender.claim + "}");
            while (!control.go)
            {
                if (control.stop)
                {
                    return;
                }
                LockSupport.parkNanos(50_000);
            }

            final long startNs = System.nanoTime();
            final long deadline = startNs + TimeUnit.MILLISECONDS.toNanos(budgetMs);
            long sum = 0;
            long sent = 0;
            while (sent < count)
            {
                sum += sender.send(warmup + sent);
                sent++;
                if ((sent & 1023) == 0 && System.nanoTime() - deadline > 0)
                {
                    break;
                }
            }
            final long endNs = System.nanoTime();
            emit("{\"event\":\"done\",\"sent\":" + sent +
                ",\"startNs\":\"" + startNs + "\",\"endNs\":\"" + endNs + "\"" +
                ",\"backPressured\":" + sender.backPressured +
                ",\"checksum\":\"" + Long.toHexString(sum) + "\"}");
            // The subscriber may still be reading the log; stay until told to go.
            control.awaitEnd(LINGER_NS);
        }
    }

    private static void pong(final String dir)
    {
        final Control control = Control.start();
        try (MediaDriver driver = launchDriver(dir);
            Aeron aeron = connect(dir);
            Subscription subscription = aeron.addSubscription(CHANNEL, PING_STREAM_ID);
            ExclusivePublication publication = aeron.addExclusivePublication(CHANNEL, PONG_STREAM_ID))
        {
            emit("{\"event\":\"ready\",\"driver\":" + quote(driver.aeronDirectoryName()) + "}");
            final IdleStrategy echoIdle = new BusySpinIdleStrategy();
            final long[] received = new long[2]; // count, checksum
            final FragmentAssembler assembler = new FragmentAssembler(
                (buffer, offset, length, header) ->
                {
                    received[0]++;
                    received[1] += checksum(buffer, offset, length);
                    echoIdle.reset();
                    while (publication.offer(buffer, offset, length) < 0)
                    {
                        if (control.stop)
                        {
                            return;
                        }
                        echoIdle.idle();
                    }
                });
            final IdleStrategy idle = new BusySpinIdleStrategy();
            while (!control.stop)
            {
                idle.idle(subscription.poll(assembler, FRAGMENT_LIMIT));
            }
            emit("{\"event\":\"done\",\"received\":" + received[0] +
                ",\"checksum\":\"" + Long.toHexString(received[1]) + "\"}");
            control.awaitEnd(LINGER_NS);
        }
    }

    private static void ping(final String dir, final int size, final int samples, final long budgetMs)
    {
        final Control control = Control.start();
        try (Aeron aeron = connect(dir);
            Subscription subscription = aeron.addSubscription(CHANNEL, PONG_STREAM_ID);
            ExclusivePublication publication = aeron.addExclusivePublication(CHANNEL, PING_STREAM_ID))
        {
            awaitConnected(publication, subscription, control);
            final Message message = new Message(size);
            final long[] replies = new long[2]; // count, checksum
            final FragmentAssembler assembler = new FragmentAssembler(
                (buffer, offset, length, header) ->
                {
                    replies[0]++;
                    replies[1] += checksum(buffer, offset, length);
                });
            final IdleStrategy idle = new BusySpinIdleStrategy();
            // As the Node workers: untimed round trips first, then samples until done or out of time.
            final int warmup = Math.min(1000, Math.max(10, samples / 10));
            final double[] oneWayUs = new double[samples];
            int n = 0;
            long sent = 0;
            long sentSum = 0;
            final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(budgetMs);
            for (int i = 0; i < warmup + samples; i++)
            {
                sentSum += message.stamp(message.buffer, 0, i);
                final long want = replies[0] + 1;
                final long t0 = System.nanoTime();
                idle.reset();
                long result;
                while ((result = publication.offer(message.buffer, 0, size)) < 0)
                {
                    checkOffer(result);
                    idle.idle();
                }
                sent++;
                idle.reset();
                while (replies[0] < want)
                {
                    idle.idle(subscription.poll(assembler, FRAGMENT_LIMIT));
                    if (control.stop)
                    {
                        throw new IllegalStateException("stopped while waiting for a reply");
                    }
                }
                final long rttNs = System.nanoTime() - t0;
                if (i >= warmup)
                {
                    oneWayUs[n++] = rttNs / 2000.0;
                }
                if (n >= 100 && System.nanoTime() - deadline > 0)
                {
                    break;
                }
            }
            final StringBuilder json = new StringBuilder(32 + n * 10);
            json.append("{\"event\":\"done\",\"sent\":").append(sent)
                .append(",\"replies\":").append(replies[0])
                .append(",\"sentChecksum\":\"").append(Long.toHexString(sentSum)).append('"')
                .append(",\"replyChecksum\":\"").append(Long.toHexString(replies[1])).append('"')
                .append(",\"oneWayUs\":[");
            for (int i = 0; i < n; i++)
            {
                json.append(i == 0 ? "" : ",").append(oneWayUs[i]);
            }
            emit(json.append("]}").toString());
        }
    }

    /**
     * SHARED: the driver's conductor, sender and receiver on one thread, backing off when idle
     * (Aeron's default idle strategy). IPC data never passes through the driver, and on two cores
     * a dedicated busy-spinning driver would take a core from the publisher or the subscriber.
     */
    private static MediaDriver launchDriver(final String dir)
    {
        return MediaDriver.launch(new MediaDriver.Context()
            .aeronDirectoryName(dir)
            .dirDeleteOnStart(true)
            .dirDeleteOnShutdown(true)
            .threadingMode(ThreadingMode.SHARED)
            .sharedIdleStrategy(new BackoffIdleStrategy())
            .ipcMtuLength(IPC_MTU)
            .termBufferSparseFile(false));
    }

    /** Pre-touches the mapped log buffers on connect (as Aeron's ping-pong script sets), off the clock. */
    private static Aeron connect(final String dir)
    {
        return Aeron.connect(new Aeron.Context().aeronDirectoryName(dir).preTouchMappedMemory(true));
    }

    private static void awaitConnected(final Publication publication, final Subscription subscription, final Control control)
    {
        final long until = System.nanoTime() + CONNECT_TIMEOUT_NS;
        while (!publication.isConnected() || (subscription != null && !subscription.isConnected()))
        {
            if (control.stop || System.nanoTime() - until > 0)
            {
                throw new IllegalStateException("no subscriber connected on " + CHANNEL);
            }
            LockSupport.parkNanos(100_000);
        }
    }

    private static void checkOffer(final long result)
    {
        if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED ||
            result == Publication.NOT_CONNECTED)
        {
            throw new IllegalStateException("publication failed: " + Publication.errorString(result));
        }
    }

    /** Sum of the 64-bit little-endian words, then of the remaining bytes: reads every byte. */
    static long checksum(final DirectBuffer buffer, final int offset, final int length)
    {
        long sum = 0;
        int i = 0;
        for (; i + 8 <= length; i += 8)
        {
            sum += buffer.getLong(offset + i);
        }
        for (; i < length; i++)
        {
            sum += buffer.getByte(offset + i) & 0xFF;
        }
        return sum;
    }

    /** A message template: a byte pattern whose first (up to) 8 bytes carry a sequence number. */
    static final class Message
    {
        final int size;
        final UnsafeBuffer buffer;
        /** Checksum of the template with a zero sequence number. */
        final long base;

        Message(final int size)
        {
            if (size < 1)
            {
                throw new IllegalArgumentException("message size must be at least 1 byte");
            }
            this.size = size;
            buffer = new UnsafeBuffer(BufferUtil.allocateDirectAligned(
                BitUtil.align(size, BitUtil.CACHE_LINE_LENGTH), BitUtil.CACHE_LINE_LENGTH));
            for (int i = 0; i < size; i++)
            {
                buffer.putByte(i, (byte)(i < 8 ? 0 : i * 31 + 7));
            }
            base = checksum(buffer, 0, size);
        }

        /** Writes {@code seq} into a copy of this message at {@code offset}; returns its checksum. */
        long stamp(final MutableDirectBuffer target, final int offset, final long seq)
        {
            if (size >= 8)
            {
                target.putLong(offset, seq);
                return base + seq;
            }
            long sum = base;
            for (int i = 0; i < size; i++)
            {
                final int b = (int)(seq >>> (8 * i)) & 0xFF;
                target.putByte(offset + i, (byte)b);
                sum += b;
            }
            return sum;
        }
    }

    /**
     * Publishes one message per call: {@code tryClaim} where it fits one frame (as
     * EmbeddedBufferClaimIpcThroughput), else {@code offer} (as EmbeddedThroughput), retrying with
     * BusySpinIdleStrategy while back-pressured.
     */
    static final class Sender
    {
        final Publication publication;
        final Message message;
        final int size;
        final boolean claim;
        final BufferClaim bufferClaim = new BufferClaim();
        final IdleStrategy idle = new BusySpinIdleStrategy();
        final Control control;
        long backPressured;

        Sender(final Publication publication, final int size, final Control control)
        {
            this.publication = publication;
            this.message = new Message(size);
            this.size = size;
            this.claim = size <= publication.maxPayloadLength();
            this.control = control;
        }

        long send(final long seq)
        {
            idle.reset();
            if (claim)
            {
                long result;
                while ((result = publication.tryClaim(size, bufferClaim)) < 0)
                {
                    backPressure(result);
                }
                final MutableDirectBuffer buffer = bufferClaim.buffer();
                final int offset = bufferClaim.offset();
                buffer.putBytes(offset, message.buffer, 0, size);
                final long sum = message.stamp(buffer, offset, seq);
                bufferClaim.commit();
                return sum;
            }
            final long sum = message.stamp(message.buffer, 0, seq);
            long result;
            while ((result = publication.offer(message.buffer, 0, size)) < 0)
            {
                backPressure(result);
            }
            return sum;
        }

        private void backPressure(final long result)
        {
            checkOffer(result);
            if (control.stop)
            {
                throw new IllegalStateException("stopped while back-pressured");
            }
            backPressured++;
            idle.idle();
        }
    }

    /** Counts and sums what arrives; only messages after the warm-up count toward the result. */
    static final class Receiver implements FragmentHandler
    {
        final long warmup;
        long total;
        long bytes;
        long sum;

        Receiver(final long warmup)
        {
            this.warmup = warmup;
        }

        public void onFragment(final DirectBuffer buffer, final int offset, final int length, final Header header)
        {
            final long s = checksum(buffer, offset, length);
            if (++total > warmup)
            {
                bytes += length;
                sum += s;
            }
            else if (total == warmup)
            {
                emit("{\"event\":\"warm\"}");
            }
        }
    }

    /** Commands from stdin, read on a daemon thread. */
    static final class Control implements Runnable
    {
        volatile boolean go;
        volatile boolean stop;
        volatile boolean ended;
        volatile long expect = -1;

        static Control start()
        {
            final Control control = new Control();
            final Thread thread = new Thread(control, "stdin");
            thread.setDaemon(true);
            thread.start();
            return control;
        }

        public void run()
        {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)))
            {
                String line;
                while ((line = in.readLine()) != null)
                {
                    line = line.trim();
                    if (line.equals("go"))
                    {
                        go = true;
                    }
                    else if (line.equals("stop"))
                    {
                        stop = true;
                    }
                    else if (line.startsWith("expect "))
                    {
                        expect = Long.parseLong(line.substring(7).trim());
                    }
                }
            }
            catch (final Exception ignore)
            {
                // end of input either way
            }
            stop = true;
            ended = true;
        }

        /** Waits for the end of stdin (the parent is done with this process), at most {@code ns}. */
        void awaitEnd(final long ns)
        {
            final long until = System.nanoTime() + ns;
            while (!ended && System.nanoTime() - until < 0)
            {
                LockSupport.parkNanos(1_000_000);
            }
        }
    }

    private static void emit(final String json)
    {
        synchronized (System.out)
        {
            System.out.println(json);
            System.out.flush();
        }
    }

    private static String quote(final String s)
    {
        final StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++)
        {
            final char c = s.charAt(i);
            if (c == '"' || c == '\\')
            {
                b.append('\\').append(c);
            }
            else if (c < 0x20)
            {
                b.append(String.format("\\u%04x", (int)c));
            }
            else
            {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static int intArg(final String s)
    {
        return Integer.parseInt(s);
    }

    private static long longArg(final String s)
    {
        return Long.parseLong(s);
    }
}
