using System.Diagnostics;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// Three-phase commit as a coordinator option over the same account grains: commit, abort, and coordinator crashes resolved by the participants' timeouts; written once and run on every storage backend
/// (<see cref="ThreePhaseCommitScenariosOnMemory"/>, <see cref="ThreePhaseCommitScenariosOnPostgres"/>).
/// </summary>
public abstract class ThreePhaseCommitScenarios(GranaryTestClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(4); // each coordinator phase gets a third: generous on a shared machine

    /// <summary>How long participants may take to decide alone: two timeouts each way, and slack.</summary>
    private static readonly TimeSpan Resolution = (4 * Timeout) + TimeSpan.FromSeconds(10);
    private readonly TransactionClient _tx = new(fixture.Grains);

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private async Task<(string A, string B)> TwoAccountsAsync(long a, long b)
    {
        var (x, y) = (Unique("acct3"), Unique("acct3"));
        await fixture.Grains.GetGrain<IAccountGrain>(x).OpenAsync(a);
        await fixture.Grains.GetGrain<IAccountGrain>(y).OpenAsync(b);
        return (x, y);
    }

    private Task<AccountSnapshot> Account(string key) => fixture.Grains.GetGrain<IAccountGrain>(key).GetAsync();

    private async Task<string?> StatusAt(string account, string id) => (await fixture.Grains.GetGrain<IAccountGrain>(account).GetTransactionAsync(id))?.Status;

    private async Task<TimeSpan> WaitUntilResolvedAsync(string id, params string[] accounts)
    {
        var clock = Stopwatch.StartNew();
        await Eventually.TrueAsync($"transaction {id} decided at every participant", async () => (await Task.WhenAll(accounts.Select(a => StatusAt(a, id)))).All(s => s is "Committed" or "Aborted"), Resolution);
        return clock.Elapsed;
    }

    private static TxRequest Transfer(string from, string to, long amount) => TransactionClient.TransferRequest(from, to, amount);

    [Fact]
    public async Task Three_phase_transfer_commits_replays_and_refuses_reuse()
    {
        var (a, b) = await TwoAccountsAsync(1_000, 0);
        var id = TransactionClient.NewId();
        var result = await _tx.TransferAsync(a, b, 250, id, TxProtocol.ThreePhase);

        Assert.Equal(TxOutcome.Committed, result.Outcome);
        Assert.Equal(750, (await Account(a)).Balance);
        Assert.Equal(250, (await Account(b)).Balance);
        Assert.Equal(0, (await Account(a)).Held);
        Assert.Equal("Committed", await StatusAt(b, id));
        var status = await fixture.Grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(id).GetStatusAsync();
        Assert.Equal(("Done", "Commit"), (status.Phase, status.Decision));

        var replay = await _tx.TransferAsync(a, b, 250, id, TxProtocol.ThreePhase);
        Assert.True(replay.Replayed);
        Assert.Equal(750, (await Account(a)).Balance);
        await Assert.ThrowsAsync<TransactionConflictException>(() => _tx.TransferAsync(a, b, 251, id, TxProtocol.ThreePhase));

        // The same id under 2PC is another request: refused by the participants, nothing changes.
        await Assert.ThrowsAnyAsync<GranaryException>(() => _tx.TransferAsync(a, b, 250, id, TxProtocol.TwoPhase));
        Assert.Equal(750, (await Account(a)).Balance);
        Assert.Equal(250, (await Account(b)).Balance);
    }

    [Fact]
    public async Task Three_phase_insufficient_funds_and_unknown_account_abort_with_typed_errors_and_no_partial_effect()
    {
        var (a, b) = await TwoAccountsAsync(100, 50);
        var error = await Assert.ThrowsAsync<TransactionAbortedException>(() => _tx.TransferAsync(a, b, 101, protocol: TxProtocol.ThreePhase));
        Assert.Equal(TransactionErrorCodes.Insufficient, error.Code);
        var missing = await Assert.ThrowsAsync<TransactionAbortedException>(() => _tx.TransferAsync(a, Unique("ghost"), 10, protocol: TxProtocol.ThreePhase));
        Assert.Equal(ErrorCodes.NotFound, missing.Code);

        Assert.Equal((100, 0L), ((await Account(a)).Balance, (await Account(a)).Held));
        Assert.Equal((50, 0L), ((await Account(b)).Balance, (await Account(b)).PendingCredits));
    }

    [Fact]
    public async Task Coordinator_crash_after_pre_commit_participants_commit_by_timeout_and_a_retry_reports_it()
    {
        var (a, b) = await TwoAccountsAsync(1_000, 0);
        var id = TransactionClient.NewId();
        var coordinator = fixture.Grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(id);
        await Assert.ThrowsAsync<GranaryException>(() => coordinator.ExecuteAsync(Transfer(a, b, 400), new ThreePhaseRun(Timeout, ThreePhaseCrashPoint.AfterPreCommit)));
        Assert.Equal("PreCommitted", await StatusAt(a, id));
        Assert.Equal("PreCommitted", await StatusAt(b, id));

        var took = await WaitUntilResolvedAsync(id, a, b);
        output.WriteLine($"pre-committed participants decided alone after {took.TotalSeconds:F1} s (timeout {Timeout.TotalSeconds} s)");
        Assert.Equal("Committed", await StatusAt(a, id));
        Assert.Equal("Committed", await StatusAt(b, id));
        Assert.Equal(600, (await Account(a)).Balance);
        Assert.Equal(400, (await Account(b)).Balance);

        // The client retries the id: the new coordinator activation learns the outcome from the votes.
        var retry = await coordinator.ExecuteAsync(Transfer(a, b, 400), new ThreePhaseRun(Timeout));
        Assert.Equal(TxOutcome.Committed, retry.Outcome);
        Assert.Equal(600, (await Account(a)).Balance);
    }

    [Fact]
    public async Task Coordinator_crash_after_votes_participants_abort_by_timeout_and_release()
    {
        var (a, b) = await TwoAccountsAsync(1_000, 0);
        var id = TransactionClient.NewId();
        var coordinator = fixture.Grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(id);
        await Assert.ThrowsAsync<GranaryException>(() => coordinator.ExecuteAsync(Transfer(a, b, 400), new ThreePhaseRun(Timeout, ThreePhaseCrashPoint.AfterVotes)));
        Assert.Equal(400, (await Account(a)).Held);

        var took = await WaitUntilResolvedAsync(id, a, b);
        output.WriteLine($"uncertain participants decided alone after {took.TotalSeconds:F1} s (timeout {Timeout.TotalSeconds} s)");
        Assert.Equal("Aborted", await StatusAt(a, id));
        Assert.Equal("Aborted", await StatusAt(b, id));
        Assert.Equal((1_000, 0L), ((await Account(a)).Balance, (await Account(a)).Held));
        Assert.Equal((0, 0L), ((await Account(b)).Balance, (await Account(b)).PendingCredits));

        var retry = await coordinator.ExecuteAsync(Transfer(a, b, 400), new ThreePhaseRun(Timeout));
        Assert.Equal(TxOutcome.Aborted, retry.Outcome);
    }

    [Fact]
    public async Task Under_a_simulated_partition_three_phase_commit_splits()
    {
        // Documents the assumption 3PC rests on: a participant cut off after its vote cannot tell a
        // partition from a crash, waits a second timeout, presumes its peers crashed and aborts,
        // while the coordinator, presuming the cut-off participant crashed, commits the other.
        var account = Unique("acct3");
        await fixture.Grains.GetGrain<IAccountGrain>(account).OpenAsync(1_000);
        var cutOffKey = Unique("cut-off");
        var cutOff = fixture.Grains.GetGrain<IScriptedParticipantGrain>(cutOffKey);
        await cutOff.PartitionAfterVoteAsync();
        var id = TransactionClient.NewId();
        var result = await fixture.Grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(id).ExecuteAsync(
            new TxRequest([new TxStep(ParticipantRef.Account(account), new Debit(100)), new TxStep(new ParticipantRef(ParticipantKind.Scripted, cutOffKey), new ScriptedStep("x"))]),
            new ThreePhaseRun(Timeout));
        Assert.Equal(TxOutcome.Committed, result.Outcome);
        Assert.Equal(1, result.Unacknowledged);

        IReadOnlyList<string> calls;
        try
        {
            calls = (await Eventually.ValueAsync("the cut-off participant decided alone", () => cutOff.GetAsync(), p => p.Calls.Any(c => c.EndsWith(id, StringComparison.Ordinal)), Resolution)).Calls;
        }
        finally
        {
            await cutOff.HealAsync();
        }

        output.WriteLine($"account: {await StatusAt(account, id)}; cut-off participant: {string.Join(", ", calls)}");
        Assert.Equal("Committed", await StatusAt(account, id));
        Assert.Contains("aborted " + id, calls);
        Assert.Equal("Aborted", (await cutOff.GetTransactionAsync(id))!.Status);
    }
}

/// <summary>The three-phase commit scenarios on memory storage.</summary>
[Collection(TransactionsClusterCollection.Name)]
public sealed class ThreePhaseCommitScenariosOnMemory(TransactionsClusterFixture cluster, ITestOutputHelper output) : ThreePhaseCommitScenarios(cluster, output);

/// <summary>The three-phase commit scenarios on Redis clustering and PostgreSQL shards.</summary>
[Collection(PostgresClusterCollection.Name)]
public sealed class ThreePhaseCommitScenariosOnPostgres(PostgresClusterFixture cluster, ITestOutputHelper output) : ThreePhaseCommitScenarios(cluster, output);
