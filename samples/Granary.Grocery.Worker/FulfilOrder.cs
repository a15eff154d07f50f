using Granary.Client.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Granary.Grocery.Worker;

/// <summary>
/// Handles <c>fulfil-order</c> tasks: packs a paid order. Runs in the worker process, not in a silo;
/// its result names the machine and process that packed the order.
/// </summary>
public sealed class FulfilOrder(TimeProvider time, ILogger<FulfilOrder> logger) : ITaskHandler<FulfilOrderTask, Fulfilment>
{
    /// <inheritdoc/>
    public ValueTask<Fulfilment> HandleAsync(FulfilOrderTask arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        cancellationToken.ThrowIfCancellationRequested();
        WorkerLog.Packed(logger, arguments.OrderId, arguments.Quantity, arguments.Item, arguments.Customer);
        return ValueTask.FromResult(new Fulfilment(arguments.OrderId, Environment.MachineName, Environment.ProcessId, time.GetUtcNow()));
    }
}
