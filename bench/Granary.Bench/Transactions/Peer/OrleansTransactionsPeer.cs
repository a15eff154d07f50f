using Granary.Security;

namespace Granary.Bench.Transactions.Peer;

/// <summary>
/// Benchmark peer: an account in the style of Orleans.Transactions (<c>[Transaction]</c> methods over
/// <c>ITransactionalState</c>), set up as docs/benchmarks.md describes (<c>[Reentrant]</c> account).
/// </summary>
[Requires(Permission.Internal)]
[Alias("granary.tx.peer.account")]
public interface IOrleansTxAccountGrain : IGrainWithStringKey
{
    /// <summary>Adds money inside the caller's transaction.</summary>
    [Transaction(TransactionOption.Join), Alias("deposit")]
    Task DepositAsync(long amount);

    /// <summary>Takes money inside the caller's transaction; throws if it would go negative.</summary>
    [Transaction(TransactionOption.Join), Alias("withdraw")]
    Task WithdrawAsync(long amount);

    /// <summary>Sets up the account in a transaction of its own.</summary>
    [Requires(Permission.TransactionAdmin)]
    [Transaction(TransactionOption.CreateOrJoin), Alias("seed")]
    Task SeedAsync(long amount);

    /// <summary>Reads the balance in a transaction of its own.</summary>
    [Requires(Permission.TransactionUse)]
    [Transaction(TransactionOption.CreateOrJoin), Alias("balance")]
    Task<long> GetBalanceAsync();
}

/// <summary>Benchmark peer: the transfer entry point (<c>[StatelessWorker, Reentrant]</c>), one Orleans transaction per transfer.</summary>
[Requires(Permission.TransactionUse)]
[Alias("granary.tx.peer.transfer")]
public interface IOrleansTxTransferGrain : IGrainWithIntegerKey
{
    /// <summary>Withdraw from one account and deposit to another in one Orleans transaction.</summary>
    [Transaction(TransactionOption.Create), Alias("transfer")]
    Task TransferAsync(string from, string to, long amount);
}
