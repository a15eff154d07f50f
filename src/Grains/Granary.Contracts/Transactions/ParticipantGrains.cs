using Granary.Security;

namespace Granary.Transactions;

/// <summary>An account as read.</summary>
[GenerateSerializer, Alias("granary.tx.account-snapshot")]
public sealed record AccountSnapshot(
    [property: Id(0)] string Key,
    [property: Id(1)] bool Exists,
    [property: Id(2)] long Balance,
    [property: Id(3)] long Held,
    [property: Id(4)] long PendingCredits,
    [property: Id(5)] int Prepared)
{
    /// <summary>State writes this activation of the account made (each may hold the changes of several concurrent calls: group commit).</summary>
    [Id(6)]
    public long StateWrites { get; init; }
}

/// <summary>
/// A money account in minor units (cents): balance, holds by prepared debits, pending credits.
/// Never negative, never above <see cref="Limits.Transactions.MaxAmount"/>.
/// </summary>
/// <example><code>
/// await grains.GetGrain&lt;IAccountGrain&gt;("alice").OpenAsync(10_000);
/// </code></example>
[Requires(Permission.TransactionUse)]
[Alias("granary.tx.account")]
public interface IAccountGrain : ITransactionParticipant, ISagaParticipant
{
    /// <summary>Opens the account with an initial balance (idempotent when opened with the same balance and untouched).</summary>
    [Requires(Permission.TransactionAdmin)]
    [Alias("open")]
    Task<AccountSnapshot> OpenAsync(long initialBalance);

    /// <summary>The account.</summary>
    [Alias("get")]
    Task<AccountSnapshot> GetAsync();
}

/// <summary>Stock of one shop or warehouse as read.</summary>
[GenerateSerializer, Alias("granary.tx.inventory-snapshot")]
public sealed record InventorySnapshot(
    [property: Id(0)] string Key,
    [property: Id(1)] IReadOnlyDictionary<string, int> Stock,
    [property: Id(2)] IReadOnlyDictionary<string, int> Reserved,
    [property: Id(3)] int Prepared);

/// <summary>Stock per SKU with reservations by prepared transactions; stock never goes negative.</summary>
[Requires(Permission.TransactionUse)]
[Alias("granary.tx.inventory")]
public interface IInventoryGrain : ITransactionParticipant, ISagaParticipant
{
    /// <summary>Sets the stock of a SKU (refused while it has reservations).</summary>
    [Requires(Permission.TransactionAdmin)]
    [Alias("restock")]
    Task<InventorySnapshot> SetStockAsync(string sku, int quantity);

    /// <summary>The stock.</summary>
    [Alias("get")]
    Task<InventorySnapshot> GetAsync();
}

/// <summary>A coupon as read.</summary>
[GenerateSerializer, Alias("granary.tx.coupon-snapshot")]
public sealed record CouponSnapshot(
    [property: Id(0)] string Key,
    [property: Id(1)] bool Issued,
    [property: Id(2)] string? RedeemedBy,
    [property: Id(3)] string? ReservedBy,
    [property: Id(4)] long Discount);

/// <summary>A single-use coupon: redeemed at most once.</summary>
[Requires(Permission.TransactionUse)]
[Alias("granary.tx.coupon")]
public interface ICouponGrain : ITransactionParticipant, ISagaParticipant
{
    /// <summary>Issues the coupon (idempotent with the same discount).</summary>
    [Requires(Permission.TransactionAdmin)]
    [Alias("issue")]
    Task<CouponSnapshot> IssueAsync(long discount);

    /// <summary>The coupon.</summary>
    [Alias("get")]
    Task<CouponSnapshot> GetAsync();
}

/// <summary>What a scripted participant has seen.</summary>
[GenerateSerializer, Alias("granary.tx.scripted-snapshot")]
public sealed record ScriptedSnapshot(
    [property: Id(0)] IReadOnlyList<string> Calls,
    [property: Id(1)] int ActionFailuresLeft,
    [property: Id(2)] int CompensationFailuresLeft,
    [property: Id(3)] bool RefuseActions);

/// <summary>A participant that fails on command: for showing and testing saga and 2PC failure paths.</summary>
[Requires(Permission.TransactionAdmin)]
[Alias("granary.tx.scripted")]
public interface IScriptedParticipantGrain : ITransactionParticipant, ISagaParticipant
{
    /// <summary>The next <paramref name="actionFailures"/> actions and <paramref name="compensationFailures"/> compensations throw; <paramref name="refuse"/> makes actions and prepares refuse for good.</summary>
    [Alias("script")]
    Task ScriptAsync(int actionFailures, int compensationFailures, bool refuse);

    /// <summary>Calls seen.</summary>
    [Requires(Permission.TransactionUse)]
    [Alias("get")]
    Task<ScriptedSnapshot> GetAsync();

    /// <summary>
    /// Simulated network partition: right after its next three-phase commit vote the participant is
    /// cut off (protocol messages to it fail, and it cannot reach its peers) while it keeps running
    /// its own timers. <see cref="GetAsync"/> stays reachable for observation.
    /// </summary>
    [Alias("partition-after-vote")]
    Task PartitionAfterVoteAsync();

    /// <summary>Ends the simulated partition.</summary>
    [Alias("heal")]
    Task HealAsync();
}
