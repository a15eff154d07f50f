using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Transactions;

/// <summary>A single-use coupon: one prepared redemption at a time, redeemed at most once.</summary>
[GrainType("granary.transactions.coupon")]
[KeyIsName("coupon")]
public sealed class CouponGrain(
    [PersistentState("tx-coupon", GranaryStorage.Default)] IPersistentState<CouponState> state,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<CouponGrain> logger)
    : TransactionParticipantGrain<CouponState>(state, time, options, logger), ICouponGrain
{
    /// <inheritdoc/>
    protected override string Describe => $"coupon '{this.GetPrimaryKeyString()}'";

    /// <inheritdoc/>
    public async Task<CouponSnapshot> IssueAsync(long discount)
    {
        Guard.InRange(discount, nameof(discount), 1, Limits.Transactions.MaxAmount);
        if (State.Issued)
        {
            if (State.Discount == discount)
            {
                return Snapshot();
            }

            throw new InvalidRequestException(nameof(discount), $"{Describe} is already issued with discount {State.Discount}");
        }

        State.Issued = true;
        State.Discount = discount;
        await PersistAsync();
        return Snapshot();
    }

    /// <inheritdoc/>
    public Task<CouponSnapshot> GetAsync() => Task.FromResult(Snapshot());

    /// <inheritdoc/>
    protected override string? Missing() => State.Issued ? null : $"{Describe} was never issued";

    /// <inheritdoc/>
    protected override void ValidateOperation(TxOperation operation)
    {
        if (operation is not RedeemCoupon redeem)
        {
            throw new InvalidRequestException(nameof(operation), $"a coupon takes redeem, not '{operation.Describe()}'");
        }

        Guard.Name(redeem.Customer, "customer");
    }

    /// <inheritdoc/>
    protected override PrepareResponse CanReserve(TxOperation operation)
    {
        if (State.RedeemedBy is { } by)
        {
            return new PrepareResponse(false, TransactionErrorCodes.Insufficient, $"{Describe} was already redeemed by {by}");
        }

        return Reserved<RedeemCoupon>().FirstOrDefault() is { } pending
            ? new PrepareResponse(false, TransactionErrorCodes.Insufficient, $"{Describe} is being redeemed by {pending.Customer}")
            : PrepareResponse.Granted;
    }

    /// <inheritdoc/>
    protected override void Apply(TxOperation operation) => State.RedeemedBy = ((RedeemCoupon)operation).Customer;

    /// <inheritdoc/>
    protected override void Undo(TxOperation operation)
    {
        if (string.Equals(State.RedeemedBy, ((RedeemCoupon)operation).Customer, StringComparison.Ordinal))
        {
            State.RedeemedBy = null;
        }
    }

    private CouponSnapshot Snapshot() => new(this.GetPrimaryKeyString(), State.Issued, State.RedeemedBy, Reserved<RedeemCoupon>().FirstOrDefault()?.Customer, State.Discount);
}
