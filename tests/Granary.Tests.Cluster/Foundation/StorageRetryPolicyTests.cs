using Granary.Errors;
using Granary.Server.Diagnostics;
using Granary.Server.Options;
using Granary.Server.Storage;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Storage;

namespace Granary.Tests.Cluster.Foundation;

/// <summary>
/// The stores' retry policy on a fake clock (the delays are the behaviour), and the mapping of
/// whatever escapes a grain to the typed error a caller gets.
/// </summary>
public sealed class StorageRetryPolicyTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(5);
    private static readonly StorageRetryOptions Options = new() { MaxRetries = 4, BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromMilliseconds(300) };

    [Fact]
    public async Task A_transient_failure_is_retried_after_a_delay_and_drops_the_idle_pooled_connections()
    {
        var time = new FakeTimeProvider();
        var policy = new StorageRetryPolicy(Options, time: time);
        var attempts = 0;
        var cleared = 0;
        var call = policy.ExecuteAsync(
            "read",
            _ => ++attempts < 3 ? throw Terminated() : ValueTask.FromResult(42),
            () => cleared++,
            CancellationToken.None);

        Assert.Equal(1, attempts);
        Assert.False(call.IsCompleted, "the retry waits for its delay");
        var waited = await DriveAsync(time, call);

        Assert.Equal(42, await call);
        Assert.Equal(3, attempts);
        Assert.Equal(2, cleared);
        Assert.InRange(waited, Step, (2 * Options.MaxDelay) + (2 * Step));
    }

    [Fact]
    public async Task Retries_are_bounded_and_end_in_UNAVAILABLE_naming_the_cause()
    {
        var time = new FakeTimeProvider();
        var policy = new StorageRetryPolicy(Options, time: time);
        var attempts = 0;
        var call = policy.ExecuteAsync<int>("grain state read on shard-0", _ => { attempts++; throw Terminated(); }, null, CancellationToken.None);
        var waited = await DriveAsync(time, call);

        var error = await Assert.ThrowsAsync<ServiceUnavailableException>(() => call);
        Assert.Equal(1 + Options.MaxRetries, attempts);
        Assert.Equal(ErrorCodes.Unavailable, error.Code);
        Assert.True(error.IsRetryable);
        Assert.Null(error.InnerException);
        Assert.Contains("grain state read on shard-0 failed 5 time(s)", error.Message, StringComparison.Ordinal);
        Assert.Contains("57P01", error.Message, StringComparison.Ordinal);
        Assert.True(waited <= (Options.MaxRetries * Options.MaxDelay) + (Options.MaxRetries * Step), $"waited {waited}");
    }

    [Fact]
    public async Task Other_errors_pass_through_at_once()
    {
        var policy = new StorageRetryPolicy(Options, time: new FakeTimeProvider());
        var attempts = 0;

        var error = await Assert.ThrowsAsync<PostgresException>(() => policy.ExecuteAsync<int>("write", _ => { attempts++; throw new PostgresException("duplicate key", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation); }, null, CancellationToken.None));

        Assert.Equal(1, attempts);
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
    }

    [Fact]
    public void Transient_errors_are_those_npgsql_marks_transient_anywhere_in_the_chain()
    {
        Assert.True(StorageRetryPolicy.IsTransient(Terminated()));
        Assert.True(StorageRetryPolicy.IsTransient(new NpgsqlException("read failed", new IOException("reset"))));
        Assert.True(StorageRetryPolicy.IsTransient(new OrleansException("wrapped", new PostgresException("x", "ERROR", "ERROR", PostgresErrorCodes.SerializationFailure))));
        Assert.False(StorageRetryPolicy.IsTransient(new PostgresException("x", "ERROR", "ERROR", PostgresErrorCodes.DivisionByZero)));
        Assert.False(StorageRetryPolicy.IsTransient(new InvalidOperationException("x")));
    }

    [Fact]
    public void What_escapes_a_grain_reaches_the_caller_as_a_typed_error_without_an_inner_exception()
    {
        var typed = new ServiceUnavailableException("storage unavailable: x");
        Assert.Same(typed, WireErrorFilter.ToWire(new OrleansException("Error from storage provider", typed), "g.M"));

        var terminated = WireErrorFilter.ToWire(new OrleansException("Error from storage provider", Terminated()), "g.M");
        var conflict = WireErrorFilter.ToWire(new InconsistentStateException("etag mismatch"), "g.M");
        var timeout = WireErrorFilter.ToWire(new TimeoutException("no reply"), "g.M");
        var bug = WireErrorFilter.ToWire(new ArgumentOutOfRangeException("n", "boom"), "g.M");

        Assert.IsType<ServiceUnavailableException>(terminated);
        Assert.Contains("57P01", terminated.Message, StringComparison.Ordinal);
        Assert.IsType<ServiceUnavailableException>(conflict);
        Assert.IsType<ServiceUnavailableException>(timeout);
        Assert.Equal(ErrorCodes.Internal, bug.Code);
        Assert.Contains("g.M: ArgumentOutOfRangeException", bug.Message, StringComparison.Ordinal);
        Assert.All(new[] { terminated, conflict, timeout, bug }, e => Assert.Null(e.InnerException));
    }

    private static PostgresException Terminated() =>
        new("terminating connection due to administrator command", "FATAL", "FATAL", PostgresErrorCodes.AdminShutdown);

    /// <summary>Advances the fake clock until <paramref name="call"/> completes; returns the fake time that passed.</summary>
    private static async Task<TimeSpan> DriveAsync(FakeTimeProvider time, Task call)
    {
        var start = time.GetUtcNow();
        for (var step = 0; !call.IsCompleted; step++)
        {
            Assert.True(step < 10_000, "the call did not complete on the fake clock");
            time.Advance(Step);
            await Task.Yield();
        }

        return time.GetUtcNow() - start;
    }
}
