using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>A single-use coupon: one prepared redemption at a time, redeemed at most once.</summary>
[GrainType("granary.transactions.coupon")]
[KeyIsName("coupon")]
public sealed class CouponGrain(
    [PersistentState("tx-coupon", GranaryStorage.Default)] IPersistentState<CouponState> state,
    IGrainFactory grains,
    DeepCopier copier,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<CouponGrain> logger)
    : ParticipantGrain<CouponState>(state, grains, copier, time, options, logger), ICouponGrain
{
    /// <inheritdoc/>
    public override string Describe => $"coupon '{this.GetPrimaryKeyString()}'";

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
        await Participant.PersistAsync();
        return Snapshot();
    }

    /// <inheritdoc/>
    public Task<CouponSnapshot> GetAsync() => Task.FromResult(Snapshot());

    /// <inheritdoc/>
    public override string? Missing() => State.Issued ? null : $"{Describe} was never issued";

    /// <inheritdoc/>
    public override void ValidateOperation(TxOperation operation)
    {
        if (operation is not RedeemCoupon redeem)
        {
            throw new InvalidRequestException(nameof(operation), $"a coupon takes redeem, not '{operation.Describe()}'");
        }

        Guard.Name(redeem.Customer, "customer");
    }

    /// <inheritdoc/>
    public override ReserveCheck CanReserve(TxOperation operation)
    {
        if (State.RedeemedBy is { } by)
        {
            return new ReserveCheck(false, TransactionErrorCodes.Insufficient, $"{Describe} was already redeemed by {by}");
        }

        return Participant.Reserved<RedeemCoupon>().FirstOrDefault() is { } pending
            ? new ReserveCheck(false, TransactionErrorCodes.Insufficient, $"{Describe} is being redeemed by {pending.Customer}")
            : ReserveCheck.Granted;
    }

    /// <inheritdoc/>
    public override void Apply(TxOperation operation) => State.RedeemedBy = ((RedeemCoupon)operation).Customer;

    /// <inheritdoc/>
    public override void Undo(TxOperation operation)
    {
        if (string.Equals(State.RedeemedBy, ((RedeemCoupon)operation).Customer, StringComparison.Ordinal))
        {
            State.RedeemedBy = null;
        }
    }

    private CouponSnapshot Snapshot() => new(this.GetPrimaryKeyString(), State.Issued, State.RedeemedBy, Participant.Reserved<RedeemCoupon>().FirstOrDefault()?.Customer, State.Discount);
}
