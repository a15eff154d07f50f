using System.Diagnostics;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// Two-phase commit over account, inventory and coupon grains on an in-process cluster; written once and run on every storage backend
/// (<see cref="TwoPhaseCommitScenariosOnMemory"/>, <see cref="TwoPhaseCommitScenariosOnPostgres"/>).
/// </summary>
public abstract class TwoPhaseCommitScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private readonly TransactionClient _tx = new(fixture.Grains);

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private async Task<(string A, string B)> TwoAccountsAsync(long a, long b)
    {
        var (x, y) = (Unique("acct"), Unique("acct"));
        await fixture.Grains.GetGrain<IAccountGrain>(x).OpenAsync(a);
        await fixture.Grains.GetGrain<IAccountGrain>(y).OpenAsync(b);
        return (x, y);
    }

    private Task<AccountSnapshot> Account(string key) => fixture.Grains.GetGrain<IAccountGrain>(key).GetAsync();

    [Fact]
    public async Task Transfer_commits_at_both_accounts_and_the_record_is_done()
    {
        var (a, b) = await TwoAccountsAsync(1_000, 0);
        var id = TransactionClient.NewId();
        var result = await _tx.TransferAsync(a, b, 300, id);

        Assert.Equal(TxOutcome.Committed, result.Outcome);
        Assert.Equal(0, result.Unacknowledged);
        Assert.Equal(700, (await Account(a)).Balance);
        Assert.Equal(300, (await Account(b)).Balance);
        Assert.Equal(0, (await Account(a)).Held);
        Assert.Equal("Committed", (await fixture.Grains.GetGrain<IAccountGrain>(b).GetTransactionAsync(id))!.Status);

        // The executor wrote the decision into the coordinator grain's row and never activated it; the
        // grain, activated by this status read, finds the decision and confirms it (lazy clean-up).
        var coordinator = fixture.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(id);
        var status = await coordinator.GetStatusAsync();
        Assert.Equal("Commit", status.Decision);
        status = await Eventually.ValueAsync("the coordinator done", () => coordinator.GetStatusAsync(), s => s.Phase == "Done", TimeSpan.FromSeconds(10));
        Assert.Equal("Done", status.Phase);
        Assert.Equal(700, (await Account(a)).Balance);
    }

    [Fact]
    public async Task Insufficient_funds_aborts_with_a_typed_error_and_no_partial_effect()
    {
        var (a, b) = await TwoAccountsAsync(100, 50);
        var id = TransactionClient.NewId();
        var error = await Assert.ThrowsAsync<TransactionAbortedException>(() => _tx.TransferAsync(a, b, 101, id));

        Assert.Equal(TransactionErrorCodes.Insufficient, error.Code);
        Assert.Equal(100, (await Account(a)).Balance);
        Assert.Equal(50, (await Account(b)).Balance);
        Assert.Equal(0, (await Account(b)).PendingCredits);
        Assert.Equal("Aborted", (await fixture.Grains.GetGrain<IAccountGrain>(b).GetTransactionAsync(id))!.Status);
    }

    [Fact]
    public async Task Unknown_account_aborts_with_not_found_and_creates_nothing()
    {
        var (a, _) = await TwoAccountsAsync(100, 0);
        var ghost = Unique("ghost");
        var error = await Assert.ThrowsAsync<TransactionAbortedException>(() => _tx.TransferAsync(a, ghost, 10));

        Assert.True(error.Code == ErrorCodes.NotFound, $"expected NOT_FOUND, got {error.Code}: {error.Message}");
        Assert.Equal(100, (await Account(a)).Balance);
        Assert.False((await Account(ghost)).Exists);
        Assert.Empty(await fixture.Grains.GetGrain<IAccountGrain>(ghost).GetTransactionsAsync());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(long.MaxValue)]
    public async Task Bad_amounts_are_invalid_requests_before_anything_is_sent(long amount)
    {
        var (a, b) = await TwoAccountsAsync(100, 0);
        var request = new TxRequest([new TxStep(ParticipantRef.Account(a), new Debit(amount)), new TxStep(ParticipantRef.Account(b), new Credit(amount))]);
        await Assert.ThrowsAsync<InvalidRequestException>(() => fixture.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(TransactionClient.NewId()).ExecuteAsync(request));
        Assert.Equal(100, (await Account(a)).Balance);
        Assert.Empty(await fixture.Grains.GetGrain<IAccountGrain>(a).GetTransactionsAsync());
    }

    [Fact]
    public async Task A_participant_twice_or_a_wrong_operation_is_an_invalid_request()
    {
        var (a, _) = await TwoAccountsAsync(100, 0);
        var coordinator = fixture.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(TransactionClient.NewId());
        await Assert.ThrowsAsync<InvalidRequestException>(() => coordinator.ExecuteAsync(new TxRequest([new(ParticipantRef.Account(a), new Debit(1)), new(ParticipantRef.Account(a), new Credit(1))])));
        await Assert.ThrowsAsync<InvalidRequestException>(() => coordinator.ExecuteAsync(new TxRequest([new(ParticipantRef.Account(a), new TakeStock("milk", 1))])));
        await Assert.ThrowsAsync<InvalidRequestException>(() => _tx.TransferAsync(a, a, 1));
    }

    [Fact]
    public async Task Overflowing_credit_aborts_with_overflow()
    {
        var (a, b) = await TwoAccountsAsync(10, Limits.Transactions.MaxAmount - 5);
        var error = await Assert.ThrowsAsync<TransactionAbortedException>(() => _tx.TransferAsync(a, b, 10));
        Assert.Equal(TransactionErrorCodes.Overflow, error.Code);
        Assert.Equal(10, (await Account(a)).Balance);
    }

    [Fact]
    public async Task Reusing_an_id_replays_the_same_outcome_and_other_content_is_a_conflict()
    {
        var (a, b) = await TwoAccountsAsync(1_000, 0);
        var id = TransactionClient.NewId();
        var first = await _tx.TransferAsync(a, b, 100, id);
        var again = await _tx.TransferAsync(a, b, 100, id);
        Assert.False(first.Replayed);
        Assert.True(again.Replayed);
        Assert.Equal(900, (await Account(a)).Balance);

        var conflict = await Assert.ThrowsAsync<TransactionConflictException>(() => _tx.TransferAsync(a, b, 999, id));
        Assert.Equal(ErrorCodes.Conflict, conflict.Code);
        Assert.Equal(900, (await Account(a)).Balance);
        Assert.Equal(100, (await Account(b)).Balance);
    }

    [Fact]
    public async Task Checkout_takes_stock_debits_the_wallet_and_redeems_the_coupon_or_restores_everything()
    {
        var shop = Unique("shop");
        var wallet = Unique("wallet");
        var coupon = Unique("coupon");
        await fixture.Grains.GetGrain<IAccountGrain>(wallet).OpenAsync(5_000);
        await fixture.Grains.GetGrain<ICouponGrain>(coupon).IssueAsync(200);
        await fixture.Grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "milk")).SetStockAsync("milk", 3);
        await fixture.Grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "bread")).SetStockAsync("bread", 1);

        var ok = await _tx.CheckoutAsync(wallet, shop, [("milk", 2), ("bread", 1)], 1_000, coupon);
        Assert.Equal(TxOutcome.Committed, ok.Outcome);
        Assert.Equal(4_000, (await Account(wallet)).Balance);
        Assert.Equal(wallet, (await fixture.Grains.GetGrain<ICouponGrain>(coupon).GetAsync()).RedeemedBy);

        // Second checkout: enough milk and money, but the coupon is used and bread is gone.
        var error = await Assert.ThrowsAsync<TransactionAbortedException>(() => _tx.CheckoutAsync(wallet, shop, [("milk", 1)], 500, coupon));
        Assert.Equal(TransactionErrorCodes.Insufficient, error.Code);
        Assert.Equal(4_000, (await Account(wallet)).Balance);
        var milk = await fixture.Grains.GetGrain<IInventoryGrain>(TransactionClient.StockKey(shop, "milk")).GetAsync();
        Assert.Equal(1, milk.Stock["milk"]);
        Assert.Empty(milk.Reserved);
        output.WriteLine($"second checkout aborted as expected: {error.Message}");
    }

    [Fact]
    public async Task A_prepared_participant_that_hears_nothing_asks_and_aborts_on_no_record_then_refuses_a_late_commit()
    {
        var (a, _) = await TwoAccountsAsync(500, 0);
        var account = fixture.SiloGrains.GetGrain<IAccountGrain>(a); // prepare, commit, abort are internal: driven from inside a silo
        var orphan = TransactionClient.NewId(); // no coordinator ever ran this transaction
        var vote = await account.PrepareAsync(orphan, new Debit(200));
        Assert.True(vote.Yes);
        Assert.Equal(200, (await account.GetAsync()).Held);

        // Duplicate prepare is idempotent; same id with other content is a typed conflict.
        Assert.True((await account.PrepareAsync(orphan, new Debit(200))).Yes);
        await Assert.ThrowsAsync<TransactionConflictException>(() => account.PrepareAsync(orphan, new Debit(201)));

        var clock = Stopwatch.StartNew();
        await Eventually.TrueAsync("the prepared participant resolved the orphan", async () => (await account.GetAsync()).Held == 0, TimeSpan.FromSeconds(40));

        output.WriteLine($"participant resolved the orphan by inquiry after {clock.Elapsed.TotalSeconds:F1} s (prepared timeout {TransactionsClusterFixture.PreparedTimeout.TotalSeconds} s)");
        Assert.Equal("Aborted", (await account.GetTransactionAsync(orphan))!.Status);
        Assert.Equal(500, (await account.GetAsync()).Balance);
        await Assert.ThrowsAsync<TransactionProtocolException>(() => account.CommitAsync(orphan));
        var status = await fixture.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(orphan).GetStatusAsync();
        Assert.Equal("Abort (presumed)", status.Decision);

        // The coordinator now refuses to run the transaction: the id is spent by presumption.
        var late = await fixture.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(orphan).ExecuteAsync(TransactionClient.TransferRequest(a, Unique("x"), 200));
        Assert.Equal(TxOutcome.Aborted, late.Outcome);
        Assert.Equal(500, (await account.GetAsync()).Balance);
    }

    [Fact]
    public async Task Commit_of_an_unknown_transaction_is_refused_and_reordered_abort_bars_the_late_prepare()
    {
        var (a, _) = await TwoAccountsAsync(500, 0);
        var account = fixture.SiloGrains.GetGrain<IAccountGrain>(a); // prepare, commit, abort are internal: driven from inside a silo
        await Assert.ThrowsAsync<TransactionProtocolException>(() => account.CommitAsync(TransactionClient.NewId()));
        var id = TransactionClient.NewId();
        await account.AbortAsync(id);
        var vote = await account.PrepareAsync(id, new Debit(10));
        Assert.False(vote.Yes);
        Assert.Equal(0, (await account.GetAsync()).Held);
    }

    [Fact]
    public async Task A_prepare_received_after_its_deadline_is_refused_and_reserves_nothing()
    {
        var (a, _) = await TwoAccountsAsync(500, 0);
        var account = fixture.SiloGrains.GetGrain<IAccountGrain>(a); // prepare, commit, abort are internal: driven from inside a silo

        // What a coordinator sends (the deadline rides in the request context), but delivered late.
        PrepareDeadline.Set(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(1));
        PrepareResponse late;
        try
        {
            late = await account.PrepareAsync(TransactionClient.NewId(), new Debit(10));
        }
        finally
        {
            Orleans.Runtime.RequestContext.Remove(PrepareDeadline.Key);
        }

        output.WriteLine($"late prepare: yes={late.Yes} code={late.Code} reason={late.Reason}");
        Assert.False(late.Yes);
        Assert.Equal(0, (await account.GetAsync()).Held);

        // On time, the same kind of prepare is granted.
        PrepareDeadline.Set(DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30));
        var id = TransactionClient.NewId();
        try
        {
            Assert.True((await account.PrepareAsync(id, new Debit(10))).Yes);
        }
        finally
        {
            Orleans.Runtime.RequestContext.Remove(PrepareDeadline.Key);
        }

        Assert.Equal(10, (await account.GetAsync()).Held);
        await account.AbortAsync(id);
        Assert.Equal(0, (await account.GetAsync()).Held);
    }

    [Fact]
    public async Task Concurrent_transfers_conserve_money_and_never_go_negative()
    {
        var accounts = Enumerable.Range(0, 8).Select(_ => Unique("c")).ToList();
        foreach (var acct in accounts)
        {
            await fixture.Grains.GetGrain<IAccountGrain>(acct).OpenAsync(100);
        }

        var random = new Random(7);
        var jobs = Enumerable.Range(0, 200).Select(_ =>
        {
            var from = accounts[random.Next(accounts.Count)];
            var to = accounts.Where(x => x != from).ElementAt(random.Next(accounts.Count - 1));
            return (from, to, amount: (long)random.Next(1, 60));
        }).ToList();
        var outcomes = await Task.WhenAll(jobs.Select(async j =>
        {
            try
            {
                await _tx.TransferAsync(j.from, j.to, j.amount);
                return true;
            }
            catch (TransactionAbortedException)
            {
                return false;
            }
        }));
        var balances = await Task.WhenAll(accounts.Select(Account));
        output.WriteLine($"committed {outcomes.Count(o => o)}, aborted {outcomes.Count(o => !o)}, total {balances.Sum(b => b.Balance)}");
        Assert.Equal(800, balances.Sum(b => b.Balance));
        Assert.All(balances, b => Assert.True(b.Balance >= 0 && b.Held == 0 && b.PendingCredits == 0));
        Assert.Contains(true, outcomes);
    }

    [Fact]
    public async Task Executor_decision_loses_to_a_presumed_abort_tombstone_and_releases_what_it_prepared()
    {
        // A participant's inquiry reached the coordinator grain first: it wrote a presumed-abort
        // tombstone. The executor, even told the id is fresh, must not overwrite it (insert-if-absent).
        var (a, b) = await TwoAccountsAsync(1_000, 0);
        var id = TransactionClient.NewId();
        Assert.Equal(TxInquiryAnswer.Unknown, await fixture.SiloGrains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(id).InquireAsync());

        var result = await fixture.Grains.GetGrain<ITwoPhaseCommitExecutorGrain>(0).ExecuteAsync(id, TransactionClient.TransferRequest(a, b, 100), freshId: true);

        Assert.Equal(TxOutcome.Aborted, result.Outcome);
        Assert.Equal((1_000, 0L), ((await Account(a)).Balance, (await Account(a)).Held));
        Assert.Equal((0, 0L), ((await Account(b)).Balance, (await Account(b)).PendingCredits));
        Assert.Equal("Aborted", (await fixture.Grains.GetGrain<IAccountGrain>(a).GetTransactionAsync(id))!.Status);
    }
}

/// <summary>The two-phase commit scenarios on memory storage.</summary>
[Collection(TransactionsClusterCollection.Name)]
public sealed class TwoPhaseCommitScenariosOnMemory(TransactionsClusterFixture cluster, ITestOutputHelper output) : TwoPhaseCommitScenarios(cluster, output);

/// <summary>The two-phase commit scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class TwoPhaseCommitScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : TwoPhaseCommitScenarios(cluster, output);
