using System.Globalization;
using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>Stock per SKU; prepared takes reserve units so that stock never goes negative.</summary>
[GrainType("granary.transactions.inventory")]
[KeyIsName("shop")]
public sealed class InventoryGrain(
    [PersistentState("tx-inventory", GranaryStorage.Default)] IPersistentState<InventoryState> state,
    IGrainFactory grains,
    DeepCopier copier,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<InventoryGrain> logger)
    : ParticipantGrain<InventoryState>(state, grains, copier, time, options, logger), IInventoryGrain
{
    /// <inheritdoc/>
    public override string Describe => $"inventory '{this.GetPrimaryKeyString()}'";

    /// <inheritdoc/>
    public async Task<InventorySnapshot> SetStockAsync(string sku, int quantity)
    {
        Guard.Name(sku, nameof(sku));
        Guard.InRange(quantity, nameof(quantity), 0, Limits.Transactions.MaxStock);
        if (ReservedOf(sku) > 0)
        {
            throw new InvalidRequestException(nameof(sku), $"{Describe}: {sku} has reservations by prepared transactions; restock later");
        }

        State.Stock[sku] = quantity;
        await Participant.PersistAsync();
        return Snapshot();
    }

    /// <inheritdoc/>
    public Task<InventorySnapshot> GetAsync() => Task.FromResult(Snapshot());

    /// <inheritdoc/>
    public override string? Missing() => State.Stock.Count > 0 ? null : $"{Describe} does not exist (no stock was ever set)";

    /// <inheritdoc/>
    public override void ValidateOperation(TxOperation operation)
    {
        if (operation is not TakeStock take)
        {
            throw new InvalidRequestException(nameof(operation), $"an inventory takes stock, not '{operation.Describe()}'");
        }

        Guard.Name(take.Sku, "sku");
        Guard.InRange(take.Quantity, "quantity", 1, Limits.Transactions.MaxStock);
    }

    /// <inheritdoc/>
    public override ReserveCheck CanReserve(TxOperation operation)
    {
        var take = (TakeStock)operation;
        if (!State.Stock.TryGetValue(take.Sku, out var stock))
        {
            return new ReserveCheck(false, ErrorCodes.NotFound, $"{Describe}: unknown SKU '{take.Sku}'");
        }

        var available = stock - ReservedOf(take.Sku);
        return available >= take.Quantity
            ? ReserveCheck.Granted
            : new ReserveCheck(false, TransactionErrorCodes.Insufficient, string.Create(CultureInfo.InvariantCulture, $"{Describe}: {available} {take.Sku} available, {take.Quantity} asked"));
    }

    /// <inheritdoc/>
    public override void Apply(TxOperation operation)
    {
        var take = (TakeStock)operation;
        State.Stock[take.Sku] -= take.Quantity;
    }

    /// <inheritdoc/>
    public override void Undo(TxOperation operation)
    {
        var take = (TakeStock)operation;
        var current = State.Stock.GetValueOrDefault(take.Sku);
        if (current > Limits.Transactions.MaxStock - take.Quantity)
        {
            throw new GranaryException(TransactionErrorCodes.Overflow, $"{Describe}: returning {take.Quantity} {take.Sku} would exceed the maximum stock");
        }

        State.Stock[take.Sku] = current + take.Quantity;
    }

    private int ReservedOf(string sku) => Participant.Reserved<TakeStock>().Where(t => string.Equals(t.Sku, sku, StringComparison.Ordinal)).Sum(t => t.Quantity);

    private InventorySnapshot Snapshot() => new(
        this.GetPrimaryKeyString(),
        new Dictionary<string, int>(State.Stock, StringComparer.Ordinal),
        Participant.Reserved<TakeStock>().GroupBy(t => t.Sku, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(t => t.Quantity), StringComparer.Ordinal),
        Participant.PreparedCount);
}
