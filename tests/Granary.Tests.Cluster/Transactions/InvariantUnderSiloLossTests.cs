using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Granary.Client.Transactions;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// Invariant under silo loss: concurrent random transfers and checkouts on three TestCluster silo processes with
/// state on PostgreSQL shards; mid-run the silo hosting an in-flight coordinator and another
/// hosting participants are SIGKILLed and replaced. Afterwards money is conserved, nothing is
/// negative, every transaction has one outcome at all its participants, and nothing stays prepared.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class InvariantUnderSiloLossTests(SharedServersFixture servers, ITestOutputHelper output)
{
    private const int Accounts = 50;
    private const int Transfers = 1_000;
    private const int Checkouts = 60;
    private const int Concurrency = 32;
    private const long Opening = 10_000;
    private const int Skus = 4;
    private const int OpeningStock = 40;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ClientDeadline = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan RecoveryWindow = TimeSpan.FromSeconds(60);

    private sealed record Planned(string Id, TxRequest Request, bool IsCheckout)
    {
        public bool ViaExecutor { get; init; }
    }

    private sealed class Observed
    {
        public TxOutcome? Outcome { get; set; }

        public int FailedAttempts { get; set; }

        public string? LastError { get; set; }
    }

    [Fact]
    public async Task Money_is_conserved_and_every_transaction_has_one_outcome_after_sigkills()
    {
        var prefix = "txinv" + Guid.NewGuid().ToString("N")[..6];
        var shards = Enumerable.Range(0, 3).Select(i => servers.Postgres.ConnectionString($"{prefix}_shard_{i}")).ToList();
        var startClock = Stopwatch.StartNew();
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneClusterOptions
        {
            RedisConnectionString = servers.Redis.ConnectionString,
            Shards = shards,
            Silos = 3,
            Settings = new Dictionary<string, string>
            {
                ["Granary:Transactions:PrepareTimeout"] = "00:00:03",
                ["Granary:Transactions:PreparedTimeout"] = "00:00:04",
                ["Granary:Transactions:InquiryInterval"] = "00:00:01",
                ["Granary:Transactions:CallTimeout"] = "00:00:03",
                ["Granary:Transactions:PhaseTwoBudget"] = "00:00:06",
                ["Granary:Transactions:RetryMax"] = "00:00:01",
                ["Granary:Transactions:RecoveryScanInterval"] = "00:00:02",
                ["Granary:Transactions:OutcomeRetention"] = "01:00:00",
                ["Granary:Transactions:MaxRememberedOutcomes"] = "100000",
            },
        });
        var grains = cluster.Grains;
        var total = Stopwatch.StartNew();
        output.WriteLine($"cluster of 3 silo processes started in {startClock.Elapsed.TotalSeconds:F1} s");

        // Set-up: accounts, a till that receives checkout payments, stock.
        var accounts = Enumerable.Range(0, Accounts).Select(i => string.Create(CultureInfo.InvariantCulture, $"{prefix}-a{i}")).ToList();
        var till = $"{prefix}-till";
        var shop = $"{prefix}-shop";
        var skus = Enumerable.Range(0, Skus).Select(i => string.Create(CultureInfo.InvariantCulture, $"sku{i}")).ToList();
        await Task.WhenAll(accounts.Select(a => grains.GetGrain<IAccountGrain>(a).OpenAsync(Opening)));
        await grains.GetGrain<IAccountGrain>(till).OpenAsync(0);
        await Task.WhenAll(skus.Select(s => grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, s)).SetStockAsync(s, OpeningStock)));
        var moneyBefore = Accounts * Opening;
        output.WriteLine($"[{total.Elapsed.TotalSeconds:F1} s] accounts and stock set up");

        // The plan: random transfers, and checkouts (take stock, debit a wallet, credit the till).
        var random = new Random(20261126);
        var plan = new List<Planned>();
        for (var i = 0; i < Transfers; i++)
        {
            var from = random.Next(Accounts);
            var to = (from + 1 + random.Next(Accounts - 1)) % Accounts;
            plan.Add(new Planned($"{prefix}-t{i}", TransactionClient.TransferRequest(accounts[from], accounts[to], random.Next(1, 3_000)), false));
            if (i % (Transfers / Checkouts) == 0 && plan.Count(p => p.IsCheckout) < Checkouts)
            {
                var sku = skus[random.Next(Skus)];
                var price = random.Next(100, 1_000);
                plan.Add(new Planned($"{prefix}-c{i}", new TxRequest(
                [
                    new TxStep(ParticipantRef.Inventory(TransactionClient.StockKey(shop, sku)), new TakeStock(sku, random.Next(1, 4))),
                    new TxStep(ParticipantRef.Account(accounts[random.Next(Accounts)]), new Debit(price)),
                    new TxStep(ParticipantRef.Account(till), new Credit(price)),
                ]), true));
            }
        }

        plan = plan.Select((p, i) => p with { ViaExecutor = i % 2 == 0 }).ToList();
        var observed = plan.ToDictionary(p => p.Id, _ => new Observed(), StringComparer.Ordinal);
        var inFlight = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        var started = 0;
        var killed = new List<string>();
        var stockLow = int.MaxValue;
        using var gate = new SemaphoreSlim(Concurrency);
        var killAt = plan.Count / 3;
        var killTask = Task.CompletedTask;

        async Task RunOneAsync(Planned p)
        {
            var o = observed[p.Id];
            var clock = Stopwatch.StartNew();
            inFlight[p.Id] = 0;
            try
            {
                // Unknown outcome: retry the same id with the same content (idempotent).
                var result = await Eventually.SucceedsAsync(
                    "an outcome for " + p.Id,
                    async () =>
                    {
                        try
                        {
                            // Both entry points: the executor (the SDK's path, no grain per transaction)
                            // for even-numbered plans, the per-transaction coordinator grain for the rest.
                            return p.ViaExecutor
                                ? await grains.GetGrain<ITwoPhaseCommitExecutorGrain>(0).ExecuteAsync(p.Id, p.Request, freshId: o.FailedAttempts == 0).WaitAsync(CallTimeout)
                                : await grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(p.Id).ExecuteAsync(p.Request).WaitAsync(CallTimeout);
                        }
                        catch (Exception ex) when (ex is not OutOfMemoryException)
                        {
                            o.FailedAttempts++;
                            o.LastError = ex.GetType().Name + ": " + ex.Message;
                            throw;
                        }
                    },
                    ClientDeadline - clock.Elapsed,
                    ex => ex is not OutOfMemoryException,
                    TimeSpan.FromMilliseconds(250));
                o.Outcome = result.Outcome;
            }
            catch (TimeoutException)
            {
                // No outcome within the client's deadline: counted as unknown at the client below.
            }
            finally
            {
                inFlight.TryRemove(p.Id, out _);
            }
        }

        async Task KillAsync()
        {
            // The silo hosting an in-flight coordinator, then one hosting participants.
            StandaloneSilo? coordinatorHost = null;
            foreach (var id in inFlight.Keys.Where(id => !plan.First(p => p.Id == id).ViaExecutor).Take(20))
            {
                coordinatorHost = await cluster.FindHostAsync(grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(id));
                if (coordinatorHost is not null)
                {
                    break;
                }
            }

            coordinatorHost ??= cluster.Silos.First(s => s.IsAlive);
            StandaloneSilo? participantHost = null;
            foreach (var a in accounts)
            {
                var host = await cluster.FindHostAsync(grains.GetGrain<IAccountGrain>(a));
                if (host is not null && host.Index != coordinatorHost.Index)
                {
                    participantHost = host;
                    break;
                }
            }

            killed.Add($"{coordinatorHost} (coordinators)");
            if (participantHost is not null)
            {
                killed.Add($"{participantHost} (participants)");
            }

            await cluster.KillAsync(participantHost is null ? [coordinatorHost] : [coordinatorHost, participantHost]);

            output.WriteLine($"[{total.Elapsed.TotalSeconds:F1} s] SIGKILL {string.Join(" and ", killed)} with {inFlight.Count} transactions in flight");
            for (var i = 0; i < 2; i++)
            {
                try
                {
                    await cluster.AddSiloAsync();
                    output.WriteLine($"[{total.Elapsed.TotalSeconds:F1} s] replacement silo active");
                }
                catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
                {
                    // On an overloaded machine a new silo can be slow to join, or give up joining
                    // (membership refresh timeout). The invariants must hold either way.
                    output.WriteLine($"[{total.Elapsed.TotalSeconds:F1} s] replacement silo not active: {ex.Message.Split('\n')[0]}");
                }
            }
        }

        var runClock = Stopwatch.StartNew();
        var tasks = new List<Task>();
        foreach (var p in plan)
        {
            await gate.WaitAsync();
            if (Interlocked.Increment(ref started) == killAt)
            {
                killTask = KillAsync();
            }

            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await RunOneAsync(p);
                }
                finally
                {
                    gate.Release();
                }
            }));
            if (started % 100 == 0)
            {
                // Sample stock while the run is going (it must never be negative).
                try
                {
                    var s = await grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, skus[0])).GetAsync().WaitAsync(TimeSpan.FromSeconds(2));
                    stockLow = Math.Min(stockLow, s.Stock[skus[0]]);
                }
                catch (Exception ex) when (ClientRetry.IsTransient(ex))
                {
                    // Sampling is best effort while silos die.
                }
            }
        }

        await Task.WhenAll(tasks);
        await killTask;
        var runSeconds = runClock.Elapsed.TotalSeconds;

        // Recovery window: poll until no participant is prepared.
        var participants = accounts.Append(till).Select(a => (ITransactionParticipant)grains.GetGrain<IAccountGrain>(a))
            .Concat(skus.Select(s => (ITransactionParticipant)grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, s))))
            .ToList();
        var recoveryClock = Stopwatch.StartNew();
        Dictionary<ITransactionParticipant, IReadOnlyList<ParticipantTxView>> ledgers = [];
        async Task<int> StillPreparedAsync()
        {
            try
            {
                ledgers = [];
                foreach (var p in participants)
                {
                    ledgers[p] = await p.GetTransactionsAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }

                return ledgers.Values.Sum(l => l.Count(t => t.Status == "Prepared"));
            }
            catch (Exception ex) when (ClientRetry.IsTransient(ex))
            {
                return int.MaxValue; // A silo is still being declared dead; try again.
            }
        }

        var stillPrepared = await Eventually.ValueAsync("no participant holds a prepared transaction (prepared count)", StillPreparedAsync, n => n == 0, RecoveryWindow, TimeSpan.FromMilliseconds(500));

        output.WriteLine($"run: {plan.Count} transactions ({Transfers} transfers, {plan.Count(p => p.IsCheckout)} checkouts), {Concurrency} concurrent, {runSeconds:F1} s; recovery window used {recoveryClock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(0, stillPrepared);

        // Outcomes per transaction at its participants.
        var byTx = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (_, ledger) in ledgers)
        {
            foreach (var t in ledger)
            {
                if (!byTx.TryGetValue(t.TransactionId, out var list))
                {
                    byTx[t.TransactionId] = list = [];
                }

                list.Add(t.Status);
            }
        }

        int committed = 0, aborted = 0, recovered = 0, mixed = 0, clientMismatch = 0, unknownAtClient = 0;
        foreach (var p in plan)
        {
            var statuses = byTx.GetValueOrDefault(p.Id) ?? [];
            var allCommitted = statuses.Count == p.Request.Steps.Count && statuses.All(s => s == "Committed");
            var noneCommitted = statuses.All(s => s != "Committed");
            if (!allCommitted && !noneCommitted)
            {
                mixed++;
                output.WriteLine($"MIXED {p.Id}: {string.Join(",", statuses)}");
            }

            committed += allCommitted ? 1 : 0;
            aborted += noneCommitted ? 1 : 0;
            var o = observed[p.Id];
            if (o.Outcome is null)
            {
                unknownAtClient++;
            }
            else if ((o.Outcome == TxOutcome.Committed) != allCommitted)
            {
                clientMismatch++;
                output.WriteLine($"CLIENT MISMATCH {p.Id}: client saw {o.Outcome}, participants {string.Join(",", statuses)}");
            }

            recovered += o.FailedAttempts > 0 && o.Outcome is not null ? 1 : 0;
        }

        // Balances must equal opening balances plus the committed operations, and sum to the opening total.
        var expected = accounts.Append(till).ToDictionary(a => a, a => a == till ? 0L : Opening, StringComparer.Ordinal);
        var expectedStock = skus.ToDictionary(s => s, _ => OpeningStock, StringComparer.Ordinal);
        foreach (var p in plan.Where(p => byTx.GetValueOrDefault(p.Id) is { } s && s.Count == p.Request.Steps.Count && s.All(x => x == "Committed")))
        {
            foreach (var step in p.Request.Steps)
            {
                switch (step.Operation)
                {
                    case Debit d:
                        expected[step.Participant.Key] -= d.Amount;
                        break;
                    case Credit c:
                        expected[step.Participant.Key] += c.Amount;
                        break;
                    case TakeStock t:
                        expectedStock[t.Sku] -= t.Quantity;
                        break;
                }
            }
        }

        var balances = await Task.WhenAll(accounts.Append(till).Select(a => grains.GetGrain<IAccountGrain>(a).GetAsync()));
        var stock = await Task.WhenAll(skus.Select(s => grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, s)).GetAsync()));
        var moneyAfter = balances.Sum(b => b.Balance);
        var negative = balances.Count(b => b.Balance < 0);
        var wrongBalance = balances.Count(b => b.Balance != expected[b.Key]);
        var stockFinal = stock.Select(s => s.Stock.Values.Single()).ToList();
        var wrongStock = stock.Count(s => s.Stock.Single().Value != expectedStock[s.Stock.Single().Key]);
        var stuck = 0;
        for (var b = 0; b < ITransactionRecoveryGrain.Buckets; b++)
        {
            stuck += (await grains.GetGrain<ITransactionRecoveryGrain>(b).ListAsync()).Count;
        }

        output.WriteLine($"killed: {string.Join("; ", killed)}");
        output.WriteLine($"committed {committed}, aborted {aborted}, recovered (client call failed, outcome found by retrying the id) {recovered}, unknown at client {unknownAtClient}");
        output.WriteLine($"invariant money conserved: {moneyBefore} -> {moneyAfter}: {(moneyBefore == moneyAfter ? "holds" : "BROKEN")}");
        output.WriteLine($"invariant no negative balance: {negative} negative (min {balances.Min(b => b.Balance)}): {(negative == 0 ? "holds" : "BROKEN")}");
        output.WriteLine($"invariant balances equal opening + committed operations: {Accounts + 1 - wrongBalance}/{Accounts + 1} accounts: {(wrongBalance == 0 ? "holds" : "BROKEN")}");
        output.WriteLine($"invariant stock never negative: final {string.Join(",", stockFinal)}, lowest sampled {(stockLow == int.MaxValue ? "n/a" : stockLow.ToString(CultureInfo.InvariantCulture))}, equals opening - committed takes: {(wrongStock == 0 ? "holds" : "BROKEN")}");
        output.WriteLine($"invariant one outcome per transaction at all participants: {mixed} mixed, {clientMismatch} client/participant mismatches: {(mixed + clientMismatch == 0 ? "holds" : "BROKEN")}");
        output.WriteLine($"invariant nothing prepared after the recovery window: {stillPrepared} prepared; recovery registry holds {stuck} unfinished");
        output.WriteLine($"total test time {total.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(2, killed.Count);
        Assert.Equal(5, cluster.Silos.Count); // three started, two killed, two replacements launched
        output.WriteLine($"silos alive at the end: {cluster.Silos.Count(s => s.IsAlive)} of {cluster.Silos.Count}");
        Assert.Equal(moneyBefore, moneyAfter);
        Assert.Equal(0, negative);
        Assert.Equal(0, wrongBalance);
        Assert.Equal(0, wrongStock);
        Assert.All(stockFinal, s => Assert.True(s >= 0));
        Assert.Equal(0, mixed);
        Assert.Equal(0, clientMismatch);
        Assert.True(committed > plan.Count / 3, $"only {committed} committed");
        Assert.All(balances, b => Assert.True(b.Held == 0 && b.PendingCredits == 0));
    }
}
