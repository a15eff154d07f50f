using System.Diagnostics;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// The one way cluster tests wait for a condition: poll it until it holds or a deadline passes,
/// then fail with what was awaited and what was last seen. Never a fixed sleep.
/// </summary>
/// <remarks>
/// Derive the deadline from the bound the behaviour promises (a lease's TTL plus one renewal, a
/// retry policy's total budget), not from how long it took once.
/// <code>
/// await Eventually.TrueAsync("worker B shows a running task", async () => (await worker.GetInfoAsync()).Running > 0, TimeSpan.FromSeconds(10));
/// var stats = await Eventually.ValueAsync("all acked", () => queue.GetStatsAsync(), s => s.Acked == n, TimeSpan.FromSeconds(30));
/// var answer = await Eventually.SucceedsAsync("read back", () => grain.GetAsync(), TimeSpan.FromSeconds(20));
/// </code>
/// </remarks>
public static class Eventually
{
    /// <summary>The pause between two probes.</summary>
    public static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(25);

    /// <summary>Waits until <paramref name="condition"/> is true; fails when <paramref name="timeout"/> passes first.</summary>
    public static async Task TrueAsync(string what, Func<Task<bool>> condition, TimeSpan timeout, TimeSpan? poll = null)
        => await ValueAsync(what, condition, static holds => holds, timeout, poll);

    /// <summary>Waits until <paramref name="condition"/> is true; fails when <paramref name="timeout"/> passes first.</summary>
    public static Task TrueAsync(string what, Func<bool> condition, TimeSpan timeout, TimeSpan? poll = null)
        => TrueAsync(what, () => Task.FromResult(condition()), timeout, poll);

    /// <summary>
    /// Probes until <paramref name="done"/> accepts the value and returns that value; fails with the
    /// last value seen when <paramref name="timeout"/> passes first.
    /// </summary>
    public static async Task<T> ValueAsync<T>(string what, Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, TimeSpan? poll = null)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(done);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }

            if (clock.Elapsed >= timeout)
            {
                throw new TimeoutException($"not within {timeout.TotalSeconds:0.###} s: {what} (last seen: {Describe(value)})");
            }

            await Task.Delay(poll ?? Poll); // pause between probes; the loop ends at the deadline above
        }
    }

    /// <summary>
    /// Calls <paramref name="call"/> until it returns without throwing an exception <paramref name="retry"/>
    /// accepts (any exception when null); rethrows the last one when <paramref name="timeout"/> passes first.
    /// </summary>
    public static async Task<T> SucceedsAsync<T>(string what, Func<Task<T>> call, TimeSpan timeout, Func<Exception, bool>? retry = null, TimeSpan? poll = null)
    {
        ArgumentNullException.ThrowIfNull(call);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when ((retry is null || retry(ex)) && clock.Elapsed < timeout)
            {
                await Task.Delay(poll ?? Poll); // pause before the next attempt; the loop ends at the deadline above
            }
            catch (Exception ex) when (retry is null || retry(ex))
            {
                throw new TimeoutException($"not within {timeout.TotalSeconds:0.###} s: {what} (last error: {ex.GetType().Name}: {ex.Message})", ex);
            }
        }
    }

    /// <summary>Calls <paramref name="call"/> until it returns without throwing; see <see cref="SucceedsAsync{T}"/>.</summary>
    public static Task SucceedsAsync(string what, Func<Task> call, TimeSpan timeout, Func<Exception, bool>? retry = null, TimeSpan? poll = null)
        => SucceedsAsync(what, async () =>
        {
            await call();
            return true;
        }, timeout, retry, poll);

    private static string Describe<T>(T value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        _ => value.ToString() ?? "",
    };
}
