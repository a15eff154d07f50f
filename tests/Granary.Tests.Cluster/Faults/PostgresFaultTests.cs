using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Granary.Caching;
using Granary.Client.Caching;
using Granary.Client.Locks;
using Granary.Client.Queues;
using Granary.Client.Scheduling;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Locks;
using Granary.Queues;
using Granary.Scheduling;
using Granary.Server.Options;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Tests.Cluster.Locks;
using Granary.Transactions;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Faults;

/// <summary>
/// History checks under PostgreSQL faults (silos stay up): while clients load each family, every
/// backend of the shard databases is terminated every 400 ms for 6 s (statements in flight fail
/// with 57P01, some after their commit), then the server is crashed (SIGKILL of all its processes,
/// <c>fsync=on</c>) and restarted on the same data directory. The invariants are the silo-loss
/// tests': nothing acknowledged is lost, a lock never has two holders, money is conserved, every
/// task ends terminal; duplicates and unknown outcomes are asserted within what was in flight.
/// </summary>
public sealed class PostgresFaultTests(PostgresFaultFixture fixture, ITestOutputHelper output) : IClassFixture<PostgresFaultFixture>
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PhaseBound = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task Clients_see_only_granary_errors_while_backends_are_terminated_and_postgres_crashes()
    {
        var grains = fixture.Cluster.Grains;
        var faults = new PostgresFaults(fixture.Postgres, output);
        var errors = new ClientErrors();
        var prefix = Prefix("types");
        var calls = 0;
        using var stop = new CancellationTokenSource();

        // Every family at once, on names never used before, so activations (and their state reads)
        // happen while backends are being terminated too.
        var queues = new QueueClient(grains);
        var tasks = new TaskClient(grains);
        var locks = new DistributedLocks(grains, new DistributedLockOptions { Owner = prefix, CallTimeout = CallTimeout, TransientRetryWindow = TimeSpan.Zero });
        await RetriedAsync(() => queues.CreateAsync(prefix, new QueueDefinition(4, MaxDeliveries: 100, DeduplicationWindow: TimeSpan.FromMinutes(10))));
        await using var cache = await RetriedAsync(() => CacheClient.CreateAsync(grains, prefix, 4, new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.NoEviction)));
        await RetriedAsync(() => Task.WhenAll(Enumerable.Range(0, 20).Select(i => grains.GetGrain<IAccountGrain>($"{prefix}-a{i}").OpenAsync(1_000))));

        async Task LoopAsync(Func<int, Task> call)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                Interlocked.Increment(ref calls);
                try
                {
                    await call(i).WaitAsync(CallTimeout);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    errors.Record(ex);
                }
            }
        }

        var random = new Random(15);
        var load = new List<Task>();
        for (var w = 0; w < 3; w++)
        {
            var worker = w;
            load.Add(LoopAsync(i => queues.EnqueueAsync(prefix, new QueueMessageInput(Encoding.UTF8.GetBytes("m"), $"{worker}-{i}"))));
            load.Add(LoopAsync(async i =>
            {
                var got = await queues.DequeueAsync(prefix, "c" + worker, 10, TimeSpan.FromSeconds(30), TimeSpan.Zero);
                if (got.Count > 0)
                {
                    await queues.AckManyAsync(prefix, got.Select(m => m.Receipt));
                }
            }));
            load.Add(LoopAsync(i => cache.SetAsync($"{worker}-{i}", "v")));
            load.Add(LoopAsync(async i =>
            {
                await using var handle = await locks.AcquireAsync($"{prefix}-{worker}-{i % 50}", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
            }));
            load.Add(LoopAsync(i => grains.GetGrain<ITwoPhaseCommitExecutorGrain>(0).ExecuteAsync(
                $"{prefix}-t{worker}-{i}",
                TransactionClient.TransferRequest($"{prefix}-a{random.Next(10)}", $"{prefix}-a{10 + random.Next(10)}", 1),
                freshId: true)));
            load.Add(LoopAsync(i => tasks.SubmitWithIdAsync($"{prefix}-{worker}-{i}", new TaskSubmission("add", "[1, 2]"))));
        }

        // Much faster than the other tests' period, so that some calls outlast the stores' retries;
        // then a crash, which every call in flight outlasts.
        await faults.TerminateBackendsAsync(TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(6));
        var duringTerminations = errors.Count;
        await faults.CrashAndRestartAsync(TimeSpan.FromSeconds(1));
        var progress = calls;
        await Eventually.TrueAsync("200 calls after the restart", () => calls >= progress + 200, PhaseBound);
        await stop.CancelAsync();
        await Task.WhenAll(load);

        output.WriteLine(faults.Describe());
        output.WriteLine($"client calls {calls}, errors {errors.Count} ({duringTerminations} while backends were terminated): {errors.Describe()}");
        foreach (var sample in errors.Samples())
        {
            output.WriteLine("  for example " + sample);
        }

        foreach (var foreign in errors.Foreign)
        {
            output.WriteLine("  not a GranaryException: " + foreign);
        }

        Assert.True(faults.BackendsTerminated > 0, "no backend was terminated");
        Assert.True(errors.Count > 0, "no call failed, so no error type was checked");
        Assert.Empty(errors.Foreign);
    }

    [Fact]
    public async Task A_grain_whose_state_cannot_be_read_fails_its_callers_with_UNAVAILABLE_and_serves_them_after_a_restart()
    {
        var grains = fixture.Cluster.Grains;
        var prefix = Prefix("down");

        // Activations that must read their state first, while the server is down for longer than
        // the stores retry.
        await fixture.Postgres.CrashAsync();
        var clock = Stopwatch.StartNew();
        Exception? failure = null;
        try
        {
            await grains.GetGrain<IAccountGrain>(prefix + "-account").GetAsync().WaitAsync(CallTimeout);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            failure = ex;
        }

        var failedAfter = clock.Elapsed;
        Exception? lockFailure = null;
        try
        {
            await grains.GetGrain<ILockGrain>(prefix + "-lock").GetStatusAsync().WaitAsync(CallTimeout);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            lockFailure = ex;
        }

        var restart = await fixture.Postgres.RestartAsync();
        output.WriteLine($"PostgreSQL down; account read failed after {failedAfter.TotalSeconds:F1} s with {failure?.GetType().FullName}: {failure?.Message}");
        output.WriteLine($"lock status failed with {lockFailure?.GetType().FullName}: {lockFailure?.Message}");

        var account = await RetriedAsync(() => grains.GetGrain<IAccountGrain>(prefix + "-account").OpenAsync(5));
        output.WriteLine($"faults injected: 1 crash; restarted in {restart.TotalSeconds:F1} s; then the account opened with balance {account.Balance}");

        var typed = Assert.IsType<ServiceUnavailableException>(failure);
        Assert.Equal(ErrorCodes.Unavailable, typed.Code);
        Assert.True(typed.IsRetryable);
        Assert.Contains("storage unavailable", typed.Message, StringComparison.Ordinal);
        Assert.IsType<ServiceUnavailableException>(lockFailure);
        Assert.Equal(5, account.Balance);
    }

    [Fact]
    public async Task Shard_initialisation_waits_for_a_restarting_server_instead_of_failing()
    {
        // What a silo does at start-up: create its shard database and apply the schema, here while
        // the server is down and comes back a second later.
        var database = Prefix("init");
        var retry = new StorageRetryPolicy(new StorageRetryOptions { MaxRetries = 20, BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(500) });
        await fixture.Postgres.CrashAsync();
        var clock = Stopwatch.StartNew();
        var initialising = PostgresShardInitializer.EnsureShardsAsync([fixture.Postgres.ConnectionString(database)], createDatabases: true, NullLogger.Instance, retry, CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(1)); // the fault under test: how long the server stays down
        Assert.False(initialising.IsCompleted, "initialisation ended while the server was down");
        var restart = await fixture.Postgres.RestartAsync();
        await initialising.WaitAsync(PhaseBound);
        output.WriteLine($"faults injected: 1 crash; server restarted in {restart.TotalSeconds:F1} s; shard {database} initialised after {clock.Elapsed.TotalSeconds:F1} s");

        await using var connection = new NpgsqlConnection(fixture.Postgres.ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM granary_grain_state", connection);
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Queue_loses_no_confirmed_message_under_terminated_backends_and_a_postgres_crash()
    {
        const int Producers = 4;
        const int Consumers = 4;
        const int Batch = 20;
        var grains = fixture.Cluster.Grains;
        var faults = new PostgresFaults(fixture.Postgres, output);
        var errors = new ClientErrors();
        var client = new QueueClient(grains);
        var queue = Prefix("queue");
        await RetriedAsync(() => client.CreateAsync(queue, new QueueDefinition(4, MaxDeliveries: 100, DeduplicationWindow: TimeSpan.FromMinutes(10))));

        var confirmed = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var deliveries = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var acked = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        long failedEnqueueMessages = 0, storedDespiteError = 0, failedDequeueCalls = 0, ackAtRisk = 0;
        using var stopProducing = new CancellationTokenSource();
        using var stopConsuming = new CancellationTokenSource();

        async Task ProduceAsync(int producer)
        {
            for (var b = 0; !stopProducing.IsCancellationRequested; b++)
            {
                var batch = Enumerable.Range(0, Batch).Select(i => new QueueMessageInput(Encoding.UTF8.GetBytes("m"), string.Create(CultureInfo.InvariantCulture, $"p{producer}-{b}-{i}"))).ToList();

                // A retry resends the same ids: the dedup window makes it idempotent.
                var sent = await errors.UntilSuccessAsync(() => client.EnqueueBatchAsync(queue, batch), () => true, CallTimeout);
                Interlocked.Add(ref failedEnqueueMessages, sent.Failures * batch.Count);
                foreach (var r in sent.Result!)
                {
                    confirmed[r.Id] = true;
                    if (sent.Failures > 0 && r.Duplicate)
                    {
                        Interlocked.Increment(ref storedDespiteError);
                    }
                }
            }
        }

        async Task ConsumeAsync(int consumer)
        {
            while (!stopConsuming.IsCancellationRequested)
            {
                IReadOnlyList<QueueDelivery> got;
                try
                {
                    got = await client.DequeueAsync(queue, "c" + consumer, Batch, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500)).WaitAsync(CallTimeout);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    errors.Record(ex);
                    Interlocked.Increment(ref failedDequeueCalls);
                    continue;
                }

                foreach (var m in got)
                {
                    deliveries.AddOrUpdate(m.Id, 1, (_, n) => n + 1);
                }

                for (var attempt = 0; got.Count > 0; attempt++)
                {
                    try
                    {
                        // AlreadySettled: an earlier attempt landed. Anything else: the message goes back and comes again.
                        var refused = await client.AckManyAsync(queue, got.Select(m => m.Receipt)).WaitAsync(CallTimeout);
                        var notAcked = refused.Where(r => r.Problem != ReceiptProblem.AlreadySettled).Select(r => r.Receipt).ToHashSet(StringComparer.Ordinal);
                        Interlocked.Add(ref ackAtRisk, notAcked.Count);
                        foreach (var m in got.Where(m => !notAcked.Contains(m.Receipt)))
                        {
                            acked[m.Id] = true;
                        }

                        break;
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        errors.Record(ex);
                        Interlocked.Add(ref ackAtRisk, got.Count);
                    }
                }
            }
        }

        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() => ProduceAsync(p))).ToList();
        var consumers = Enumerable.Range(0, Consumers).Select(c => Task.Run(() => ConsumeAsync(c))).ToList();
        await faults.RunScheduleAsync(() => acked.Count, 200, "acked messages", PhaseBound);
        await stopProducing.CancelAsync();
        await Task.WhenAll(producers);
        await Eventually.TrueAsync("every confirmed message acked", () => confirmed.Keys.All(acked.ContainsKey), PhaseBound);
        await stopConsuming.CancelAsync();
        await Task.WhenAll(consumers);

        var stats = await RetriedAsync(() => client.StatsAsync(queue));
        var lost = confirmed.Keys.Count(id => !acked.ContainsKey(id));
        var duplicates = deliveries.Values.Sum() - deliveries.Count;
        var atRisk = ackAtRisk + (failedDequeueCalls * Batch);
        output.WriteLine(faults.Describe());
        output.WriteLine($"confirmed {confirmed.Count}, acked {acked.Count}, lost {lost}; stored although the enqueue call failed (found as duplicates on retry) {storedDespiteError} of {failedEnqueueMessages} messages in failed calls");
        output.WriteLine($"deliveries {deliveries.Values.Sum()}, duplicate deliveries {duplicates} (bound: {atRisk} messages in failed or refused acks and failed dequeues); depth {stats.Depth}, dead-lettered {stats.DeadLettered}");
        output.WriteLine($"errors seen by clients: {errors.Describe()}");

        Assert.True(faults.BackendsTerminated > 0 && faults.Crashes == 1, faults.Describe());
        Assert.Equal(0, lost);
        Assert.All(deliveries.Keys, id => Assert.True(confirmed.ContainsKey(id), $"{id} delivered but never confirmed"));
        Assert.True(storedDespiteError <= failedEnqueueMessages, $"{storedDespiteError} duplicates on retry, only {failedEnqueueMessages} messages in failed calls");
        Assert.True(duplicates <= atRisk, $"{duplicates} duplicate deliveries, only {atRisk} messages were in doubt");
        Assert.Equal(0, stats.Depth);
        Assert.Equal(0, stats.DeadLettered);
    }

    [Fact]
    public async Task Lock_never_has_two_holders_under_terminated_backends_and_a_postgres_crash()
    {
        var grains = fixture.Cluster.Grains;
        var faults = new PostgresFaults(fixture.Postgres, output);
        var errors = new ClientErrors();
        var name = Prefix("lock");
        var resource = grains.GetGrain<IFencedResourceGrain>(name);
        var history = new LockHistory();
        var stale = 0;
        var acquireErrors = 0;
        using var stop = new CancellationTokenSource();

        async Task ClientAsync(int c)
        {
            var locks = new DistributedLocks(grains, new DistributedLockOptions { Owner = "client-" + c, CallTimeout = TimeSpan.FromSeconds(10), TransientRetryWindow = TimeSpan.FromSeconds(30) });
            while (!stop.IsCancellationRequested)
            {
                LockHandle lease;
                try
                {
                    lease = await locks.AcquireAsync(name, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30));
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    errors.Record(ex);
                    Interlocked.Increment(ref acquireErrors);
                    continue;
                }

                var granted = history.Now;
                TimeSpan? lostAt = null;
                using var onLost = lease.LeaseLost.Register(() => lostAt ??= history.Now);
                try
                {
                    while (!lease.IsLost)
                    {
                        try
                        {
                            await resource.WriteAsync(lease.Token, lease.Lease.Owner).WaitAsync(CallTimeout);
                            break;
                        }
                        catch (StaleTokenException)
                        {
                            Interlocked.Increment(ref stale);
                            break;
                        }
                        catch (Exception ex) when (ex is not OutOfMemoryException)
                        {
                            errors.Record(ex);
                        }
                    }

                    var end = history.Now;
                    history.Record(lease.Lease.Owner, lease.Token, granted, lostAt is { } l && l < end ? l : end);
                }
                finally
                {
                    try
                    {
                        // A release that fails leaves the lease to run out: it was recorded as ending here.
                        await lease.DisposeAsync();
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        errors.Record(ex);
                    }
                }
            }
        }

        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(() => ClientAsync(c))).ToList();
        var restartedAt = TimeSpan.Zero;
        var schedule = await faults.RunScheduleAsync(() => history.Entries.Count, 20, "grants", PhaseBound, () => restartedAt = history.Now);
        var duringTerminations = schedule.DuringTerminations;
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(PhaseBound);

        var entries = history.Entries;
        var overlaps = history.Overlaps();
        var firstAfter = entries.FirstOrDefault(e => e.GrantedAt > restartedAt)?.GrantedAt - restartedAt;
        output.WriteLine(faults.Describe());
        output.WriteLine($"grants {entries.Count} ({duringTerminations} while backends were terminated), overlaps {overlaps.Count}, token order violations {history.TokenOrderViolations()}, stale fenced writes {stale}, acquires failed {acquireErrors}; first grant {firstAfter?.TotalSeconds:F1} s after the restart");
        output.WriteLine($"errors seen by clients: {errors.Describe()}");
        foreach (var (a, b) in overlaps.Take(5))
        {
            output.WriteLine($"  overlap: {a} / {b}");
        }

        Assert.True(faults.BackendsTerminated > 0 && faults.Crashes == 1, faults.Describe());
        Assert.Empty(overlaps);
        Assert.Equal(0, history.TokenOrderViolations());
        Assert.Equal(0, stale);
        Assert.True(duringTerminations > 0, "no grant while backends were being terminated");
    }

    [Fact]
    public async Task Write_through_cache_loses_no_acknowledged_write_under_terminated_backends_and_a_postgres_crash()
    {
        var grains = fixture.Cluster.Grains;
        var faults = new PostgresFaults(fixture.Postgres, output);
        var errors = new ClientErrors();
        await using var cache = await RetriedAsync(() => CacheClient.CreateAsync(grains, Prefix("orders"), 4, new CacheSettings(CachePersistence.WriteThrough, EvictionPolicy.NoEviction)));
        var acked = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var failedCalls = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var seq = 0; !stop.IsCancellationRequested; seq++)
            {
                var key = string.Create(CultureInfo.InvariantCulture, $"w{writer}-{seq}");
                var value = "value-" + key;

                // A retry writes the same key and value: idempotent.
                var set = await errors.UntilSuccessAsync(async () =>
                    {
                        await cache.SetAsync(key, value);
                        return true;
                    }, () => !stop.IsCancellationRequested, CallTimeout);
                if (set.Failures > 0)
                {
                    failedCalls[key] = value;
                }

                if (set.Succeeded)
                {
                    acked[key] = value;
                }
            }
        }

        var writers = Enumerable.Range(0, 6).Select(w => Task.Run(() => WriteAsync(w))).ToList();
        await faults.RunScheduleAsync(() => acked.Count, 300, "acknowledged writes", PhaseBound);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        // Read back every acknowledged key, and every key whose call failed and was never acknowledged.
        var lost = new List<string>();
        foreach (var chunk in acked.Keys.Chunk(500))
        {
            var values = await RetriedAsync(() => cache.ExecuteAsync(["MGET", .. chunk]));
            lost.AddRange(chunk.Where((key, i) => values.Items![i].Text != acked[key]).Select(key => $"{key}: read {values.Items![Array.IndexOf(chunk, key)].Text ?? "(nil)"}"));
        }

        var unacknowledged = failedCalls.Keys.Where(k => !acked.ContainsKey(k)).ToArray();
        var storedUnacknowledged = 0;
        if (unacknowledged.Length > 0)
        {
            var values = await RetriedAsync(() => cache.ExecuteAsync(["MGET", .. unacknowledged]));
            storedUnacknowledged = values.Items!.Count(v => !v.IsNil);
        }

        output.WriteLine(faults.Describe());
        output.WriteLine($"acknowledged {acked.Count}, lost {lost.Count}; keys whose SET failed {failedCalls.Count} (never acknowledged {unacknowledged.Length}, of which stored anyway {storedUnacknowledged})");
        output.WriteLine($"errors seen by clients: {errors.Describe()}");
        foreach (var line in lost.Take(10))
        {
            output.WriteLine("  lost: " + line);
        }

        Assert.True(faults.BackendsTerminated > 0 && faults.Crashes == 1, faults.Describe());
        Assert.Empty(lost);
        Assert.True(unacknowledged.Length <= 6, $"{unacknowledged.Length} writes left unacknowledged; at most one per writer can be cut short by the stop");
        Assert.True(storedUnacknowledged <= unacknowledged.Length);
    }

    [Fact]
    public async Task Money_is_conserved_under_terminated_backends_and_a_postgres_crash()
    {
        const int Accounts = 20;
        const long Opening = 10_000;
        var grains = fixture.Cluster.Grains;
        var faults = new PostgresFaults(fixture.Postgres, output);
        var errors = new ClientErrors();
        var prefix = Prefix("tx");
        var accounts = Enumerable.Range(0, Accounts).Select(i => string.Create(CultureInfo.InvariantCulture, $"{prefix}-a{i}")).ToList();
        await RetriedAsync(() => Task.WhenAll(accounts.Select(a => grains.GetGrain<IAccountGrain>(a).OpenAsync(Opening))));

        var outcomes = new ConcurrentDictionary<string, (TxRequest Request, TxOutcome Outcome, int FailedAttempts)>(StringComparer.Ordinal);
        var started = 0;
        var random = new Random(2026);
        var randomGate = new Lock();
        using var stop = new CancellationTokenSource();

        async Task ClientAsync(int c)
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var id = string.Create(CultureInfo.InvariantCulture, $"{prefix}-t{c}-{n}");
                TxRequest request;
                lock (randomGate)
                {
                    var from = random.Next(Accounts);
                    request = TransactionClient.TransferRequest(accounts[from], accounts[(from + 1 + random.Next(Accounts - 1)) % Accounts], random.Next(1, 3_000));
                }

                Interlocked.Increment(ref started);
                var deadline = Stopwatch.StartNew();
                var attempt = 0;

                // Unknown outcome: retry the same id with the same content (idempotent).
                var run = await errors.UntilSuccessAsync(
                    () => grains.GetGrain<ITwoPhaseCommitExecutorGrain>(0).ExecuteAsync(id, request, freshId: attempt++ == 0),
                    () => deadline.Elapsed < PhaseBound,
                    CallTimeout);
                if (run.Succeeded)
                {
                    outcomes[id] = (request, run.Result!.Outcome, run.Failures);
                }
            }
        }

        var clients = Enumerable.Range(0, 12).Select(c => Task.Run(() => ClientAsync(c))).ToList();
        await faults.RunScheduleAsync(() => outcomes.Count, 60, "transactions", PhaseBound);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        // Recovery window: nothing may stay prepared.
        var participants = accounts.Select(a => grains.GetGrain<IAccountGrain>(a)).ToList();
        async Task<List<ParticipantTxView>?> LedgersAsync()
        {
            try
            {
                return [.. (await Task.WhenAll(participants.Select(p => p.GetTransactionsAsync()))).SelectMany(l => l)];
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                errors.Record(ex);
                return null;
            }
        }

        var ledgers = (await Eventually.ValueAsync("no transaction left prepared", LedgersAsync, l => l is not null && !l.Any(t => t.Status == "Prepared"), PhaseBound, TimeSpan.FromMilliseconds(500)))!;
        var prepared = ledgers.Count(t => t.Status == "Prepared");

        var byTx = ledgers.GroupBy(t => t.TransactionId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(t => t.Status).ToList(), StringComparer.Ordinal);
        var expected = accounts.ToDictionary(a => a, _ => Opening, StringComparer.Ordinal);
        int committed = 0, mixed = 0, mismatched = 0, recovered = 0;
        foreach (var (id, (request, outcome, failedAttempts)) in outcomes)
        {
            var statuses = byTx.GetValueOrDefault(id) ?? [];
            var allCommitted = statuses.Count == request.Steps.Count && statuses.All(s => s == "Committed");
            mixed += !allCommitted && statuses.Any(s => s == "Committed") ? 1 : 0;
            mismatched += (outcome == TxOutcome.Committed) != allCommitted ? 1 : 0;
            recovered += failedAttempts > 0 ? 1 : 0;
            if (allCommitted)
            {
                committed++;
                foreach (var step in request.Steps)
                {
                    expected[step.Participant.Key] += step.Operation switch { Debit d => -d.Amount, Credit cr => cr.Amount, _ => 0 };
                }
            }
        }

        var balances = await RetriedAsync(() => Task.WhenAll(participants.Select(p => p.GetAsync())));
        var total = balances.Sum(b => b.Balance);
        var wrong = balances.Count(b => b.Balance != expected[b.Key]);
        output.WriteLine(faults.Describe());
        output.WriteLine($"transactions started {started}, with an outcome {outcomes.Count} (committed {committed}), outcome found by retrying the id after an error {recovered}, unknown at the end {started - outcomes.Count}");
        output.WriteLine($"money {Accounts * Opening} -> {total}; wrong balances {wrong}; negative {balances.Count(b => b.Balance < 0)}; mixed outcomes {mixed}; client/participant mismatches {mismatched}; still prepared {prepared}");
        output.WriteLine($"errors seen by clients: {errors.Describe()}");

        Assert.True(faults.BackendsTerminated > 0 && faults.Crashes == 1, faults.Describe());
        Assert.Equal(Accounts * Opening, total);
        Assert.Equal(0, wrong);
        Assert.All(balances, b => Assert.True(b.Balance >= 0 && b.Held == 0 && b.PendingCredits == 0, $"{b.Key}: {b}"));
        Assert.Equal(0, mixed);
        Assert.Equal(0, mismatched);
        Assert.Equal(0, prepared);
        Assert.Equal(started, outcomes.Count);
        Assert.True(recovered <= outcomes.Count(o => o.Value.FailedAttempts > 0));
    }

    [Fact]
    public async Task Every_task_ends_terminal_under_terminated_backends_and_a_postgres_crash()
    {
        const int Submitters = 8;
        var grains = fixture.Cluster.Grains;
        var faults = new PostgresFaults(fixture.Postgres, output);
        var errors = new ClientErrors();
        var client = new TaskClient(grains);
        var prefix = Prefix("tasks");
        var submitted = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var submitErrors = 0;
        using var stop = new CancellationTokenSource();

        // Submission runs through the faults: each id is fixed before its first attempt, so a retry is the same task.
        async Task SubmitAsync(int submitter)
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var id = string.Create(CultureInfo.InvariantCulture, $"{prefix}-{submitter}-{n}");
                var submission = new TaskSubmission("sleep", "[200]") { MaxRetries = 4, BackoffBase = TimeSpan.FromMilliseconds(100), BackoffCap = TimeSpan.FromSeconds(1) };
                var deadline = Stopwatch.StartNew();
                var submit = await errors.UntilSuccessAsync(() => client.SubmitWithIdAsync(id, submission), () => deadline.Elapsed < PhaseBound, CallTimeout);
                Interlocked.Add(ref submitErrors, submit.Failures);
                if (submit.Succeeded)
                {
                    submitted[id] = true;
                }

                await Task.Delay(50); // the load under test: a steady stream of submissions, paced so that runs, not submissions, fill the worker slots
            }
        }

        var submitters = Enumerable.Range(0, Submitters).Select(s => Task.Run(() => SubmitAsync(s))).ToList();
        await faults.RunScheduleAsync(() => submitted.Count, 50, "tasks submitted", PhaseBound);
        await stop.CancelAsync();
        await Task.WhenAll(submitters);

        var latest = new ConcurrentDictionary<string, TaskInfo>(StringComparer.Ordinal);
        async Task<int> TerminalAsync()
        {
            await Parallel.ForEachAsync(submitted.Keys.Where(id => !latest.TryGetValue(id, out var t) || !t.IsTerminal), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, _) =>
            {
                try
                {
                    latest[id] = await client.GetAsync(id).WaitAsync(CallTimeout);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    errors.Record(ex);
                }
            });
            return latest.Count(t => t.Value.IsTerminal);
        }

        await Eventually.ValueAsync("every submitted task terminal", TerminalAsync, n => n >= submitted.Count, PhaseBound * 2, TimeSpan.FromMilliseconds(500));

        var final = latest.Values.ToList();
        var redelivered = final.Sum(t => t.Redeliveries);
        var capacity = 2 * 8; // two silos' workers, WorkerCapacity 8
        var inDoubtBound = capacity * (faults.TerminationRounds + faults.Crashes);
        output.WriteLine(faults.Describe());
        output.WriteLine($"submitted {submitted.Count} ({submitErrors} submit calls failed and were retried), terminal {final.Count(t => t.IsTerminal)}, succeeded {final.Count(t => t.State == TaskState.Succeeded)}, dead-lettered {final.Count(t => t.State == TaskState.DeadLettered)}");
        output.WriteLine($"runs {final.Sum(t => t.Attempts)}: retries {final.Sum(t => t.Retries)}, re-dispatched after a lost lease {redelivered} (bound: {inDoubtBound} = worker slots x faults)");
        output.WriteLine($"errors seen by clients: {errors.Describe()}");

        Assert.True(faults.BackendsTerminated > 0 && faults.Crashes == 1, faults.Describe());
        Assert.Equal(submitted.Count, final.Count);
        Assert.All(final, t => Assert.True(t.IsTerminal, $"{t.Id} is {t.State}"));
        Assert.All(final, t => Assert.Equal(1 + t.Retries + t.Redeliveries, t.Attempts));
        Assert.All(final, t => Assert.Equal(TaskState.Succeeded, t.State));
        Assert.True(redelivered <= inDoubtBound, $"{redelivered} re-dispatches, at most {inDoubtBound} runs could have been in flight at a fault");
    }

    private static string Prefix(string what) => what + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Set-up and read-back calls: retried on retryable errors until they succeed (bounded).</summary>
    private static Task<T> RetriedAsync<T>(Func<Task<T>> call)
        => Eventually.SucceedsAsync("a set-up or read-back call", () => call().WaitAsync(CallTimeout), PhaseBound, IsRetryable, RetryPause);

    /// <inheritdoc cref="RetriedAsync{T}(Func{Task{T}})"/>
    private static Task RetriedAsync(Func<Task> call)
        => Eventually.SucceedsAsync("a set-up or read-back call", () => call().WaitAsync(CallTimeout), PhaseBound, IsRetryable, RetryPause);

    private static bool IsRetryable(Exception ex) => ex is GranaryException { IsRetryable: true } or TimeoutException or OrleansException;
}
