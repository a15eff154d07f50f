using System.Globalization;
using Granary.Errors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Granary.Transactions;

/// <summary>
/// A money account: prepared debits hold funds (available = balance - holds), prepared credits
/// count against the maximum balance, so concurrent transactions never block each other and the
/// balance can never go negative or overflow whatever the outcome.
/// </summary>
[GrainType("granary.transactions.account")]
[KeyIsName("account")]
public sealed class AccountGrain(
    [PersistentState("tx-account", GranaryStorage.Default)] IPersistentState<AccountState> state,
    IGrainFactory grains,
    DeepCopier copier,
    TimeProvider time,
    IOptions<TransactionOptions> options,
    ILogger<AccountGrain> logger)
    : ParticipantGrain<AccountState>(state, grains, copier, time, options, logger), IAccountGrain
{
    /// <inheritdoc/>
    public override string Describe => $"account '{this.GetPrimaryKeyString()}'";

    private long Held => Participant.Reserved<Debit>().Sum(d => d.Amount);

    private long PendingCredits => Participant.Reserved<Credit>().Sum(c => c.Amount);

    /// <inheritdoc/>
    public async Task<AccountSnapshot> OpenAsync(long initialBalance)
    {
        Guard.InRange(initialBalance, nameof(initialBalance), 0, Limits.Transactions.MaxAmount);
        Participant.ThrowIfBroken();
        if (State.Open)
        {
            if (State.Balance == initialBalance)
            {
                // The opening write may still be in flight (prepares interleave): answer once durable.
                await Participant.WhenDurableAsync();
                return Snapshot();
            }

            throw new InvalidRequestException(nameof(initialBalance), $"{Describe} is already open with balance {State.Balance}");
        }

        State.Open = true;
        State.Balance = initialBalance;
        await Participant.PersistAsync();
        return Snapshot();
    }

    /// <inheritdoc/>
    public Task<AccountSnapshot> GetAsync() => Task.FromResult(Snapshot());

    /// <inheritdoc/>
    public override string? Missing() => State.Open ? null : $"{Describe} does not exist";

    /// <inheritdoc/>
    public override void ValidateOperation(TxOperation operation)
    {
        var amount = operation switch
        {
            Debit d => d.Amount,
            Credit c => c.Amount,
            _ => throw new InvalidRequestException(nameof(operation), $"an account takes debit or credit, not '{operation.Describe()}'"),
        };
        Guard.InRange(amount, "amount", 1, Limits.Transactions.MaxAmount);
    }

    /// <inheritdoc/>
    public override ReserveCheck CanReserve(TxOperation operation)
    {
        switch (operation)
        {
            case Debit d when State.Balance - Held < d.Amount:
                return new ReserveCheck(false, TransactionErrorCodes.Insufficient, string.Create(CultureInfo.InvariantCulture, $"{Describe}: balance {State.Balance}, held {Held}, cannot debit {d.Amount}"));
            case Credit c when State.Balance + PendingCredits > Limits.Transactions.MaxAmount - c.Amount:
                return new ReserveCheck(false, TransactionErrorCodes.Overflow, string.Create(CultureInfo.InvariantCulture, $"{Describe}: crediting {c.Amount} could exceed the maximum balance {Limits.Transactions.MaxAmount}"));
            default:
                return ReserveCheck.Granted;
        }
    }

    /// <inheritdoc/>
    public override void Apply(TxOperation operation) => State.Balance += operation switch
    {
        Debit d => -d.Amount,
        Credit c => c.Amount,
        _ => 0,
    };

    /// <inheritdoc/>
    public override void Undo(TxOperation operation)
    {
        switch (operation)
        {
            case Debit d:
                State.Balance += d.Amount;
                break;
            case Credit c when State.Balance - Held < c.Amount:
                throw new GranaryException(TransactionErrorCodes.Insufficient, string.Create(CultureInfo.InvariantCulture, $"{Describe}: cannot take back credit {c.Amount}; only {State.Balance - Held} available"));
            case Credit c:
                State.Balance -= c.Amount;
                break;
        }
    }

    private AccountSnapshot Snapshot() => new(this.GetPrimaryKeyString(), State.Open, State.Balance, Held, PendingCredits, Participant.PreparedCount) { StateWrites = Participant.StateWrites };
}
