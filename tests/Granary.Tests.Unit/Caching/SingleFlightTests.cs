using Granary.Caching;

namespace Granary.Tests.Unit.Caching;

public sealed class SingleFlightTests
{
    [Fact]
    public async Task Hundred_concurrent_misses_cause_one_load()
    {
        var flight = new SingleFlight<string, string>(StringComparer.Ordinal);
        var loads = 0;
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var callers = Enumerable.Range(0, 100).Select(_ => flight.RunAsync("sku:42", _ =>
        {
            Interlocked.Increment(ref loads);
            return gate.Task;
        })).ToArray();
        gate.SetResult("apples");
        var values = await Task.WhenAll(callers);

        Assert.Equal(1, loads);
        Assert.All(values, v => Assert.Equal("apples", v));
        Assert.Equal(0, flight.Running);
    }

    [Fact]
    public async Task A_failed_load_reaches_every_waiter_and_the_next_call_loads_again()
    {
        var flight = new SingleFlight<string, string>(StringComparer.Ordinal);
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = flight.RunAsync("k", _ => gate.Task);
        var second = flight.RunAsync("k", _ => Task.FromResult("never"));
        gate.SetException(new InvalidOperationException("backing store down"));

        await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        await Assert.ThrowsAsync<InvalidOperationException>(() => second);
        Assert.Equal("fresh", await flight.RunAsync("k", _ => Task.FromResult("fresh")));
    }

    [Fact]
    public async Task Different_keys_load_independently()
    {
        var flight = new SingleFlight<string, int>(StringComparer.Ordinal);
        var loads = 0;
        var values = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => flight.RunAsync($"k{i}", _ =>
        {
            Interlocked.Increment(ref loads);
            return Task.FromResult(i);
        })));

        Assert.Equal(10, loads);
        Assert.Equal(Enumerable.Range(0, 10), values);
    }
}
