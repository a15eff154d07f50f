using System.Globalization;
using Granary.Client.Transactions;
using Granary.Transactions;

namespace Granary.Cli.Scenarios.Transactions;

/// <summary>
/// A checkout as a saga: take stock, charge the wallet, book delivery. Delivery fails for good,
/// so the charge and the stock are compensated in reverse; then a compensation that keeps failing
/// parks a second saga in CompensationFailed until an operator retries it.
/// </summary>
public sealed class SagaScenario : IScenario
{
    /// <inheritdoc/>
    public string Name => "saga";

    /// <inheritdoc/>
    public string Title => "Saga: ordered steps, retries with backoff, reverse compensation, CompensationFailed and operator retry";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var run = Guid.NewGuid().ToString("N")[..6];
        var grains = context.Grains;
        var stockKey = TransactionClient.StockKey($"shop-{run}", "eggs");
        await grains.GetGrain<IInventoryGrain>(stockKey).SetStockAsync("eggs", 10);
        await grains.GetGrain<IAccountGrain>($"wallet-{run}").OpenAsync(1_000);
        var delivery = grains.GetGrain<IScriptedParticipantGrain>($"delivery-{run}");
        await delivery.ScriptAsync(actionFailures: 100, compensationFailures: 0, refuse: false);
        var definition = new SagaDefinition(
        [
            new SagaStepDefinition("take-eggs", ParticipantRef.Inventory(stockKey), new TakeStock("eggs", 6)),
            new SagaStepDefinition("charge", ParticipantRef.Account($"wallet-{run}"), new Debit(420)),
            new SagaStepDefinition("book-delivery", new ParticipantRef(ParticipantKind.Scripted, $"delivery-{run}"), new ScriptedStep("van")),
        ]);

        var saga1 = grains.GetGrain<ISagaGrain>($"saga-{run}");
        var view = await UntilStoppedAsync(saga1, await saga1.RunAsync(definition), cancellationToken);
        foreach (var line in view.Journal)
        {
            context.Say("  " + line);
        }

        var eggs = (await grains.GetGrain<IInventoryGrain>(stockKey).GetAsync()).Stock["eggs"];
        var balance = (await grains.GetGrain<IAccountGrain>($"wallet-{run}").GetAsync()).Balance;
        var restored = view.Status == nameof(SagaStatus.Compensated) && eggs == 10 && balance == 1_000;
        context.Check("sagaCompensated", restored, restored, string.Create(CultureInfo.InvariantCulture, $"saga 1: {view.Status}; eggs {eggs} (10 before), wallet {balance} (1000 before)"));

        // Saga 2: delivery fails, and the wallet's refund path is down for a while.
        var refund = grains.GetGrain<IScriptedParticipantGrain>($"refund-{run}");
        await refund.ScriptAsync(actionFailures: 0, compensationFailures: 100, refuse: false);
        var definition2 = new SagaDefinition(
        [
            new SagaStepDefinition("charge", new ParticipantRef(ParticipantKind.Scripted, $"refund-{run}"), new ScriptedStep("card")),
            new SagaStepDefinition("book-delivery", new ParticipantRef(ParticipantKind.Scripted, $"delivery-{run}"), new ScriptedStep("van-2")),
        ]);
        var saga2 = grains.GetGrain<ISagaGrain>($"saga2-{run}");
        var parked = await UntilStoppedAsync(saga2, await saga2.RunAsync(definition2), cancellationToken);
        context.Check(parked.Status == nameof(SagaStatus.CompensationFailed), $"saga 2: {parked.Status} at step {parked.Step} (last error: {parked.LastError})");
        await refund.ScriptAsync(0, 0, false);
        var retried = await UntilStoppedAsync(saga2, await saga2.RetryCompensationAsync(), cancellationToken);
        var refunds = (await refund.GetAsync()).Calls.Count(c => c == "compensate card");
        context.Check("compensationFailedRetried", refunds, retried.Status == nameof(SagaStatus.Compensated) && refunds == 1,
            $"operator fixes the refund path and retries ('granary tx saga retry saga2-{run}'): {retried.Status}; the refund ran {refunds} time(s), once expected");
        return context.AllHeld;
    }

    /// <summary>A run call returns early while backoffs are long; follow the saga until it stops (or stop the scenario at the deadline).</summary>
    private static async Task<SagaView> UntilStoppedAsync(ISagaGrain saga, SagaView view, CancellationToken cancellationToken)
    {
        await ScenarioContext.WaitUntilAsync($"saga {saga.GetPrimaryKeyString()} stopping (it is {view.Status})", TimeSpan.FromSeconds(30), async () =>
        {
            if (view.Status is nameof(SagaStatus.Running) or nameof(SagaStatus.Compensating))
            {
                view = await saga.GetAsync();
            }

            return view.Status is not (nameof(SagaStatus.Running) or nameof(SagaStatus.Compensating));
        }, cancellationToken);
        return view;
    }
}
