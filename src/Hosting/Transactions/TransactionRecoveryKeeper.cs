using Granary.Transactions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Hosting.Transactions;

/// <summary>
/// On every silo, once it is active: pings every recovery-registry bucket at the scan interval, so
/// the buckets (whose timers resume unfinished coordinators) are re-activated after the silo that
/// hosted them dies. Needs no reminder service.
/// </summary>
public sealed partial class TransactionRecoveryKeeper(IGrainFactory grains, IOptions<TransactionOptions> options, TimeProvider time, ILogger<TransactionRecoveryKeeper> logger)
    : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    /// <inheritdoc/>
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(
            nameof(TransactionRecoveryKeeper),
            ServiceLifecycleStage.Active,
            _ =>
            {
                _loop = Task.Run(() => RunAsync(_stop.Token));
                return Task.CompletedTask;
            },
            async _ =>
            {
                await _stop.CancelAsync();
                if (_loop is not null)
                {
                    await _loop.ContinueWith(t => t.Exception, TaskScheduler.Default);
                }
            });
    }

    /// <inheritdoc/>
    public void Dispose() => _stop.Dispose();

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(options.Value.RecoveryScanInterval, time);
        do
        {
            for (var bucket = 0; bucket < ITransactionRecoveryGrain.Buckets; bucket++)
            {
                try
                {
                    await grains.GetGrain<ITransactionRecoveryGrain>(bucket).PingAsync().WaitAsync(options.Value.CallTimeout, time, ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogDebugPingFailed(logger, bucket, ex.Message);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(ct).AsTask().ContinueWith(t => !t.IsCanceled && t.Result, TaskScheduler.Default));
    }

    [LoggerMessage(EventId = 6101, Level = LogLevel.Debug, Message = "Recovery bucket {Bucket} did not answer a ping: {Error}")]
    private static partial void LogDebugPingFailed(ILogger logger, int bucket, string error);
}
