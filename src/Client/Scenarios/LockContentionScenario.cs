using System.Diagnostics;
using System.Globalization;
using Granary.Cli.Locks;
using Granary.Client.Locks;

namespace Granary.Cli.Scenarios;

/// <summary>Many workers, one lock: throughput of hand-offs, FIFO order and the wait distribution.</summary>
public sealed class LockContentionScenario : IScenario
{
    private const int Workers = 16;
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(4);

    /// <inheritdoc/>
    public string Name => "lock-contention";

    /// <inheritdoc/>
    public string Title => "Many workers contend for one lock: hand-offs per second, FIFO order, wait distribution";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var name = "contention-demo-" + Guid.NewGuid().ToString("N")[..8];
        var log = new GrantLog();
        var counter = 0;
        var overlaps = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        async Task Worker(int index)
        {
            var locks = new DistributedLocks(context.Grains, new DistributedLockOptions { Owner = "worker-" + index.ToString(CultureInfo.InvariantCulture) });
            while (!stop.IsCancellationRequested)
            {
                var requested = GrantLog.Now;
                await using var lease = await locks.AcquireAsync(name, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), CancellationToken.None);
                log.Record(index, requested, GrantLog.Now, lease.Token, lease.Lease.Arrival);
                // The critical section: a non-atomic read-modify-write that only mutual exclusion keeps right.
                if (Interlocked.Increment(ref overlaps) != 1)
                {
                    Interlocked.Increment(ref counter);
                }

                Interlocked.Decrement(ref overlaps);
            }
        }

        var workers = Enumerable.Range(0, Workers).Select(Worker).ToArray();
        await Task.Delay(WarmUp, cancellationToken);
        log.StartMeasuring();
        var clock = Stopwatch.StartNew();
        await Task.Delay(Duration, cancellationToken);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        var seconds = clock.Elapsed.TotalSeconds;
        var a = log.Analyse();
        ScenarioContext.Require(a.Grants > Workers, string.Create(CultureInfo.InvariantCulture, $"only {a.Grants} grants in {seconds:F1} s for {Workers} workers: the lock was not handed round"));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"{Workers} workers, one mutex, {seconds:F1} s: {a.Grants:N0} grants ({a.Grants / seconds:N0}/s), {a.HandOffs:N0} hand-offs to another worker ({a.HandOffs / seconds:N0}/s)"));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"wait for the lock: p50 {a.WaitP50Ms:F1} ms, p99 {a.WaitP99Ms:F1} ms, p99.9 {a.WaitP999Ms:F1} ms, max {a.WaitMaxMs:F1} ms"));
        context.Check("arrivalOrderViolations", a.ArrivalOrderViolations, a.ArrivalOrderViolations == 0,
            string.Create(CultureInfo.InvariantCulture, $"fairness: grants per worker between {a.FewestGrantsPerWorker} and {a.MostGrantsPerWorker}; grants out of the lock's arrival order {a.ArrivalOrderViolations} (FIFO)"));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"seen from the clients: {a.OutOfOrderGrants} grants ({a.OutOfOrderFraction:P2}) went to a request sent later than another still waiting by >= {GrantLog.FifoMargin.TotalMilliseconds} ms (client-to-grain delivery order on a busy machine)"));
        context.Check("grants", a.Grants, a.TokenOrderViolations == 0 && counter == 0,
            string.Create(CultureInfo.InvariantCulture, $"fencing tokens out of grant order: {a.TokenOrderViolations}; two holders at once observed: {counter}"));
        context.Facts["handOffsPerSecond"] = a.HandOffs / seconds;
        context.Facts["outOfOrderFraction"] = a.OutOfOrderFraction;
        context.Facts["waitP99Ms"] = a.WaitP99Ms;
        return context.AllHeld;
    }
}
