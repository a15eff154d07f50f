using System.Diagnostics;
using System.Globalization;
using Granary.Sdk.Transactions;
using Granary.Transactions;

namespace Granary.Client.Scenarios.Transactions;

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
                return true;
            }
            catch (TransactionAbortedException)
            {
                return false;
            }
            finally
            {
                gate.Release();
            }
        }));
        var committed = outcomes.Count(o => o);
        context.Fact("committed", committed, string.Create(CultureInfo.InvariantCulture, $"{Transfers} transfers, 32 at a time, in {clock.Elapsed.TotalSeconds:F1} s: {committed} committed, {Transfers - committed} aborted (insufficient funds)"));

        // A coordinator that stopped between prepare and decision: the participants are prepared,
        // nobody decided. Retrying the same id runs the protocol again; duplicate prepares are absorbed.
        var orphan = TransactionClient.NewId();
        await context.Grains.GetGrain<IAccountGrain>(names[0]).PrepareAsync(orphan, new Debit(1));
        await context.Grains.GetGrain<IAccountGrain>(names[1]).PrepareAsync(orphan, new Credit(1));
        var held = (await context.Grains.GetGrain<IAccountGrain>(names[0]).GetAsync()).Held;
        var retried = await tx.RunAsync(orphan, TransactionClient.TransferRequest(names[0], names[1], 1));
        context.Say($"coordinator 'lost' after prepare (1 held at {names[0]}: {held}); retry by id -> {retried.Outcome}, hold released: {(await context.Grains.GetGrain<IAccountGrain>(names[0]).GetAsync()).Held == 0}");

        var balances = await Task.WhenAll(names.Select(n => context.Grains.GetGrain<IAccountGrain>(n).GetAsync()));
        var total = balances.Sum(b => b.Balance);
        var conserved = total == Accounts * Opening;
        var nonNegative = balances.All(b => b.Balance >= 0);
        var noHolds = balances.All(b => b.Held == 0 && b.PendingCredits == 0 && b.Prepared == 0);
        context.Fact("moneyConserved", conserved, string.Create(CultureInfo.InvariantCulture, $"invariant: total {total} == {Accounts * Opening}: {(conserved ? "holds" : "BROKEN")}"));
        context.Fact("noNegativeBalance", nonNegative, $"invariant: no negative balance (min {balances.Min(b => b.Balance)}): {(nonNegative ? "holds" : "BROKEN")}");
        context.Fact("nothingPrepared", noHolds, $"invariant: no holds or prepared transactions left: {(noHolds ? "holds" : "BROKEN")}");
        context.Say("with real silos and SIGKILLs: tests/Granary.Tests.Cluster/Transactions/InvariantUnderSiloLossTests");
        return conserved && nonNegative && noHolds && committed > 0 && retried.Outcome == TxOutcome.Committed;
    }
}
