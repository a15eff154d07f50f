using System.Diagnostics;
using System.Globalization;
using Granary.Client.Transactions;
using Granary.Transactions;

namespace Granary.Cli.Scenarios.Transactions;

/// <summary>
/// Concurrent random transfers between accounts: money is conserved, no balance goes negative,
/// and a transaction whose coordinator stopped before deciding is finished by retrying its id.
/// </summary>
public sealed class BankTransfersScenario : IScenario
{
    private const int Accounts = 20;
    private const int Transfers = 400;
    private const long Opening = 1_000;

    /// <inheritdoc/>
    public string Name => "bank-transfers";

    /// <inheritdoc/>
    public string Title => "Concurrent 2PC transfers: money conserved, never negative, retries by id are safe";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var run = Guid.NewGuid().ToString("N")[..6];
        var names = Enumerable.Range(0, Accounts).Select(i => string.Create(CultureInfo.InvariantCulture, $"bank-{run}-{i}")).ToList();
        await Task.WhenAll(names.Select(n => context.Grains.GetGrain<IAccountGrain>(n).OpenAsync(Opening)));
        var tx = new TransactionClient(context.Grains);
        var random = new Random(42);
        var jobs = Enumerable.Range(0, Transfers).Select(_ =>
        {
            var from = random.Next(Accounts);
            var to = (from + 1 + random.Next(Accounts - 1)) % Accounts;
            return (From: names[from], To: names[to], Amount: (long)random.Next(1, 400));
        }).ToList();

        var clock = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(32);
        var outcomes = await Task.WhenAll(jobs.Select(async j =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                await tx.TransferAsync(j.From, j.To, j.Amount);
                return (string?)null;
            }
            catch (TransactionAbortedException ex)
            {
                return ex.Code;
            }
            finally
            {
                gate.Release();
            }
        }));
        var committed = outcomes.Count(o => o is null);
        var otherAborts = outcomes.Where(o => o is not null && o != TransactionErrorCodes.Insufficient).Distinct().ToList();
        context.Check("committed", committed, committed > 0 && otherAborts.Count == 0,
            string.Create(CultureInfo.InvariantCulture, $"{Transfers} transfers, 32 at a time, in {clock.Elapsed.TotalSeconds:F1} s: {committed} committed, {Transfers - committed} aborted, all for insufficient funds{(otherAborts.Count == 0 ? string.Empty : " EXCEPT: " + string.Join(", ", otherAborts))}"));

        // A coordinator that stopped between prepare and decision: the participants are prepared,
        // nobody decided. Retrying the same id runs the protocol again; duplicate prepares are absorbed.
        // Playing the coordinator takes code inside a silo (the embedded tour); a client's prepare is refused.
        var orphan = TransactionClient.NewId();
        if (context.Connection.Embedded)
        {
            await context.Grains.GetGrain<IAccountGrain>(names[0]).PrepareAsync(orphan, new Debit(1));
            await context.Grains.GetGrain<IAccountGrain>(names[1]).PrepareAsync(orphan, new Credit(1));
            var held = (await context.Grains.GetGrain<IAccountGrain>(names[0]).GetAsync()).Held;
            var retried = await tx.RunAsync(orphan, TransactionClient.TransferRequest(names[0], names[1], 1));
            var heldAfter = (await context.Grains.GetGrain<IAccountGrain>(names[0]).GetAsync()).Held;
            context.Check(held == 1 && retried.Outcome == TxOutcome.Committed && heldAfter == 0,
                $"coordinator 'lost' after prepare: {held} held at {names[0]}; retry by id -> {retried.Outcome}, held after: {heldAfter}");
        }
        else
        {
            await CheckClientCannotPrepareAsync(context, context.Grains.GetGrain<IAccountGrain>(names[0]), orphan);
        }

        var balances = await Task.WhenAll(names.Select(n => context.Grains.GetGrain<IAccountGrain>(n).GetAsync()));
        var total = balances.Sum(b => b.Balance);
        var conserved = total == Accounts * Opening;
        var nonNegative = balances.All(b => b.Balance >= 0);
        var noHolds = balances.All(b => b.Held == 0 && b.PendingCredits == 0 && b.Prepared == 0);
        context.Check("moneyConserved", conserved, conserved, string.Create(CultureInfo.InvariantCulture, $"invariant: total {total} == {Accounts * Opening}"));
        context.Check("noNegativeBalance", nonNegative, nonNegative, $"invariant: no negative balance (min {balances.Min(b => b.Balance)})");
        context.Check("nothingPrepared", noHolds, noHolds, "invariant: no holds or prepared transactions left");
        context.Say("with real silos and SIGKILLs: tests/Granary.Tests.Cluster/Transactions/InvariantUnderSiloLossTests");
        return context.AllHeld;
    }

    /// <summary>Against a cluster: a client's prepare (a step between silos) is refused with PERMISSION_DENIED and holds nothing.</summary>
    internal static async Task CheckClientCannotPrepareAsync(ScenarioContext context, IAccountGrain account, string transactionId)
    {
        string? code = null;
        try
        {
            await account.PrepareAsync(transactionId, new Debit(1));
        }
        catch (Granary.Security.PermissionDeniedException ex)
        {
            code = ex.Code;
        }

        var held = (await account.GetAsync()).Held;
        context.Check(code == Granary.Errors.ErrorCodes.PermissionDenied && held == 0,
            $"a client playing the coordinator: PrepareAsync -> {code ?? "accepted"}, {held} held (prepare is a step between silos; the embedded tour shows the lost-coordinator case from inside a silo)");
    }
}
