using System.Text;
using CsCheck;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Locks;
using Granary.Queues;
using Granary.Scheduling;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Orleans.Concurrency;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// Random valid and invalid requests against every family's grain interfaces (CsCheck, shrinking on
/// failure). An invalid request must get a typed <see cref="GranaryException"/> with the code of a
/// refused argument and leave the state as it was (read back after every request); a valid one must
/// do what a small pure model of the family says. Each family runs a bounded number of random
/// request sequences and prints its figures.
/// </summary>
/// <remarks>
/// Bad text comes in the forms that reach a silo: blank, over-long and containing U+0000. An
/// unpaired surrogate cannot cross the wire (Orleans sends strings as UTF-8, which replaces it), so
/// it is sent through the SDK, which refuses it before sending.
/// </remarks>
[Collection(FastClusterCollection.Name)]
public sealed class BadInputPropertyTests(FastClusterFixture fixture, ITestOutputHelper output)
{
    private const int Sequences = 60;
    private static readonly string[] Refused = [ErrorCodes.InvalidArgument, SchedulingErrorCodes.TaskRejected];
    private static int _unique;

    /// <summary>The forms of bad text a client can send.</summary>
    public enum BadText
    {
        /// <summary>Only spaces.</summary>
        Blank,

        /// <summary>One character over the limit, or more.</summary>
        TooLong,

        /// <summary>Contains U+0000.</summary>
        Nul,

        /// <summary>Contains an unpaired surrogate (sent through the SDK only).</summary>
        LoneSurrogate,
    }

    [Fact]
    public Task Locks_refuse_bad_requests_and_follow_the_model() =>
        RunAsync("locks", LockOps, async (ops, tally) =>
        {
            var name = Unique("prop-lock");
            var grain = fixture.Grains.GetGrain<ILockGrain>(name);
            (string Owner, long Token)? holder = null;
            long lastToken = 0;
            foreach (var op in ops)
            {
                switch (op)
                {
                    case LockOp.Acquire a:
                        var result = await grain.AcquireAsync(new AcquireRequest(Owners[a.Owner], Guid.NewGuid().ToString("N"), TimeSpan.FromSeconds(a.TtlSeconds), TimeSpan.Zero));
                        if (holder is null)
                        {
                            Assert.NotNull(result.Lease);
                            Assert.Equal(lastToken + 1, result.Lease.Token);
                            lastToken = result.Lease.Token;
                            holder = (Owners[a.Owner], lastToken);
                        }
                        else
                        {
                            Assert.Null(result.Lease);
                            Assert.False(result.StillWaiting);
                        }

                        tally.Valid++;
                        break;
                    case LockOp.Release when holder is { } h:
                        await grain.ReleaseAsync(h.Owner, h.Token);
                        holder = null;
                        tally.Valid++;
                        break;
                    case LockOp.Release:
                        continue;
                    case LockOp.BadAcquire bad:
                        await ExpectRefusedAsync(() => grain.AcquireAsync(bad.Request()), tally);
                        break;
                    case LockOp.BadRelease bad:
                        await ExpectRefusedAsync(() => grain.ReleaseAsync(bad.Owner, bad.Token), tally);
                        break;
                    case LockOp.BadKey bad:
                        await ExpectRefusedAsync(() => fixture.Grains.GetGrain<ILockGrain>(Text(bad.Text, Limits.MaxKeyLength)).GetStatusAsync(), tally);
                        break;
                }

                var status = await grain.GetStatusAsync();
                Assert.Equal(lastToken, status.LastToken);
                Assert.Equal(holder is null ? 0 : 1, status.Holders.Count);
                if (holder is { } held)
                {
                    Assert.Equal((held.Owner, held.Token), (status.Holders[0].Owner, status.Holders[0].Token));
                }
            }
        });

    [Fact]
    public async Task Caches_refuse_bad_requests_and_follow_the_model()
    {
        await using var cache = await CacheClient.ConnectAsync(fixture.Grains, Unique("prop-cache"));
        await RunAsync("caches", CacheOps, async (ops, tally) =>
        {
            var prefix = Unique("k") + ":";
            var model = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var op in ops)
            {
                switch (op)
                {
                    case CacheOp.Set s:
                        await cache.SetAsync(prefix + s.Key, s.Value);
                        model[prefix + s.Key] = s.Value;
                        tally.Valid++;
                        break;
                    case CacheOp.Delete d:
                        Assert.Equal(model.Remove(prefix + d.Key), await cache.DeleteAsync(prefix + d.Key));
                        tally.Valid++;
                        break;
                    case CacheOp.BadSet bad:
                        var key = bad.InKey ? Text(bad.Text, Limits.MaxKeyLength) : prefix + "a";
                        var value = bad.InKey ? "v" : Text(bad.Text, Limits.Caching.MaxValueLength);
                        await ExpectRefusedAsync(() => cache.SetAsync(key, value), tally);
                        break;
                    case CacheOp.BadBatch:
                        var shard = fixture.Grains.GetGrain<ICacheShardGrain>(CacheDefinition.ShardKey(cache.Name, 0));
                        var commands = Enumerable.Range(0, Limits.MaxBatchSize + 1).Select(i => new[] { "SET", prefix + "a", "batch" }).ToArray();
                        await ExpectRefusedAsync(() => shard.ExecuteAsync(commands.AsImmutable(), cache.Definition.Version), tally);
                        break;
                    case CacheOp.BadName bad:
                        await ExpectRefusedAsync(() => CacheClient.ConnectAsync(fixture.Grains, Text(bad.Text, Limits.MaxKeyLength)), tally);
                        break;
                }

                foreach (var k in new[] { "a", "b", "c" }.Select(k => prefix + k))
                {
                    Assert.Equal(model.GetValueOrDefault(k), await cache.GetAsync(k));
                }
            }
        });
    }

    [Fact]
    public Task Queues_refuse_bad_requests_and_follow_the_model() =>
        RunAsync("queues", QueueOps, async (ops, tally) =>
        {
            var queue = Unique("prop-queue");
            var client = new QueueClient(fixture.Grains);
            await client.CreateAsync(queue, new QueueDefinition(Partitions: 2));
            // The model: messages with a key are delivered one at a time per key, in order.
            var readyUnkeyed = 0;
            var readyByKey = new Dictionary<string, int>(StringComparer.Ordinal);
            var inFlightKeys = new HashSet<string>(StringComparer.Ordinal);
            var leased = new List<(string Receipt, string? Key)>();
            foreach (var op in ops)
            {
                switch (op)
                {
                    case QueueOp.Enqueue e:
                        var result = await client.EnqueueAsync(queue, new QueueMessageInput(new byte[e.BodyBytes], Unique("m"), e.Key));
                        Assert.False(result.Duplicate);
                        if (e.Key is null)
                        {
                            readyUnkeyed++;
                        }
                        else
                        {
                            readyByKey[e.Key] = readyByKey.GetValueOrDefault(e.Key) + 1;
                        }

                        tally.Valid++;
                        break;
                    case QueueOp.Dequeue d:
                        var eligible = readyUnkeyed + readyByKey.Count(k => k.Value > 0 && !inFlightKeys.Contains(k.Key));
                        var got = await client.DequeueAsync(queue, "c1", d.Max, TimeSpan.FromMinutes(5), TimeSpan.Zero);
                        Assert.Equal(Math.Min(d.Max, eligible), got.Count);
                        foreach (var delivery in got)
                        {
                            if (delivery.Key is null)
                            {
                                readyUnkeyed--;
                            }
                            else
                            {
                                Assert.True(inFlightKeys.Add(delivery.Key), $"two messages of key {delivery.Key} in flight");
                                readyByKey[delivery.Key]--;
                            }

                            leased.Add((delivery.Receipt, delivery.Key));
                        }

                        tally.Valid++;
                        break;
                    case QueueOp.Ack when leased.Count > 0:
                        await client.AckAsync(queue, leased[^1].Receipt);
                        if (leased[^1].Key is { } acked)
                        {
                            inFlightKeys.Remove(acked);
                        }

                        leased.RemoveAt(leased.Count - 1);
                        tally.Valid++;
                        break;
                    case QueueOp.Ack:
                        continue;
                    case QueueOp.BadEnqueue bad:
                        var partition = fixture.Grains.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(queue, 0));
                        await ExpectRefusedAsync(() => partition.EnqueueAsync(bad.Messages()), tally);
                        break;
                    case QueueOp.BadDequeue bad:
                        await ExpectRefusedAsync(() => client.Queue(queue).DequeueAsync(bad.Consumer, bad.Max, bad.Visibility, bad.Wait), tally);
                        break;
                    case QueueOp.BadSdkId bad:
                        await ExpectRefusedAsync(() => client.EnqueueAsync(queue, new QueueMessageInput([1], Text(bad.Text, Limits.MaxKeyLength))), tally);
                        break;
                    case QueueOp.BadQueueName bad:
                        await ExpectRefusedAsync(() => fixture.Grains.GetGrain<Granary.Queues.IQueueGrain>(bad.Slash ? "a/b" : Text(bad.Text, Limits.MaxKeyLength)).CreateAsync(new QueueDefinition()), tally);
                        break;
                }

                var stats = await client.StatsAsync(queue);
                Assert.Equal(readyUnkeyed + readyByKey.Values.Sum(), stats.Ready);
                Assert.Equal(leased.Count, stats.InFlight);
            }
        });

    [Fact]
    public Task Transactions_refuse_bad_requests_and_follow_the_model() =>
        RunAsync("transactions", TxOps, async (ops, tally) =>
        {
            var names = new[] { Unique("acct"), Unique("acct"), Unique("acct") };
            var balances = new long[] { 500, 300, 0 };
            for (var i = 0; i < names.Length; i++)
            {
                await fixture.Grains.GetGrain<IAccountGrain>(names[i]).OpenAsync(balances[i]);
            }

            var client = new TransactionClient(fixture.Grains);
            foreach (var op in ops)
            {
                switch (op)
                {
                    case TxOp.Transfer t when t.From != t.To:
                        if (t.Amount <= balances[t.From])
                        {
                            var result = await client.TransferAsync(names[t.From], names[t.To], t.Amount);
                            Assert.Equal(TxOutcome.Committed, result.Outcome);
                            balances[t.From] -= t.Amount;
                            balances[t.To] += t.Amount;
                        }
                        else
                        {
                            var aborted = await Assert.ThrowsAsync<TransactionAbortedException>(() => client.TransferAsync(names[t.From], names[t.To], t.Amount));
                            Assert.Equal(TransactionErrorCodes.Insufficient, aborted.Code);
                        }

                        tally.Valid++;
                        break;
                    case TxOp.Transfer:
                        continue;
                    case TxOp.BadAmount bad:
                        await ExpectRefusedAsync(() => client.RunFreshAsync(TransactionClient.TransferRequest(names[0], names[1], bad.Amount)), tally);
                        break;
                    case TxOp.BadAccount bad:
                        var account = Text(bad.Text, Limits.MaxKeyLength);
                        await ExpectRefusedAsync(
                            bad.Open
                                ? () => fixture.Grains.GetGrain<IAccountGrain>(account).OpenAsync(10)
                                : () => client.RunFreshAsync(TransactionClient.TransferRequest(names[0], account, 1)),
                            tally);
                        break;
                    case TxOp.BadSdkName bad:
                        await ExpectRefusedAsync(() => client.TransferAsync(names[0], Text(bad.Text, Limits.MaxKeyLength), 1), tally);
                        break;
                }

                for (var i = 0; i < names.Length; i++)
                {
                    Assert.Equal(balances[i], (await fixture.Grains.GetGrain<IAccountGrain>(names[i]).GetAsync()).Balance);
                }
            }
        });

    [Fact]
    public Task Tasks_refuse_bad_requests_and_follow_the_model() =>
        RunAsync("tasks", TaskOps, async (ops, tally) =>
        {
            var client = new TaskClient(fixture.Grains);
            var submitted = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var op in ops)
            {
                string probe;
                switch (op)
                {
                    case TaskOp.Submit s:
                        probe = submitted.Count > 0 && s.Again ? submitted.Keys.First() : Unique("task");
                        var info = await client.SubmitWithIdAsync(probe, new TaskSubmission("add", $"[{s.A}, {s.B}]") { Priority = s.Priority });
                        Assert.Equal(probe, info.Id);
                        submitted.TryAdd(probe, info.Type);
                        tally.Valid++;
                        break;
                    case TaskOp.BadSubmit bad:
                        probe = Unique("task");
                        await ExpectRefusedAsync(() => fixture.Grains.GetGrain<ITaskGrain>(probe).SubmitAsync(bad.Submission()), tally);
                        await Assert.ThrowsAsync<TaskNotFoundException>(() => client.GetAsync(probe));
                        break;
                    case TaskOp.BadId bad:
                        await ExpectRefusedAsync(() => fixture.Grains.GetGrain<ITaskGrain>(Text(bad.Text, Limits.MaxKeyLength)).SubmitAsync(new TaskSubmission("add", "[1, 2]")), tally);
                        break;
                    case TaskOp.BadSdkArgs:
                        probe = Unique("task");
                        await ExpectRefusedAsync(() => client.SubmitWithIdAsync(probe, new TaskSubmission("add", "[1, \"\uD800\"]")), tally);
                        await Assert.ThrowsAsync<TaskNotFoundException>(() => client.GetAsync(probe));
                        break;
                }

                foreach (var (id, type) in submitted)
                {
                    Assert.Equal(type, (await client.GetAsync(id)).Type);
                }
            }
        });

    private static readonly string[] Owners = ["owner-a", "owner-b", "owner-c"];

    private static Gen<BadText> WireText => Gen.OneOf(BadText.Blank, BadText.TooLong, BadText.Nul);

    /// <summary>Bad grain keys: Orleans refuses a blank key on the client before any call (the SDK refuses it with a typed error first).</summary>
    private static Gen<BadText> KeyText => Gen.OneOf(BadText.TooLong, BadText.Nul);

    private static Gen<BadText> AnyText => Gen.OneOf(BadText.Blank, BadText.TooLong, BadText.Nul, BadText.LoneSurrogate);

    private static Gen<LockOp[]> LockOps => Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, 2], Gen.Int[30, 120], (o, t) => (LockOp)new LockOp.Acquire(o, t))),
        (2, Gen.Const((LockOp)new LockOp.Release())),
        (3, Gen.Select(Gen.Int[0, 6], WireText, Gen.Int[0, 3], (f, t, n) => (LockOp)new LockOp.BadAcquire(f, t, n))),
        (1, Gen.Select(WireText, Gen.Long[-3, 0], Gen.Bool, (t, k, badOwner) => (LockOp)new LockOp.BadRelease(badOwner ? Text(t, Limits.MaxKeyLength) : Owners[0], badOwner ? 1 : k))),
        (1, KeyText.Select(t => (LockOp)new LockOp.BadKey(t)))).Array[1, 8];

    private static Gen<CacheOp[]> CacheOps => Gen.Frequency(
        (4, Gen.Select(Gen.OneOf("a", "b", "c"), Gen.Char["abc xyz019-é\u03bb\u4e2d"].Array[0, 40], (k, v) => (CacheOp)new CacheOp.Set(k, new string(v)))),
        (2, Gen.OneOf("a", "b", "c").Select(k => (CacheOp)new CacheOp.Delete(k))),
        (3, Gen.Select(AnyText.Where(t => t != BadText.Blank), Gen.Bool, (t, inKey) => (CacheOp)new CacheOp.BadSet(t, inKey))),
        (1, Gen.Const((CacheOp)new CacheOp.BadBatch())),
        (1, AnyText.Select(t => (CacheOp)new CacheOp.BadName(t)))).Array[1, 8];

    private static Gen<QueueOp[]> QueueOps => Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, 2048], Gen.OneOf<string?>(null, "k1", "k2"), (b, k) => (QueueOp)new QueueOp.Enqueue(b, k))),
        (2, Gen.Int[1, 5].Select(m => (QueueOp)new QueueOp.Dequeue(m))),
        (2, Gen.Const((QueueOp)new QueueOp.Ack())),
        (3, Gen.Select(Gen.Int[0, 5], WireText, (f, t) => (QueueOp)new QueueOp.BadEnqueue(f, t))),
        (2, Gen.Select(Gen.Int[0, 3], WireText, (f, t) => QueueOp.BadDequeue.Of(f, t))),
        (1, AnyText.Select(t => (QueueOp)new QueueOp.BadSdkId(t))),
        (1, Gen.Select(KeyText, Gen.Bool, (t, slash) => (QueueOp)new QueueOp.BadQueueName(t, slash)))).Array[1, 8];

    private static Gen<TxOp[]> TxOps => Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, 2], Gen.Int[0, 2], Gen.Long[1, 400], (f, t, a) => (TxOp)new TxOp.Transfer(f, t, a))),
        (2, Gen.OneOf(0L, -1L, long.MinValue, Limits.Transactions.MaxAmount + 1).Select(a => (TxOp)new TxOp.BadAmount(a))),
        (2, Gen.Bool.SelectMany(open => (open ? KeyText : WireText).Select(t => (TxOp)new TxOp.BadAccount(t, open)))),
        (1, AnyText.Select(t => (TxOp)new TxOp.BadSdkName(t)))).Array[1, 6];

    private static Gen<TaskOp[]> TaskOps => Gen.Frequency(
        (4, Gen.Select(Gen.Int[-100, 100], Gen.Int[-100, 100], Gen.Int[0, Limits.Scheduling.MaxPriority], Gen.Bool, (a, b, p, again) => (TaskOp)new TaskOp.Submit(a, b, p, again))),
        (4, Gen.Select(Gen.Int[0, 11], WireText, (f, t) => (TaskOp)new TaskOp.BadSubmit(f, t))),
        (1, KeyText.Select(t => (TaskOp)new TaskOp.BadId(t))),
        (1, Gen.Const((TaskOp)new TaskOp.BadSdkArgs()))).Array[1, 6];

    /// <summary>Bad text of the given form for a field whose limit is <paramref name="limit"/>.</summary>
    private static string Text(BadText form, int limit) => form switch
    {
        BadText.Blank => "   ",
        BadText.TooLong => new string('x', limit + 1),
        BadText.Nul => "bad\0name",
        _ => "bad\uD800name",
    };

    private static string Unique(string prefix) => $"{prefix}-{Interlocked.Increment(ref _unique)}-{Guid.NewGuid().ToString("N")[..6]}";

    private static async Task ExpectRefusedAsync(Func<Task> call, Tally tally)
    {
        var error = await Assert.ThrowsAnyAsync<GranaryException>(call);
        Assert.True(Refused.Contains(error.Code), $"refused with {error.Code} ({error.GetType().Name}: {error.Message}), expected one of {string.Join(", ", Refused)}");
        tally.Invalid++;
    }

    private async Task RunAsync<T>(string family, Gen<T[]> gen, Func<T[], Tally, Task> run)
    {
        var tally = new Tally();
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await gen.SampleAsync(
                async ops =>
                {
                    tally.Sequences++;
                    try
                    {
                        await run(ops, tally);
                    }
                    catch
                    {
                        tally.FailedRuns++;
                        throw;
                    }
                },
                iter: Sequences,
                threads: 1,
                print: ops => string.Join("; ", ops.Select(o => o!.ToString())));
        }
        finally
        {
            output.WriteLine($"{family}: {tally.Sequences} sequences, {tally.Valid + tally.Invalid} requests ({tally.Invalid} invalid, {tally.Valid} valid), {tally.FailedRuns} failing runs while shrinking, {started.Elapsed.TotalSeconds:F1} s");
        }

        Assert.True(tally.Invalid > 0 && tally.Valid > 0, $"{family}: the generators produced {tally.Invalid} invalid and {tally.Valid} valid requests");
    }

    private sealed class Tally
    {
        public int Sequences { get; set; }

        public int Invalid { get; set; }

        public int Valid { get; set; }

        public int FailedRuns { get; set; }
    }

    private abstract record LockOp
    {
        public sealed record Acquire(int Owner, int TtlSeconds) : LockOp;

        public sealed record Release : LockOp;

        public sealed record BadAcquire(int Field, BadText Text, int Number) : LockOp
        {
            public AcquireRequest Request()
            {
                var ok = new AcquireRequest(Owners[0], Guid.NewGuid().ToString("N"), TimeSpan.FromSeconds(30), TimeSpan.Zero);
                return Field switch
                {
                    0 => ok with { Owner = BadInputPropertyTests.Text(Text, Limits.MaxKeyLength) },
                    1 => ok with { RequestId = BadInputPropertyTests.Text(Text, Limits.MaxKeyLength) },
                    2 => ok with { Ttl = TimeSpan.FromSeconds(-Number) },
                    3 => ok with { Ttl = TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(Number + 1) },
                    4 => ok with { Wait = TimeSpan.FromSeconds(-Number - 1) },
                    5 => ok with { Type = Number % 2 == 0 ? LockType.Mutex : LockType.ReaderWriter, Permits = Number == 1 ? 0 : Number + 2 },
                    _ => ok with { Type = LockType.Semaphore, Permits = Number % 2 == 0 ? 0 : Limits.Locks.MaxPermits + Number },
                };
            }
        }

        public sealed record BadRelease(string Owner, long Token) : LockOp;

        public sealed record BadKey(BadText Text) : LockOp;
    }

    private abstract record CacheOp
    {
        public sealed record Set(string Key, string Value) : CacheOp;

        public sealed record Delete(string Key) : CacheOp;

        public sealed record BadSet(BadText Text, bool InKey) : CacheOp;

        public sealed record BadBatch : CacheOp;

        public sealed record BadName(BadText Text) : CacheOp;
    }

    private abstract record QueueOp
    {
        public sealed record Enqueue(int BodyBytes, string? Key) : QueueOp;

        public sealed record Dequeue(int Max) : QueueOp;

        public sealed record Ack : QueueOp;

        public sealed record BadEnqueue(int Field, BadText Text) : QueueOp
        {
            public IReadOnlyList<QueueMessageInput> Messages()
            {
                var text = BadInputPropertyTests.Text(Text, Limits.MaxKeyLength);
                return Field switch
                {
                    0 => [new QueueMessageInput(new byte[Limits.Queues.MaxBodyBytes + 1])],
                    1 => [new QueueMessageInput([1], Id: text)],
                    2 => [new QueueMessageInput([1], Key: text)],
                    3 => [new QueueMessageInput([1], Delay: TimeSpan.FromSeconds(-1))],
                    4 => [new QueueMessageInput([1], Delay: Limits.Queues.MaxDelay + TimeSpan.FromSeconds(1))],
                    _ => [.. Enumerable.Range(0, Limits.MaxBatchSize + 1).Select(_ => new QueueMessageInput([1]))],
                };
            }
        }

        public sealed record BadDequeue(string Consumer, int Max, TimeSpan Visibility, TimeSpan Wait) : QueueOp
        {
            public static QueueOp Of(int field, BadText text) => field switch
            {
                0 => new BadDequeue(BadInputPropertyTests.Text(text, Limits.MaxKeyLength), 1, TimeSpan.FromSeconds(30), TimeSpan.Zero),
                1 => new BadDequeue("c1", text == BadText.Blank ? 0 : Limits.MaxBatchSize + 1, TimeSpan.FromSeconds(30), TimeSpan.Zero),
                2 => new BadDequeue("c1", 1, text == BadText.Blank ? TimeSpan.Zero : Limits.Queues.MaxVisibilityTimeout + TimeSpan.FromSeconds(1), TimeSpan.Zero),
                _ => new BadDequeue("c1", 1, TimeSpan.FromSeconds(30), Limits.Queues.MaxWait + TimeSpan.FromSeconds(1)),
            };
        }

        public sealed record BadSdkId(BadText Text) : QueueOp;

        public sealed record BadQueueName(BadText Text, bool Slash) : QueueOp;
    }

    private abstract record TxOp
    {
        public sealed record Transfer(int From, int To, long Amount) : TxOp;

        public sealed record BadAmount(long Amount) : TxOp;

        public sealed record BadAccount(BadText Text, bool Open) : TxOp;

        public sealed record BadSdkName(BadText Text) : TxOp;
    }

    private abstract record TaskOp
    {
        public sealed record Submit(int A, int B, int Priority, bool Again) : TaskOp;

        public sealed record BadSubmit(int Field, BadText Text) : TaskOp
        {
            public TaskSubmission Submission()
            {
                var ok = new TaskSubmission("add", "[1, 2]");
                return Field switch
                {
                    0 => ok with { Type = "no-such-type" },
                    1 => ok with { Args = "{\"a\": 1}" },
                    2 => ok with { Args = "[1, " },
                    3 => ok with { Args = "[\"" + new string('x', Limits.Scheduling.MaxArgumentsLength) + "\"]" },
                    4 => ok with { Args = "[1, \"a\0b\"]" },
                    5 => ok with { Priority = Text == BadText.Blank ? -1 : Limits.Scheduling.MaxPriority + 1 },
                    6 => ok with { Delay = Text == BadText.Blank ? TimeSpan.FromSeconds(-1) : Limits.Scheduling.MaxDelay + TimeSpan.FromDays(1) },
                    7 => ok with { TimeLimit = Text == BadText.Blank ? TimeSpan.Zero : Limits.Scheduling.MaxTimeLimit + TimeSpan.FromSeconds(1) },
                    8 => ok with { MaxRetries = Text == BadText.Blank ? -1 : Limits.Scheduling.MaxRetries + 1 },
                    9 => ok with { Queue = Text == BadText.Blank ? "a/b" : BadInputPropertyTests.Text(Text, Limits.Scheduling.MaxQueueNameLength) },
                    10 => ok with { Key = BadInputPropertyTests.Text(Text, Limits.MaxKeyLength) },
                    _ => ok with { Args = Encoding.UTF8.GetString([0x5B, 0x31, 0x5D]) + "\0" },
                };
            }
        }

        public sealed record BadId(BadText Text) : TaskOp;

        public sealed record BadSdkArgs : TaskOp;
    }
}
