using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Granary.Errors;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Faults;

/// <summary>
/// Injects PostgreSQL faults under load and counts them: every backend of the shard databases
/// terminated with <c>pg_terminate_backend</c> at a fixed period (statements in flight fail with
/// 57P01), and a crash (SIGKILL of the server's processes) followed by a restart on the same data
/// directory and port.
/// </summary>
public sealed class PostgresFaults(PostgresServer postgres, ITestOutputHelper output)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _rounds;
    private int _terminated;
    private int _crashes;

    /// <summary>Rounds of terminations so far.</summary>
    public int TerminationRounds => Volatile.Read(ref _rounds);

    /// <summary>Backends terminated so far.</summary>
    public int BackendsTerminated => Volatile.Read(ref _terminated);

    /// <summary>Crashes so far.</summary>
    public int Crashes => Volatile.Read(ref _crashes);

    /// <summary>Time since this injector was made.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>
    /// The fault schedule of the history tests, under load: waits for <paramref name="steps"/> of
    /// <paramref name="progress"/>, terminates every backend of the shard databases every 400 ms for
    /// 6 s, crashes the server and restarts it after 1 s, then waits for <paramref name="steps"/> more.
    /// </summary>
    /// <param name="progress">The workload's count of completed operations.</param>
    /// <param name="steps">Operations to see before the faults and after the restart.</param>
    /// <param name="what">What <paramref name="progress"/> counts, for failure messages.</param>
    /// <param name="bound">How long each wait for progress may take.</param>
    /// <param name="restarted">Called once the server answers again.</param>
    public async Task<FaultSchedule> RunScheduleAsync(Func<int> progress, int steps, string what, TimeSpan bound, Action? restarted = null)
    {
        ArgumentNullException.ThrowIfNull(progress);
        await Eventually.TrueAsync($"{steps} {what} before the faults", () => progress() >= steps, bound);
        var before = progress();
        await TerminateBackendsAsync(TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(6));
        var afterTerminations = progress();
        await CrashAndRestartAsync(TimeSpan.FromSeconds(1));
        restarted?.Invoke();
        var afterRestart = progress();
        await Eventually.TrueAsync($"{steps} {what} after the restart", () => progress() >= afterRestart + steps, bound);
        return new FaultSchedule(before, afterTerminations, afterRestart);
    }

    /// <summary>Terminates every client backend of the shard databases every <paramref name="period"/> for <paramref name="duration"/>.</summary>
    public async Task TerminateBackendsAsync(TimeSpan period, TimeSpan duration)
    {
        var until = _clock.Elapsed + duration;
        while (_clock.Elapsed < until)
        {
            await Task.Delay(period); // the fault period under test
            foreach (var database in PostgresFaultFixture.Databases)
            {
                Interlocked.Add(ref _terminated, await postgres.TerminateBackendsAsync(database));
            }

            Interlocked.Increment(ref _rounds);
        }

        output.WriteLine($"[{Now.TotalSeconds:F1} s] {TerminationRounds} rounds of pg_terminate_backend, {BackendsTerminated} backends terminated so far");
    }

    /// <summary>Crashes the server, leaves it down for <paramref name="down"/>, restarts it; returns the time it was unreachable.</summary>
    public async Task<TimeSpan> CrashAndRestartAsync(TimeSpan down)
    {
        var crashedAt = _clock.Elapsed;
        await postgres.CrashAsync();
        Interlocked.Increment(ref _crashes);
        await Task.Delay(down); // the fault under test: how long the server stays down
        var restart = await postgres.RestartAsync();
        var outage = _clock.Elapsed - crashedAt;
        output.WriteLine($"[{Now.TotalSeconds:F1} s] PostgreSQL crashed (SIGKILL) at {crashedAt.TotalSeconds:F1} s, restarted with crash recovery in {restart.TotalSeconds:F1} s: unreachable {outage.TotalSeconds:F1} s");
        return outage;
    }

    /// <summary>The figures, for the test output.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"faults injected: {TerminationRounds} rounds of pg_terminate_backend ({BackendsTerminated} backends terminated), {Crashes} crash(es) and restart(s)");

}

/// <summary>The errors clients saw, by type (and code for Granary errors).</summary>
public sealed class ClientErrors
{
    private readonly ConcurrentDictionary<string, int> _byType = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _foreign = new();
    private readonly ConcurrentDictionary<string, string> _samples = new(StringComparer.Ordinal);

    /// <summary>Errors of types other than <see cref="GranaryException"/> and its subclasses.</summary>
    public IReadOnlyList<string> Foreign => [.. _foreign];

    /// <summary>Errors seen in all.</summary>
    public int Count => _byType.Values.Sum();

    /// <summary>Counts <paramref name="exception"/>.</summary>
    public void Record(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var key = exception is GranaryException g ? $"{exception.GetType().Name}({g.Code})" : exception.GetType().FullName!;
        _byType.AddOrUpdate(key, 1, (_, n) => n + 1);
        _samples.TryAdd(key, exception.Message.Split('\n')[0]);
        if (exception is not GranaryException && _foreign.Count < 20)
        {
            _foreign.Enqueue($"{exception.GetType().FullName}: {exception.Message.Split('\n')[0]}");
        }
    }

    /// <summary>
    /// Sends <paramref name="call"/> again after each failure (recording it) until it succeeds or
    /// <paramref name="keepTrying"/> says stop: what a client does with a call whose outcome it does not know.
    /// </summary>
    public async Task<Attempts<T>> UntilSuccessAsync<T>(Func<Task<T>> call, Func<bool> keepTrying, TimeSpan callTimeout)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(keepTrying);
        var failures = 0;
        while (keepTrying())
        {
            try
            {
                return new Attempts<T>(true, await call().WaitAsync(callTimeout), failures);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Record(ex);
                failures++;
            }
        }

        return new Attempts<T>(false, default, failures);
    }

    /// <summary>The first message seen of each type, one line each.</summary>
    public IEnumerable<string> Samples() => _samples.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}");

    /// <summary>"ServiceUnavailableException(UNAVAILABLE)=12, ..." or "none".</summary>
    public string Describe() => _byType.IsEmpty ? "none" : string.Join(", ", _byType.OrderByDescending(p => p.Value).Select(p => $"{p.Key}={p.Value}"));
}

/// <summary>The workload's progress count when the terminations began, when they ended, and when the server was back.</summary>
public readonly record struct FaultSchedule(int BeforeTerminations, int AfterTerminations, int AfterRestart)
{
    /// <summary>Operations completed while backends were being terminated.</summary>
    public int DuringTerminations => AfterTerminations - BeforeTerminations;
}

/// <summary>How <see cref="ClientErrors.UntilSuccessAsync{T}"/> ended: the result if it succeeded, and the failed attempts before.</summary>
public readonly record struct Attempts<T>(bool Succeeded, T? Result, int Failures);
