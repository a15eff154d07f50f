using Granary.Errors;
using Granary.Transactions;
using Orleans.Concurrency;
using Orleans.Transactions.Abstractions;

namespace Granary.Bench.Transactions.Peer;

/// <summary>Balance of <see cref="OrleansTxAccountGrain"/>.</summary>
[GenerateSerializer, Alias("granary.tx.peer.balance")]
public sealed class OrleansTxBalance
{
    /// <summary>Balance.</summary>
    [Id(0)]
    public long Value { get; set; }
}

/// <summary>Orleans.Transactions account (benchmark peer), on the same grain storage as Granary's accounts.</summary>
[Reentrant]
[GrainType("granary.peer.orleans-tx-account")]
public sealed class OrleansTxAccountGrain(
    [TransactionalState("tx-peer-balance", GranaryStorage.Default)] ITransactionalState<OrleansTxBalance> balance) : Grain, IOrleansTxAccountGrain
{
    /// <inheritdoc/>
    public Task DepositAsync(long amount) => balance.PerformUpdate(b => b.Value += amount);

    /// <inheritdoc/>
    public Task WithdrawAsync(long amount) => balance.PerformUpdate(b =>
    {
        if (b.Value < amount)
        {
            throw new GranaryException(TransactionErrorCodes.Insufficient, $"balance {b.Value} cannot pay {amount}");
        }

        b.Value -= amount;
    });

    /// <inheritdoc/>
    public Task SeedAsync(long amount) => balance.PerformUpdate(b => b.Value = amount);

    /// <inheritdoc/>
    public Task<long> GetBalanceAsync() => balance.PerformRead(b => b.Value);
}

/// <summary>Orleans.Transactions transfer entry point (benchmark peer).</summary>
[GrainType("orleanstxtransfer")] // the name Orleans derived from the class name before it was pinned
[StatelessWorker, Reentrant]
public sealed class OrleansTxTransferGrain : Grain, IOrleansTxTransferGrain
{
    /// <inheritdoc/>
    public Task TransferAsync(string from, string to, long amount) => Task.WhenAll(
        GrainFactory.GetGrain<IOrleansTxAccountGrain>(from).WithdrawAsync(amount),
        GrainFactory.GetGrain<IOrleansTxAccountGrain>(to).DepositAsync(amount));
}
