using System.Globalization;
using Granary.Bench.Transactions.Peer;
using Granary.Cli.Cli;
using Granary.Client.Transactions;
using Granary.Transactions;

namespace Granary.Bench.Transactions;

/// <summary>Shape of the transfer workload, shared by Granary and its peer so both do the same work.</summary>
/// <param name="Accounts">Accounts transfers pick from (uniformly, from != to).</param>
/// <param name="OpeningBalance">Opening balance: large enough that no transfer aborts for lack of funds.</param>
public sealed record TransferWorkload(int Accounts, long OpeningBalance)
{
    /// <summary>Prefix unique to this run, so repeated runs against one cluster do not meet.</summary>
    public string Prefix { get; } = "bench-tx-" + Guid.NewGuid().ToString("N")[..6];

    /// <summary>Account name.</summary>
    public string Account(int i) => string.Create(CultureInfo.InvariantCulture, $"{Prefix}-{i}");

    /// <summary>A random (from, to) pair.</summary>
    public (string From, string To) Pick()
    {
        var from = Random.Shared.Next(Accounts);
        var to = (from + 1 + Random.Shared.Next(Accounts - 1)) % Accounts;
        return (Account(from), Account(to));
    }
}

/// <summary>Granary: one two-phase commit per transfer through the SDK (the stateless executor, two account grains).</summary>
public sealed class GranaryTransferBenchTarget(IGrainFactory grains, TransferWorkload workload, string storage) : IBenchTarget
{
    private readonly TransactionClient _client = new(grains);

    /// <inheritdoc/>
    public string System => "granary";

    /// <inheritdoc/>
    public string Configuration => $"2PC via the SDK (stateless executor, decision inserted in the coordinator's row before phase two, presumed abort), {workload.Accounts} account grains (durable prepare, group-committed outcomes), storage {storage}";

    /// <inheritdoc/>
    public Task SetupAsync(CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(Enumerable.Range(0, workload.Accounts), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, _) =>
            await grains.GetGrain<IAccountGrain>(workload.Account(i)).OpenAsync(workload.OpeningBalance));

    /// <inheritdoc/>
    public Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var (from, to) = workload.Pick();
        return _client.TransferAsync(from, to, 1);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Orleans.Transactions: a [StatelessWorker, Reentrant] transfer grain, [Reentrant] accounts with ITransactionalState.</summary>
public sealed class OrleansTransactionsBenchTarget(IGrainFactory grains, TransferWorkload workload, string storage) : IBenchTarget
{
    /// <inheritdoc/>
    public string System => "orleans-transactions";

    /// <inheritdoc/>
    public string Configuration => $"Microsoft.Orleans.Transactions 10.4.2, [StatelessWorker, Reentrant] transfer grain, {workload.Accounts} [Reentrant] accounts with ITransactionalState, storage {storage}";

    /// <inheritdoc/>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        try
        {
            // The cluster knows the peer's grains only when its silos host them.
            _ = grains.GetGrain<IOrleansTxTransferGrain>(0);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"the cluster's silos do not host the Orleans.Transactions peer ({ex.Message.TrimEnd('.')}): run its silos with the bench tool (GRANARY_SILO=bench scripts/cluster.sh up, or granary-bench silo) or pass --embedded");
        }

        await Parallel.ForEachAsync(Enumerable.Range(0, workload.Accounts), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, _) =>
            await grains.GetGrain<IOrleansTxAccountGrain>(workload.Account(i)).SeedAsync(workload.OpeningBalance));
    }

    /// <inheritdoc/>
    public Task ExecuteAsync(int caller, CancellationToken cancellationToken)
    {
        var (from, to) = workload.Pick();
        return grains.GetGrain<IOrleansTxTransferGrain>(0).TransferAsync(from, to, 1);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
