using Granary.Client.Transactions;
using Granary.Server.Storage;
using Granary.Server.Transactions;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// The decision sweep on real PostgreSQL shards: two-phase commit decision records past their
/// retention are deleted once no participant needs them, a record whose participant is still
/// prepared (in doubt) is kept until the participant has its outcome, presumed-abort tombstones go,
/// outcomes acknowledged but not yet written are written before a participant says it is done, and a
/// shard another silo is sweeping is skipped. The participants' inquiry is pushed an hour away and
/// their outcome writes a minute away, so that neither resolves anything during the test.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class DecisionSweepTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private const string AccountState = "tx-account";
    private readonly RedisPostgresClusterFixture _cluster = new(servers) { Silos = 1 };

    public Task InitializeAsync()
    {
        _cluster.Settings["Granary:Transactions:PreparedTimeout"] = "01:00:00";
        _cluster.Settings["Granary:Transactions:OutcomeFlushDelay"] = "00:01:00";
        return _cluster.InitializeAsync();
    }

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task Old_decisions_are_deleted_once_no_participant_needs_them_and_an_in_doubt_one_is_kept()
    {
        var services = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services;
        var sweeper = services.GetRequiredService<PostgresDecisionSweeper>();
        var decisions = services.GetRequiredService<TransactionDecisionStore>();
        var storage = services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
        Assert.True(sweeper.Enabled);

        // 20 committed transfers and one refused (insufficient funds) between two accounts.
        var (a, b, c) = (Unique("a"), Unique("b"), Unique("c"));
        await _cluster.Grains.GetGrain<IAccountGrain>(a).OpenAsync(1_000);
        await _cluster.Grains.GetGrain<IAccountGrain>(b).OpenAsync(0);
        await _cluster.Grains.GetGrain<IAccountGrain>(c).OpenAsync(100);
        var tx = new TransactionClient(_cluster.Grains);
        var committed = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var id = TransactionClient.NewId();
            Assert.Equal(TxOutcome.Committed, (await tx.TransferAsync(a, b, 10, id)).Outcome);
            committed.Add(id);
        }

        await Assert.ThrowsAsync<TransactionAbortedException>(() => tx.TransferAsync(b, a, 10_000));

        // A transaction in doubt at c: prepared there, decided commit, phase two not sent yet.
        var inDoubt = TransactionClient.NewId();
        var account = _cluster.SiloGrains.GetGrain<IAccountGrain>(c);
        Assert.True((await account.PrepareAsync(inDoubt, new Debit(5))).Yes);
        var participant = new ParticipantRef(ParticipantKind.Account, c).ToString();
        var (_, inserted) = await decisions.InsertIfAbsentAsync(new TransactionDecisionRecord(
            new CoordinatorSnapshot(inDoubt, $"{participant} debit 5", [participant], CoordinatorPhase.Committing, TransactionDecision.Commit, [], null, DateTimeOffset.UtcNow),
            null));
        Assert.True(inserted);

        // A presumed-abort tombstone: a participant asked about a transaction nobody decided.
        var unknown = TransactionClient.NewId();
        Assert.Equal(TxInquiryAnswer.Unknown, await _cluster.SiloGrains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(unknown).InquireAsync());

        var before = await DecisionRowsAsync();
        output.WriteLine($"decision rows before: {before}");
        Assert.True(before >= committed.Count + 2, $"expected at least {committed.Count + 2} decision rows, found {before}");

        // The last transfer's commit is acknowledged but not yet written at a (outcome flush a minute away).
        Assert.NotEmpty((await StoredAsync(storage, a)).Transactions);

        // Nothing is older than an hour ago: nothing found, nothing deleted.
        var young = await sweeper.SweepAsync(DateTimeOffset.UtcNow - TimeSpan.FromHours(1), CancellationToken.None);
        Assert.Equal(new DecisionSweepReport(0, 0, 0, 0, 0), young);
        Assert.Equal(before, await DecisionRowsAsync());

        // Everything is older than a minute from now: all but the in-doubt record go.
        var swept = await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None);
        output.WriteLine($"sweep: {swept}");
        Assert.Equal(before, swept.Found);
        Assert.Equal(before - 1, swept.Deleted);
        Assert.Equal(1, swept.Kept);
        Assert.Equal(1, await DecisionRowsAsync());
        Assert.NotNull(await decisions.ReadAsync(inDoubt));
        Assert.Null(await decisions.ReadAsync(committed[0]));
        Assert.Null(await decisions.ReadAsync(unknown));

        // a wrote its acknowledged outcomes before answering; the money is where the transfers put it.
        Assert.Empty((await StoredAsync(storage, a)).Transactions);
        Assert.Equal(800, (await _cluster.Grains.GetGrain<IAccountGrain>(a).GetAsync()).Balance);
        Assert.Equal(200, (await _cluster.Grains.GetGrain<IAccountGrain>(b).GetAsync()).Balance);

        // Every shard has just had its pass: a silo's periodic sweep (which asks for a gap) skips them all.
        var again = await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None, minimumGap: TimeSpan.FromHours(1));
        Assert.Equal(new DecisionSweepReport(0, 0, 0, 0, _cluster.Shards.Count), again);

        // A shard being swept by another silo (its advisory lock held) is skipped. The holder is not
        // pooled, so closing it ends its session and frees the lock.
        await using (var holder = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_cluster.Shards[0]) { Pooling = false }.ConnectionString))
        {
            await holder.OpenAsync();
            await using var take = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", holder);
            take.Parameters.AddWithValue("key", PostgresDecisionSweeper.SweepLockKey);
            await take.ExecuteNonQueryAsync();
            var skipped = await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None);
            Assert.Equal(1, skipped.ShardsSkipped);
        }

        // Once c has its outcome, the last record goes too.
        await account.CommitAsync(inDoubt);
        var last = await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal(new DecisionSweepReport(1, 1, 0, 0, 0), last);
        Assert.Equal(0, await DecisionRowsAsync());
        Assert.Equal(95, (await _cluster.Grains.GetGrain<IAccountGrain>(c).GetAsync()).Balance);
        Assert.Empty((await StoredAsync(storage, c)).Transactions);
    }

    [Fact]
    public async Task A_coordinator_holding_an_old_record_answers_from_storage_after_the_sweep_and_a_reuse_of_the_id()
    {
        var services = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services;
        var sweeper = services.GetRequiredService<PostgresDecisionSweeper>();
        var decisions = services.GetRequiredService<TransactionDecisionStore>();
        var account = Unique("old");
        await _cluster.Grains.GetGrain<IAccountGrain>(account).OpenAsync(100);
        var participant = new ParticipantRef(ParticipantKind.Account, account).ToString();

        // Decided commit an hour ago; the coordinator grain activates on it and holds it.
        var id = TransactionClient.NewId();
        var old = new CoordinatorSnapshot(id, $"{participant} debit 5", [participant], CoordinatorPhase.Done, TransactionDecision.Commit, [], null, DateTimeOffset.UtcNow - TimeSpan.FromHours(1));
        Assert.True((await decisions.InsertIfAbsentAsync(new TransactionDecisionRecord(old, null))).Inserted);
        var coordinator = _cluster.SiloGrains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(id);
        Assert.Equal("Commit", (await coordinator.GetStatusAsync()).Decision);

        // Swept (the account never heard of it), then the id is run anew and this time aborts.
        Assert.Equal(1, (await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None)).Deleted);
        var reused = old with { Decision = TransactionDecision.Abort, Phase = CoordinatorPhase.Aborting, AbortReason = "refused", DecidedAt = DateTimeOffset.UtcNow - TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1) };
        Assert.True((await decisions.InsertIfAbsentAsync(new TransactionDecisionRecord(reused, null))).Inserted);

        // The activation still in memory answers from the new record, not from its copy of the old one.
        Assert.Equal(TxInquiryAnswer.Aborted, await coordinator.InquireAsync());
        Assert.Equal("Abort", (await coordinator.GetStatusAsync()).Decision);
    }

    [Fact]
    public async Task A_coordinator_resuming_phase_two_on_an_old_record_rewrites_it_first_so_the_sweep_cannot_take_it_meanwhile()
    {
        var services = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services;
        var sweeper = services.GetRequiredService<PostgresDecisionSweeper>();
        var decisions = services.GetRequiredService<TransactionDecisionStore>();
        var account = Unique("resume");
        await _cluster.Grains.GetGrain<IAccountGrain>(account).OpenAsync(100);
        var participant = new ParticipantRef(ParticipantKind.Account, account).ToString();

        // Decided commit an hour ago, phase two unfinished: the coordinator resumes it on activation.
        var id = TransactionClient.NewId();
        var decidedAt = DateTimeOffset.UtcNow - TimeSpan.FromHours(1);
        var snapshot = new CoordinatorSnapshot(id, $"{participant} debit 5", [participant], CoordinatorPhase.Committing, TransactionDecision.Commit, [], null, decidedAt);
        var (stored, inserted) = await decisions.InsertIfAbsentAsync(new TransactionDecisionRecord(snapshot, null));
        Assert.True(inserted);
        var coordinator = _cluster.SiloGrains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(id);
        await Eventually.ValueAsync("phase two finished", () => coordinator.GetStatusAsync(), v => v.Phase == nameof(CoordinatorPhase.Done), TimeSpan.FromSeconds(30));

        // The round rewrote the record before sending (a new version, changed just now), so a sweep of
        // everything changed before a minute ago leaves it alone.
        var rewritten = await decisions.ReadAsync(id);
        Assert.NotNull(rewritten);
        Assert.NotEqual(stored.Version, rewritten.Version);
        var swept = await sweeper.SweepAsync(DateTimeOffset.UtcNow - TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal(0, swept.Found);
        Assert.NotNull(await decisions.ReadAsync(id));
    }

    [Fact]
    public async Task Periodic_passes_read_a_share_of_the_table_each_and_go_on_where_the_last_one_stopped()
    {
        var services = ((InProcessSiloHandle)_cluster.Cluster.Silos[0]).SiloHost.Services;
        var sweeper = services.GetRequiredService<PostgresDecisionSweeper>();
        var decisions = services.GetRequiredService<TransactionDecisionStore>();

        // Every shard grown to about 1,600 blocks with rows of another state, so that one pass of
        // PostgresDecisionSweeper.BlocksPerStep reads a third of it; a first pass (nothing to find)
        // leaves each shard's cursor one step in.
        const int Step = PostgresDecisionSweeper.BlocksPerStep;
        foreach (var each in _cluster.Shards)
        {
            await using var filling = new NpgsqlConnection(each);
            await filling.OpenAsync();
            await using var fill = new NpgsqlCommand(
                $"INSERT INTO {ShardInspector.StateTable} (service_id, grain_id_hash, grain_id_n0, grain_id_n1, grain_id_extension, grain_type_hash, grain_type, payload, version) " +
                "SELECT 'filler', i, 0, 0, 'filler-' || i, 0, 'test-filler', decode(repeat('ab', 2000), 'hex'), 1 FROM generate_series(1, 4800) AS i",
                filling);
            await fill.ExecuteNonQueryAsync();
        }

        Assert.Equal(0, (await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None, tableFraction: 1e-9)).Found);

        // Then a presumed-abort tombstone (nobody to ask), wherever its shard puts it.
        var id = TransactionClient.NewId();
        Assert.Equal(TxInquiryAnswer.Unknown, await _cluster.SiloGrains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(id).InquireAsync());
        await using var connection = new NpgsqlConnection(await ShardHoldingAsync(TransactionDecisionStore.StateName, id));
        await connection.OpenAsync();
        var blocks = await ScalarAsync<long>(connection, $"SELECT pg_relation_size('{ShardInspector.StateTable}') / current_setting('block_size')::bigint");
        var block = await ScalarAsync<long>(connection, $"SELECT (ctid::text::point)[0]::bigint FROM {ShardInspector.StateTable} WHERE grain_id_extension = '{id}'");
        output.WriteLine($"table of {blocks} blocks, the tombstone in block {block}");
        Assert.True(blocks > 2 * Step, $"the table has only {blocks} blocks");

        // Passes of one step each (the smallest share), each going on from where the last stopped and
        // wrapping at the end: the tombstone is deleted by the pass whose range holds its block, and
        // by no other. (Passes that always started at block 0 would delete it in the first pass or never.)
        var passes = (int)((blocks + Step - 1) / Step);
        var expected = -1;
        for (long pass = 0, from = Step; pass < passes && expected < 0; pass++, from = (from + Step) % blocks)
        {
            var end = from + Step;
            if ((block >= from && block < Math.Min(end, blocks)) || (end > blocks && block < end - blocks))
            {
                expected = (int)pass;
            }
        }

        Assert.True(expected >= 0, "no pass of the cycle reads the tombstone's block");
        for (var pass = 0; pass < passes; pass++)
        {
            var report = await sweeper.SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1), CancellationToken.None, tableFraction: 1e-9);
            Assert.Equal(pass == expected ? 1 : 0, report.Deleted);
        }

        Assert.Null(await decisions.ReadAsync(id));
        Assert.Equal(0.0139, PostgresDecisionSweeper.PassFraction(new TransactionOptions()), 4);
    }

    [Fact]
    public async Task A_participant_reports_open_what_was_open_when_it_read_even_if_its_outcome_lands_during_the_write()
    {
        // a holds Y and X prepared; Y's commit is acknowledged but not written (outcome flush a minute away).
        var a = Unique("race");
        await _cluster.Grains.GetGrain<IAccountGrain>(a).OpenAsync(100);
        var account = _cluster.SiloGrains.GetGrain<IAccountGrain>(a);
        var (x, y) = (TransactionClient.NewId(), TransactionClient.NewId());
        Assert.True((await account.PrepareAsync(x, new Debit(5))).Yes);
        Assert.True((await account.PrepareAsync(y, new Debit(5))).Yes);
        await account.CommitAsync(y);

        // The account's row locked by another session: the write OpenAmongAsync starts (for Y's
        // outcome) waits on it, and X's commit lands in memory meanwhile.
        await using var holder = new NpgsqlConnection(await ShardHoldingAsync(AccountState, a));
        await holder.OpenAsync();
        await using var hold = await holder.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand($"SELECT 1 FROM {ShardInspector.StateTable} WHERE grain_type = '{AccountState}' AND grain_id_extension = @a FOR UPDATE", holder, hold))
        {
            take.Parameters.AddWithValue("a", a);
            Assert.NotNull(await take.ExecuteScalarAsync());
        }

        var asked = account.OpenAmongAsync([x, y]);
        await Eventually.ValueAsync(
            "the write waiting on the row lock",
            async () => await ScalarAsync<long>(holder, "SELECT count(*) FROM pg_locks WHERE NOT granted"),
            waiting => waiting > 0,
            TimeSpan.FromSeconds(30));
        Assert.False(asked.IsCompleted);
        await account.CommitAsync(x);
        await hold.CommitAsync();

        // X was open when the participant read: it must say so (X's commit was not yet written).
        Assert.Equal([x], await asked);
        Assert.Equal(90, (await _cluster.Grains.GetGrain<IAccountGrain>(a).GetAsync()).Balance);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The shard whose table holds the row of state <paramref name="stateName"/> keyed <paramref name="key"/>.</summary>
    private async Task<string> ShardHoldingAsync(string stateName, string key)
    {
        foreach (var shard in _cluster.Shards)
        {
            await using var connection = new NpgsqlConnection(shard);
            await connection.OpenAsync();
            await using var find = new NpgsqlCommand($"SELECT count(*) FROM {ShardInspector.StateTable} WHERE grain_type = @state AND grain_id_extension = @key", connection);
            find.Parameters.AddWithValue("state", stateName);
            find.Parameters.AddWithValue("key", key);
            if ((long)(await find.ExecuteScalarAsync())! > 0)
            {
                return shard;
            }
        }

        throw new InvalidOperationException($"no shard holds the '{stateName}' row of {key}");
    }

    private static string Unique(string prefix) => "sweep-" + prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<AccountState> StoredAsync(IGrainStorage storage, string account)
    {
        var row = new GrainState<AccountState>();
        await storage.ReadStateAsync(AccountState, GrainId.Create("granary.transactions.account", account), row);
        return row.State ?? throw new InvalidOperationException($"account {account} has no stored row");
    }

    private async Task<long> DecisionRowsAsync()
    {
        long rows = 0;
        foreach (var shard in _cluster.Shards)
        {
            await using var connection = new NpgsqlConnection(shard);
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand($"SELECT count(*) FROM {ShardInspector.StateTable} WHERE grain_type = @t", connection);
            count.Parameters.AddWithValue("t", TransactionDecisionStore.StateName);
            rows += (long)(await count.ExecuteScalarAsync())!;
        }

        return rows;
    }
}
