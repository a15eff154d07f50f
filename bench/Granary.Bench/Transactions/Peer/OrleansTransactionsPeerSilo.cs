namespace Granary.Bench.Transactions.Peer;

/// <summary>
/// What a silo needs to host the Orleans.Transactions peer: its transaction runtime
/// (<c>UseTransactions</c>). The peer's grains come with this assembly; the bench tool's embedded
/// silo and its <c>silo</c> mode both add this.
/// </summary>
public static class OrleansTransactionsPeerSilo
{
    /// <summary>Adds the Orleans.Transactions runtime to <paramref name="silo"/>.</summary>
    public static void AddTo(ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.UseTransactions();
    }
}
