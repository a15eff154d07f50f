using Granary.Scheduling;
using Granary.Scheduling.Handlers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Granary.Server.Scheduling;

/// <summary>
/// Runs on every silo: declares the configured queues, starts (and keeps registered) this silo's
/// workers for each of them when the silo has task handlers (the demonstration handlers), and ticks the scheduling directory so queues, scheduler partitions and periodic tasks are
/// active somewhere even after the silo that hosted them died.
/// </summary>
internal sealed partial class SchedulingKeeper(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IOptions<SchedulingOptions> options,
    TaskHandlerRegistry handlers,
    ILogger<SchedulingKeeper> logger) : BackgroundService
{
    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var siloName = silo.SiloAddress.ToParsableString();
        var declared = false;
        var workersPerQueue = handlers.Handlers.Count == 0 ? 0 : o.WorkersPerSilo;
        using var timer = new PeriodicTimer(o.KeeperInterval);
        do
        {
            try
            {
                if (!declared)
                {
                    // Listed in the registry (so every silo accepts tasks for them, whatever its own configuration says) before any worker serves them.
                    foreach (var queue in o.Queues)
                    {
                        await grains.GetGrain<IQueueGrain>(queue).DeclareAsync(new QueueDeclaration { FromConfiguration = true });
                    }

                    declared = true;
                }

                foreach (var queue in o.Queues)
                {
                    for (var i = 0; i < workersPerQueue; i++)
                    {
                        await grains.GetGrain<IWorkerGrain>($"{queue}/{siloName}#{i}")
                            .StartAsync(new WorkerSettings(o.WorkerCapacity, o.WorkerWeight));
                    }
                }

                await grains.GetGrain<ISchedulingDirectoryGrain>(0).TickAsync().WaitAsync(TimeSpan.FromSeconds(10), stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The silo may still be starting, or a silo just died: try again on the next tick.
                LogDebugKeeperFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(EventId = 7100, Level = LogLevel.Debug, Message = "Scheduling keeper tick failed; retrying")]
    private static partial void LogDebugKeeperFailed(ILogger logger, Exception exception);
}
