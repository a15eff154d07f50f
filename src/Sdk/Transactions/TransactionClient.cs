using System.Globalization;
using Granary.Client.Configuration;
using Granary.Client.DependencyInjection;
using Granary.Errors;
using Granary.Transactions;

namespace Granary.Client.Transactions;

/// <summary>
/// Client helpers for the transaction family: transfers and checkouts as two-phase commits. An
/// aborted transaction becomes a typed <see cref="TransactionAbortedException"/> (its code says
/// why: NOT_FOUND, INSUFFICIENT, OVERFLOW, TX_ABORTED); a reused id with other content a
/// <see cref="TransactionConflictException"/>. Retrying with the same id is always safe. Every call is
/// bounded by <see cref="GranaryClientOptions.CallTimeout"/> (<see cref="TimeoutException"/>) and by its
/// cancellation token (<see cref="OperationCanceledException"/>); the transaction may still complete
/// after either: run it again with the same id to learn its outcome.
/// </summary>
/// <example><code>
/// var tx = new TransactionClient(grains);
/// await tx.TransferAsync("alice", "bob", 500, transactionId: "order-17", cancellationToken: ct);
/// await tx.TransferAsync("alice", "bob", 500, protocol: TxProtocol.ThreePhase, cancellationToken: ct);
/// </code></example>
/// <param name="grains">The cluster client (or a grain's factory).</param>
/// <param name="options">The call timeout and clock (<see cref="GranaryClientOptions"/>'s defaults when null).</param>
public sealed class TransactionClient(IGrainFactory grains, GranaryClientOptions? options = null)
{
    private readonly CallBound _bound = (options ?? new GranaryClientOptions()).Bound();

    /// <summary>A new unique transaction id.</summary>
    public static string NewId() => TransactionIds.New();

    /// <summary>Moves <paramref name="amount"/> from one account to another atomically.</summary>
    public Task<TransactionResult> TransferAsync(string from, string to, long amount, string? transactionId = null, TxProtocol protocol = TxProtocol.TwoPhase, CancellationToken cancellationToken = default)
    {
        Guard.Name(from, nameof(from));
        Guard.Name(to, nameof(to));
        Guard.InRange(amount, nameof(amount), 1, Limits.Transactions.MaxAmount);
        if (string.Equals(from, to, StringComparison.Ordinal))
        {
            throw new InvalidRequestException(nameof(to), "must differ from 'from'");
        }

        return transactionId is null
            ? RunFreshAsync(TransferRequest(from, to, amount), protocol, cancellationToken)
            : RunAsync(transactionId, TransferRequest(from, to, amount), protocol, cancellationToken: cancellationToken);
    }

    /// <summary>The request a transfer sends.</summary>
    public static TxRequest TransferRequest(string from, string to, long amount) =>
        new([new TxStep(ParticipantRef.Account(from), new Debit(amount)), new TxStep(ParticipantRef.Account(to), new Credit(amount))]);

    /// <summary>
    /// A grocery checkout: take stock of every line, debit the wallet (total minus the coupon's
    /// discount) and redeem the coupon, all or nothing.
    /// </summary>
    public Task<TransactionResult> CheckoutAsync(string wallet, string shop, IReadOnlyList<(string Sku, int Quantity)> lines, long total, string? coupon, string? transactionId = null, TxProtocol protocol = TxProtocol.TwoPhase, CancellationToken cancellationToken = default) =>
        transactionId is null
            ? RunFreshAsync(CheckoutRequest(wallet, shop, lines, total, coupon), protocol, cancellationToken)
            : RunAsync(transactionId, CheckoutRequest(wallet, shop, lines, total, coupon), protocol, cancellationToken: cancellationToken);

    /// <summary>The request a checkout sends (several lines of one shop are one participant, so lines must name distinct SKUs of one inventory grain per SKU).</summary>
    public static TxRequest CheckoutRequest(string wallet, string shop, IReadOnlyList<(string Sku, int Quantity)> lines, long total, string? coupon)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (lines.Count == 0)
        {
            throw new InvalidRequestException(nameof(lines), "a checkout needs at least one line");
        }

        // One inventory grain per (shop, SKU) keeps every participant distinct in the transaction.
        var steps = lines.Select(l => new TxStep(ParticipantRef.Inventory(StockKey(shop, l.Sku)), new TakeStock(l.Sku, l.Quantity))).ToList();
        steps.Add(new TxStep(ParticipantRef.Account(wallet), new Debit(total)));
        if (coupon is not null)
        {
            steps.Add(new TxStep(ParticipantRef.Coupon(coupon), new RedeemCoupon(wallet)));
        }

        return new TxRequest(steps);
    }

    /// <summary>Inventory grain key for a SKU of a shop.</summary>
    public static string StockKey(string shop, string sku) => string.Create(CultureInfo.InvariantCulture, $"{shop}/{sku}");

    /// <summary>
    /// Runs a transaction under the chosen protocol; an abort becomes a typed error. Two-phase commit
    /// (default) never lets participants disagree but may hold reservations while its coordinator is
    /// unreachable; three-phase commit (<paramref name="threePhase"/> sets its timeout) never waits for
    /// a crashed coordinator but is only correct with bounded delays and no network partitions.
    /// </summary>
    public Task<TransactionResult> RunAsync(string transactionId, TxRequest request, TxProtocol protocol = TxProtocol.TwoPhase, ThreePhaseRun? threePhase = null, CancellationToken cancellationToken = default) =>
        RunCoreAsync(transactionId, request, protocol, threePhase, freshId: false, cancellationToken);

    /// <summary>Runs a transaction under a new id (no earlier run to look for). Retry a failed call with <see cref="RunAsync"/> and the id from the error or result.</summary>
    public Task<TransactionResult> RunFreshAsync(TxRequest request, TxProtocol protocol = TxProtocol.TwoPhase, CancellationToken cancellationToken = default) =>
        RunCoreAsync(NewId(), request, protocol, null, freshId: true, cancellationToken);

    private async Task<TransactionResult> RunCoreAsync(string transactionId, TxRequest request, TxProtocol protocol, ThreePhaseRun? threePhase, bool freshId, CancellationToken cancellationToken)
    {
        Guard.Name(transactionId, nameof(transactionId));
        var result = protocol switch
        {
            TxProtocol.TwoPhase => await _bound.On(grains.GetGrain<ITwoPhaseCommitExecutorGrain>(0).ExecuteAsync(transactionId, request, freshId), cancellationToken),
            TxProtocol.ThreePhase => await _bound.On(grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(transactionId).ExecuteAsync(request, threePhase ?? new ThreePhaseRun()), cancellationToken),
            _ => throw new InvalidRequestException(nameof(protocol), $"unknown protocol {protocol}"),
        };
        if (result.Outcome == TxOutcome.Aborted)
        {
            if (result.AbortCode == ErrorCodes.Conflict)
            {
                throw new TransactionConflictException(transactionId, result.AbortReason ?? "reused with different content");
            }

            throw new TransactionAbortedException(transactionId, result.AbortCode ?? TransactionErrorCodes.Aborted, result.AbortReason ?? "aborted");
        }

        return result;
    }
}
