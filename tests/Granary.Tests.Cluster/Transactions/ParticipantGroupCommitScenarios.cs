using System.Globalization;
using Granary.Client.Transactions;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// Group commit at a participant: concurrent prepares on one account share state writes and every hold is kept; written once and run on every storage backend
/// (<see cref="ParticipantGroupCommitScenariosOnMemory"/>, <see cref="ParticipantGroupCommitScenariosOnPostgres"/>).
/// </summary>
public abstract class ParticipantGroupCommitScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private const int Prepares = 40;
    private const string StateName = "tx-account";

    [Fact]
    public async Task Concurrent_prepares_on_one_account_share_writes_and_every_hold_is_kept()
    {
        // Whether writes are shared depends on how the burst arrives (a write that completes before
        // the next prepare lands is not shared), which a loaded machine can spread out: the burst is
        // repeated on a fresh account, at most five times, until one shares writes. Every burst
        // must keep every hold.
        IAccountGrain account = null!;
        List<string> ids = [];
        var writes = 0L;
        for (var burst = 1; burst <= 5; burst++)
        {
            account = fixture.SiloGrains.GetGrain<IAccountGrain>("gc-" + Guid.NewGuid().ToString("N")[..8]);
            var opened = await account.OpenAsync(100);
            ids = Enumerable.Range(0, Prepares).Select(_ => TransactionClient.NewId()).ToList();

            // 40 prepares of 2 each, all at once: 80 of the 100 held.
            var votes = await Task.WhenAll(ids.Select(id => account.PrepareAsync(id, new Debit(2))));
            var prepared = await account.GetAsync();
            writes = prepared.StateWrites - opened.StateWrites;
            output.WriteLine($"burst {burst}: {Prepares} concurrent prepares: {votes.Count(v => v.Yes)} yes, {writes} state writes, held {prepared.Held}");

            Assert.All(votes, v => Assert.True(v.Yes, v.Reason));
            Assert.Equal(80, prepared.Held);
            Assert.Equal(Prepares, prepared.Prepared);
            Assert.InRange(writes, 1, Prepares);
            if (writes < Prepares)
            {
                break;
            }
        }

        Assert.True(writes < Prepares, $"no burst of {Prepares} concurrent prepares shared a state write");

        // Holds are counted across the interleaved prepares: 30 more cannot be held, 20 can.
        Assert.False((await account.PrepareAsync(TransactionClient.NewId(), new Debit(30))).Yes);
        var duplicate = await account.PrepareAsync(ids[0], new Debit(2));
        Assert.True(duplicate.Yes);
        Assert.Equal(nameof(ParticipantStatus.Prepared), duplicate.Known);

        // Commit half and abort half, concurrently: 40 paid, the rest released, nothing left held.
        await Task.WhenAll(ids.Select((id, i) => i % 2 == 0 ? account.CommitAsync(id) : account.AbortAsync(id)));
        var done = await account.GetAsync();
        output.WriteLine($"after 20 commits and 20 aborts: balance {done.Balance}, held {done.Held}, prepared {done.Prepared}");
        Assert.Equal(60, done.Balance);
        Assert.Equal(0, done.Held);
        Assert.Equal(0, done.Prepared);
        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            Assert.Equal(i % 2 == 0 ? "Committed" : "Aborted", (await account.GetTransactionAsync(id))!.Status);
        }
    }

    [Fact]
    public async Task Concurrent_transfers_through_one_hot_account_conserve_money()
    {
        var hot = "hot-" + Guid.NewGuid().ToString("N")[..8];
        var others = Enumerable.Range(0, 8).Select(i => $"{hot}-{i}").ToList();
        await fixture.Grains.GetGrain<IAccountGrain>(hot).OpenAsync(1_000);
        foreach (var o in others)
        {
            await fixture.Grains.GetGrain<IAccountGrain>(o).OpenAsync(100);
        }

        var tx = new TransactionClient(fixture.Grains);
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            var other = others[i % others.Count];
            try
            {
                await (i % 2 == 0 ? tx.TransferAsync(hot, other, 7) : tx.TransferAsync(other, hot, 5));
                return true;
            }
            catch (TransactionAbortedException)
            {
                return false;
            }
        }));

        var balances = await Task.WhenAll(others.Append(hot).Select(k => fixture.Grains.GetGrain<IAccountGrain>(k).GetAsync()));
        output.WriteLine($"64 transfers through one account: {results.Count(r => r)} committed; hot account made {balances[^1].StateWrites} state writes");
        Assert.Equal(1_000 + (others.Count * 100), balances.Sum(b => b.Balance));
        Assert.All(balances, b => Assert.True(b.Balance >= 0 && b.Held == 0 && b.Prepared == 0, $"{b.Key}: balance {b.Balance}, held {b.Held}, prepared {b.Prepared}"));
        Assert.True(results.Count(r => r) > 0);
    }

    [Fact]
    public async Task Outcomes_stored_as_texts_by_an_earlier_build_are_read_and_the_next_write_stores_them_as_one_block()
    {
        // An account's row as an earlier build wrote it: its outcomes as one text each (a packed one and one of the first form).
        var name = "form-" + Guid.NewGuid().ToString("N")[..8];
        var storage = ((InProcessSiloHandle)fixture.Cluster.Silos[0]).SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(GranaryStorage.Default);
        var row = GrainId.Create("granary.transactions.account", name);
        var at = DateTimeOffset.UtcNow.AddSeconds(-1);
        var committed = TransactionClient.NewId();
        var aborted = "earlier-" + name;
        await storage.WriteStateAsync(StateName, row, new GrainState<AccountState>(new AccountState
        {
            Open = true,
            Balance = 100,
            Outcomes =
            [
                ParticipantOutcomeCodec.Encode(new ParticipantEntry(committed, "debit 5", ParticipantStatus.Committed, at, null)),
                string.Create(CultureInfo.InvariantCulture, $"A{at.ToUnixTimeMilliseconds()}:7:debit 3{aborted}"),
            ],
        }));

        var account = fixture.SiloGrains.GetGrain<IAccountGrain>(name);
        Assert.Equal(nameof(ParticipantStatus.Committed), (await account.GetTransactionAsync(committed))?.Status);
        Assert.Equal(nameof(ParticipantStatus.Aborted), (await account.GetTransactionAsync(aborted))?.Status);

        // A prepare is durable before its vote: that write holds the outcomes as one block and no texts.
        var open = TransactionClient.NewId();
        Assert.True((await account.PrepareAsync(open, new Debit(10))).Yes);
        var stored = new GrainState<AccountState>();
        await storage.ReadStateAsync(StateName, row, stored);
        Assert.NotNull(stored.State);
        Assert.Empty(stored.State.Outcomes);
        Assert.Equal([aborted, committed], ParticipantOutcomeCodec.DecodeBlock(stored.State.OutcomeBlock).Select(e => e.TransactionId).Order(StringComparer.Ordinal));

        // A fresh activation reads them back from the block.
        await fixture.SiloGrains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero); // not open to clients
        Assert.Equal(nameof(ParticipantStatus.Committed), (await account.GetTransactionAsync(committed))?.Status);
        Assert.Equal(nameof(ParticipantStatus.Aborted), (await account.GetTransactionAsync(aborted))?.Status);
        Assert.Equal(nameof(ParticipantStatus.Prepared), (await account.GetTransactionAsync(open))?.Status);
        Assert.False((await account.PrepareAsync(aborted, new Debit(3))).Yes);
        await account.AbortAsync(open);
        Assert.Equal(0, (await account.GetAsync()).Held);
    }
}

/// <summary>The participant group commit scenarios on memory storage.</summary>
[Collection(TransactionsClusterCollection.Name)]
public sealed class ParticipantGroupCommitScenariosOnMemory(TransactionsClusterFixture cluster, ITestOutputHelper output) : ParticipantGroupCommitScenarios(cluster, output);

/// <summary>The participant group commit scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class ParticipantGroupCommitScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : ParticipantGroupCommitScenarios(cluster, output);
