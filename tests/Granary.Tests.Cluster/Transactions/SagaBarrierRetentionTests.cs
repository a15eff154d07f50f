using System.Globalization;
using Granary.Server.Storage;
using Granary.Tests.Cluster.Infrastructure;
using Granary.Transactions;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>
/// A stream of sagas through one hot account, on PostgreSQL shards: the account's stored row keeps
/// only the saga steps it may still need (those of unfinished sagas, and of the last window), so its
/// size levels off instead of growing by one barrier key per saga.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SagaBarrierRetentionTests(SharedServersFixture servers, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Drive = TimeSpan.FromSeconds(24);
    private static readonly TimeSpan Sampling = TimeSpan.FromSeconds(2);

    // Two lanes of five sagas a second: a steady rate, so that the remembered steps settle at a steady number.
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(200);
    private const long Opening = 1_000_000_000;
    private readonly RedisPostgresClusterFixture _cluster = new(servers) { Silos = 1 };

    public Task InitializeAsync()
    {
        // Saga step window = CallTimeout + MaxClockSkew = 3 s; participants ask every 0.5 s.
        _cluster.Settings["Granary:Transactions:CallTimeout"] = "00:00:02";
        _cluster.Settings["Granary:Transactions:MaxClockSkew"] = "00:00:01";
        _cluster.Settings["Granary:Transactions:PrepareTimeout"] = "00:00:02";
        _cluster.Settings["Granary:Transactions:PreparedTimeout"] = "00:00:02";
        _cluster.Settings["Granary:Transactions:InquiryInterval"] = "00:00:00.500";
        _cluster.Settings["Granary:Transactions:RetryInitial"] = "00:00:00.020";
        _cluster.Settings["Granary:Transactions:RetryMax"] = "00:00:00.200";
        return _cluster.InitializeAsync();
    }

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task The_hot_participants_row_levels_off_under_a_stream_of_sagas()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var hot = "hot-" + run;
        await _cluster.Grains.GetGrain<IAccountGrain>(hot).OpenAsync(Opening);

        // Long saga ids make each remembered step ~230 bytes, so growth is plain to see.
        var padding = new string('p', 180);
        long started = 0, completed = 0, compensated = 0, other = 0;
        using var stop = new CancellationTokenSource(Drive);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        async Task StreamAsync(int lane)
        {
            var next = TimeSpan.Zero;
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                next += Pace;
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, CancellationToken.None); // the behaviour under test is a steady stream of sagas: its pace
                }

                var sagaId = string.Create(CultureInfo.InvariantCulture, $"saga-{run}-{lane}-{n}-{padding}");
                var target = string.Create(CultureInfo.InvariantCulture, $"acct-{run}-{lane}-{n}");

                // Every fifth saga credits an account that does not exist: its second step is refused
                // and the debit on the hot account is compensated (a compensated step, dropped a window later).
                if (n % 5 != 4)
                {
                    await _cluster.Grains.GetGrain<IAccountGrain>(target).OpenAsync(0);
                }

                Interlocked.Increment(ref started);
                var view = await _cluster.Grains.GetGrain<ISagaGrain>(sagaId).RunAsync(new SagaDefinition(
                [
                    new SagaStepDefinition("debit", ParticipantRef.Account(hot), new Debit(1)),
                    new SagaStepDefinition("credit", ParticipantRef.Account(target), new Credit(1)),
                ]));
                switch (view.Status)
                {
                    case "Completed":
                        Interlocked.Increment(ref completed);
                        break;
                    case "Compensated":
                        Interlocked.Increment(ref compensated);
                        break;
                    default:
                        output.WriteLine($"saga {sagaId[..30]}...: {view.Status} {view.LastError}");
                        Interlocked.Increment(ref other);
                        break;
                }
            }
        }

        var sizes = new List<(TimeSpan At, long Largest, long Sagas)>();
        var lanes = Enumerable.Range(0, 2).Select(lane => Task.Run(() => StreamAsync(lane))).ToList();
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(Sampling); // the behaviour under test is the drive over time: one sample per period
            sizes.Add((clock.Elapsed, await LargestAccountRowAsync(), Interlocked.Read(ref started)));
        }

        await Task.WhenAll(lanes);
        foreach (var (at, largest, sagas) in sizes)
        {
            output.WriteLine($"{at.TotalSeconds,5:F1} s  sagas {sagas,5}  largest tx-account row {largest,7:N0} bytes");
        }

        output.WriteLine($"sagas: {started} started, {completed} completed, {compensated} compensated, {other} other");
        Assert.Equal(0, other);
        Assert.Equal(started, completed + compensated);

        // Money: the hot account paid exactly one unit per completed saga (compensated debits were undone).
        var account = await _cluster.Grains.GetGrain<IAccountGrain>(hot).GetAsync();
        Assert.Equal(Opening - completed, account.Balance);

        // Means of three samples around the middle and at the end, as the soak does.
        var mid = sizes.Count / 2;
        var middle = sizes.Skip(mid - 1).Take(3).Average(s => s.Largest);
        var end = sizes.Skip(sizes.Count - 3).Average(s => s.Largest);
        var first = (long)(middle - sizes[0].Largest);
        var second = (long)(end - middle);
        var sagasInSecondHalf = sizes[^1].Sagas - sizes[mid].Sagas;
        output.WriteLine($"growth: first half {first:N0} bytes, second half {second:N0} bytes over {sagasInSecondHalf} sagas");
        Assert.True(sagasInSecondHalf >= 20, $"only {sagasInSecondHalf} sagas in the second half: too few to tell");

        // Unbounded, the row would grow by ~230 bytes for each of those sagas (the first half holds
        // the ramp up to the steady number: about two windows' worth of sagas).
        Assert.True(second <= Math.Max(first / 4, 2_048), $"the hot account's row grew by {second:N0} bytes in the second half ({first:N0} in the first)");
        Assert.True(second < sagasInSecondHalf * 230 / 4, $"the hot account's row grew by {second:N0} bytes over {sagasInSecondHalf} sagas");
    }

    private async Task<long> LargestAccountRowAsync()
    {
        var reports = await ShardInspector.CountAsync(_cluster.Shards, "granary-test", CancellationToken.None);
        Assert.All(reports, r => Assert.Null(r.Error));
        return reports.SelectMany(r => r.ByState).Where(s => s.StateName == "tx-account").Select(s => s.LargestBytes).DefaultIfEmpty(0).Max();
    }
}
