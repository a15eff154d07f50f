using System.Collections.Concurrent;
using System.Reflection;
using Granary.Client.Locks;
using Granary.Errors;
using Granary.Locks;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Locks;

/// <summary>
/// The SDK's time bounds under a fake clock, against a scripted lock grain (no cluster): when a
/// holder learns of a lost lease, how long an attempt through a dead gateway may hang before it is
/// sent again, and what a release that fails does.
/// </summary>
public sealed class LockSdkTimingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);

    // The shared renewal timer ticks at a twelfth of the shortest ttl held (at most 1 s).
    private static readonly TimeSpan Tick = Ttl / 12 < TimeSpan.FromSeconds(1) ? Ttl / 12 : TimeSpan.FromSeconds(1);

    public enum RenewalFault
    {
        /// <summary>The call never returns (its gateway died, or the silo is unreachable).</summary>
        Hangs,

        /// <summary>The lock's activation is being replaced.</summary>
        Unavailable,

        /// <summary>An error the client cannot read.</summary>
        Unreadable,
    }

    [Theory]
    [InlineData(RenewalFault.Hangs)]
    [InlineData(RenewalFault.Unavailable)]
    [InlineData(RenewalFault.Unreadable)]
    public async Task A_holder_learns_of_the_loss_by_its_own_clock_within_one_renewal_interval_of_the_expiry_whatever_renewals_do(RenewalFault fault)
    {
        var time = new FakeTimeProvider();
        var grain = new ScriptedLockGrain(time)
        {
            OnRenew = (_, _) => fault switch
            {
                RenewalFault.Hangs => new TaskCompletionSource<LockLease>().Task,
                RenewalFault.Unavailable => Task.FromException<LockLease>(new LockUnavailableException("l", "activation replaced")),
                _ => Task.FromException<LockLease>(new InvalidOperationException("no codec for the silo's error")),
            },
        };
        var locks = Client(grain, time);
        var sentAt = time.GetUtcNow();
        var lease = await locks.AcquireAsync("l", Ttl, TimeSpan.Zero);
        DateTimeOffset? lostAt = null;
        using var onLost = lease.LeaseLost.Register(() => lostAt ??= time.GetUtcNow());

        await AdvanceUntilAsync(time, () => lostAt is not null, Ttl * 2);

        var late = lostAt!.Value - (sentAt + Ttl);
        output.WriteLine($"{fault}: {grain.Renewals} renewal attempts; LeaseLost fired {late.TotalMilliseconds:F0} ms after the lease's expiry (bound {(Ttl / 3).TotalMilliseconds:F0} ms)");
        Assert.True(late >= TimeSpan.Zero, $"lost {-late} before the lease could have expired");
        Assert.True(late <= Ttl / 3, $"lost {late} after the lease's expiry; the bound is one renewal interval ({Ttl / 3})");
        Assert.True(late <= Tick + Step, $"lost {late} after the lease's expiry: more than the renewal timer's tick ({Tick}) with a punctual clock");
        Assert.True(lease.IsLost);
        Assert.True(grain.Renewals >= 1, "no renewal was attempted");
    }

    [Fact]
    public async Task A_lease_whose_renewal_is_refused_is_lost_at_once_and_a_renewed_lease_never_is()
    {
        var time = new FakeTimeProvider();
        var grain = new ScriptedLockGrain(time);
        var locks = Client(grain, time);
        var renewed = await locks.AcquireAsync("renewed", Ttl, TimeSpan.Zero);
        var refused = await locks.AcquireAsync("refused", Ttl, TimeSpan.Zero);
        grain.OnRenew = (token, ttl) => token == refused.Token
            ? Task.FromException<LockLease>(new LeaseExpiredException("refused", "expired"))
            : Task.FromResult(grain.Lease(token, ttl));

        await AdvanceUntilAsync(time, () => refused.IsLost, Ttl / 3 + Ttl / 12 + Step);
        await AdvanceAsync(time, Ttl * 5);

        output.WriteLine($"{grain.Renewals} renewals over {(Ttl * 5).TotalSeconds} s of fake time");
        Assert.False(renewed.IsLost);
        Assert.True(grain.Renewals >= 12, $"only {grain.Renewals} renewals");
        Assert.Equal(LockReleaseOutcome.AlreadyEnded, await refused.ReleaseAsync());
        Assert.DoesNotContain(refused.Token, grain.Releases);
    }

    [Fact]
    public async Task An_acquire_whose_answer_is_lost_is_sent_again_within_its_bound_and_the_lease_is_trusted_only_as_long_as_the_lock_grants_it()
    {
        var time = new FakeTimeProvider();
        var grain = new ScriptedLockGrain(time);
        var inner = grain.OnAcquire;
        var attempts = 0;
        // The first attempt is granted, but its answer is lost with its gateway.
        grain.OnAcquire = request => Interlocked.Increment(ref attempts) == 1
            ? inner(request).ContinueWith(_ => new TaskCompletionSource<AcquireResult>().Task, TaskScheduler.Default).Unwrap()
            : inner(request);
        // The lease comes back with less than its ttl left: it is renewed before it is handed out.
        // Later renewals hang, so the handle's own clock decides when it is lost.
        var renewals = 0;
        grain.OnRenew = (token, ttl) => Interlocked.Increment(ref renewals) == 1 ? Task.FromResult(grain.Lease(token, ttl)) : new TaskCompletionSource<LockLease>().Task;
        var locks = Client(grain, time);
        var ttl = TimeSpan.FromSeconds(30);
        var sentAt = time.GetUtcNow();

        var acquire = locks.AcquireAsync("l", ttl, TimeSpan.FromSeconds(20));
        var took = await AdvanceUntilAsync(time, () => acquire.IsCompleted, TimeSpan.FromSeconds(25));
        await using var lease = await acquire;
        var renewedBeforeHandedOut = Volatile.Read(ref renewals);
        DateTimeOffset? lostAt = null;
        using var onLost = lease.LeaseLost.Register(() => lostAt ??= time.GetUtcNow());
        await AdvanceUntilAsync(time, () => lostAt is not null, ttl + ttl);

        var requests = grain.Acquires.ToList();
        var expiry = lease.Lease.ExpiresAt;
        output.WriteLine($"acquire answered after {took.TotalSeconds:F2} s of fake time, {requests.Count} attempts, token {lease.Token}, {renewedBeforeHandedOut} renewal before it was handed out; lease granted at +{(lease.Lease.GrantedAt - sentAt).TotalSeconds:F2} s, expires at +{(expiry - sentAt).TotalSeconds:F2} s; LeaseLost at +{(lostAt!.Value - sentAt).TotalSeconds:F2} s");
        Assert.True(took <= locks.Options.CallTimeout + locks.Options.CallTimeout + TimeSpan.FromSeconds(1), $"took {took}");
        Assert.Equal(2, requests.Count);
        Assert.Single(requests.Select(r => r.RequestId).Distinct());
        Assert.Equal(1, lease.Token);
        Assert.Equal(1, grain.LastToken);
        // The lease started with the first attempt: the handle must not trust it past the lock's expiry.
        Assert.Equal(1, renewedBeforeHandedOut);
        Assert.InRange(lostAt.Value, expiry - Step, expiry + TimeSpan.FromSeconds(1) + Step);
    }

    [Fact]
    public async Task An_acquire_that_no_attempt_can_reach_fails_with_a_typed_error_after_its_wait_and_retry_window_and_gives_the_request_up()
    {
        var time = new FakeTimeProvider();
        var grain = new ScriptedLockGrain(time) { OnAcquire = _ => new TaskCompletionSource<AcquireResult>().Task };
        var locks = Client(grain, time);
        var wait = TimeSpan.FromSeconds(2);

        var acquire = locks.AcquireAsync("l", Ttl, wait);
        var took = await AdvanceUntilAsync(time, () => acquire.IsCompleted, TimeSpan.FromSeconds(60));
        var error = await Assert.ThrowsAsync<LockUnavailableException>(() => acquire);
        await AdvanceUntilAsync(time, () => !grain.Abandons.IsEmpty, TimeSpan.FromSeconds(1));

        output.WriteLine($"gave up after {took.TotalSeconds:F2} s of fake time, {grain.Acquires.Count} attempts: {error.Message}");
        var window = wait + locks.Options.TransientRetryWindow;
        Assert.InRange(took, window, window + locks.Options.CallTimeout + locks.Options.CallTimeout + TimeSpan.FromSeconds(1));
        Assert.Equal(LockErrorCodes.Unavailable, error.Code);
        Assert.Equal(grain.Acquires.First().RequestId, Assert.Single(grain.Abandons.Distinct()));
    }

    [Fact]
    public async Task A_release_that_hangs_or_throws_is_retried_until_the_lock_confirms_it_and_disposing_does_not_throw()
    {
        var time = new FakeTimeProvider();
        var grain = new ScriptedLockGrain(time);
        var inner = grain.OnRelease;
        var calls = 0;
        grain.OnRelease = token => Interlocked.Increment(ref calls) switch
        {
            1 => new TaskCompletionSource().Task, // sent through a gateway that died
            2 => Task.FromException(new InvalidOperationException("no codec for the silo's error")),
            3 => Task.FromException(new GranaryException("UNAVAILABLE", "storage unreachable")),
            _ => inner(token),
        };
        var locks = Client(grain, time);
        var lease = await locks.AcquireAsync("l", TimeSpan.FromSeconds(30), TimeSpan.Zero);
        var started = time.GetUtcNow();

        var dispose = lease.DisposeAsync().AsTask();
        var took = await AdvanceUntilAsync(time, () => dispose.IsCompleted, locks.Options.ReleaseWait + Step);
        await dispose;

        var outcome = lease.ReleaseAsync();
        output.WriteLine($"dispose returned after {took.TotalSeconds:F2} s of fake time and {calls} release attempts; release {(outcome.IsCompleted ? "settled" : "not settled")}");
        Assert.True(outcome.IsCompleted, "the release was not settled when dispose returned");
        Assert.Equal(LockReleaseOutcome.Released, await outcome);
        Assert.True(took <= locks.Options.CallTimeout + TimeSpan.FromSeconds(1), $"took {took}");
        Assert.Equal(4, calls);
        Assert.Equal(lease.Token, Assert.Single(grain.Releases));
        // Dispose returns only once the release is confirmed; the fake clock may have moved a step or
        // two more before this test observed it (continuations run between steps), hence a range.
        Assert.NotNull(grain.ReleasedAt);
        Assert.InRange(grain.ReleasedAt.Value, started, started + took);
        Assert.True(lease.IsLost, "a released lease reports itself lost");
    }

    [Fact]
    public async Task A_release_the_cluster_never_answers_returns_from_dispose_after_the_release_wait_and_is_retried_until_the_lease_expires()
    {
        var time = new FakeTimeProvider();
        var grain = new ScriptedLockGrain(time) { OnRelease = _ => new TaskCompletionSource().Task };
        var locks = Client(grain, time, new DistributedLockOptions { CallTimeout = TimeSpan.FromSeconds(2), ReleaseWait = TimeSpan.FromSeconds(3) });
        var sentAt = time.GetUtcNow();
        var lease = await locks.AcquireAsync("l", TimeSpan.FromSeconds(12), TimeSpan.Zero);

        var dispose = lease.DisposeAsync().AsTask();
        var disposeTook = await AdvanceUntilAsync(time, () => dispose.IsCompleted, TimeSpan.FromSeconds(3) + Step);
        await dispose;
        var outcome = lease.ReleaseAsync();
        await AdvanceUntilAsync(time, () => outcome.IsCompleted, TimeSpan.FromSeconds(12));
        var gaveUpAt = time.GetUtcNow() - sentAt;

        output.WriteLine($"dispose returned after {disposeTook.TotalSeconds:F2} s; {grain.ReleaseAttempts} release attempts; gave up {gaveUpAt.TotalSeconds:F2} s after the acquire was sent: {await outcome}");
        Assert.Equal(TimeSpan.FromSeconds(3), disposeTook);
        Assert.Equal(LockReleaseOutcome.LeftToExpire, await outcome);
        Assert.InRange(grain.ReleaseAttempts, 5, 6);
        Assert.InRange(gaveUpAt, TimeSpan.FromSeconds(12), TimeSpan.FromSeconds(14));
    }

    private static DistributedLocks Client(ScriptedLockGrain grain, FakeTimeProvider time, DistributedLockOptions? options = null) =>
        new(ScriptedGrainFactory.For(grain), (options ?? new DistributedLockOptions()) with { Owner = "holder", TimeProvider = time });

    /// <summary>
    /// Moves the fake clock in small steps until <paramref name="done"/>, failing after
    /// <paramref name="limit"/> of fake time; returns the fake time it took.
    /// </summary>
    private static async Task<TimeSpan> AdvanceUntilAsync(FakeTimeProvider time, Func<bool> done, TimeSpan limit)
    {
        var start = time.GetUtcNow();
        while (!done())
        {
            Assert.True(time.GetUtcNow() - start < limit, $"not done within {limit} of fake time");
            time.Advance(Step);
            await Task.Delay(1); // not a wait for a condition (the bound above is in fake time): real time for thread-pool continuations to run between steps of the fake clock
        }

        return time.GetUtcNow() - start;
    }

    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan span)
    {
        var end = time.GetUtcNow() + span;
        await AdvanceUntilAsync(time, () => time.GetUtcNow() >= end, span + Step);
    }

    /// <summary>A lock grain whose answers the test scripts; by default a well-behaved single lock.</summary>
    private sealed class ScriptedLockGrain : ILockGrain
    {
        private readonly FakeTimeProvider _time;
        private long _lastToken;
        private int _renewals;
        private int _releaseAttempts;

        public ScriptedLockGrain(FakeTimeProvider time)
        {
            _time = time;
            OnAcquire = request =>
            {
                var lease = Grant(request);
                return Task.FromResult(new AcquireResult(lease, false, 0, lease.ExpiresAt - _time.GetUtcNow()));
            };
            OnRenew = (token, ttl) => Task.FromResult(Lease(token, ttl));
            OnRelease = token =>
            {
                Releases.Enqueue(token);
                ReleasedAt = _time.GetUtcNow();
                return Task.CompletedTask;
            };
        }

        public Func<AcquireRequest, Task<AcquireResult>> OnAcquire { get; set; }

        public Func<long, TimeSpan, Task<LockLease>> OnRenew { get; set; }

        public Func<long, Task> OnRelease { get; set; }

        public ConcurrentQueue<AcquireRequest> Acquires { get; } = new();

        public ConcurrentQueue<long> Releases { get; } = new();

        public ConcurrentQueue<string> Abandons { get; } = new();

        public DateTimeOffset? ReleasedAt { get; private set; }

        public long LastToken => Interlocked.Read(ref _lastToken);

        public int Renewals => Volatile.Read(ref _renewals);

        public int ReleaseAttempts => Volatile.Read(ref _releaseAttempts);

        private ConcurrentDictionary<string, LockLease> ByRequest { get; } = new(StringComparer.Ordinal);

        public LockLease Lease(long token, TimeSpan ttl) => new("l", "holder", token, _time.GetUtcNow(), _time.GetUtcNow() + ttl, ttl, LockAccess.Exclusive, "r" + token);

        public Task<AcquireResult> AcquireAsync(AcquireRequest request)
        {
            Acquires.Enqueue(request);
            return OnAcquire(request);
        }

        public Task<LockLease> RenewAsync(string owner, long token, TimeSpan ttl)
        {
            Interlocked.Increment(ref _renewals);
            return OnRenew(token, ttl);
        }

        public Task ReleaseAsync(string owner, long token)
        {
            Interlocked.Increment(ref _releaseAttempts);
            return OnRelease(token);
        }

        public Task AbandonAsync(string owner, string requestId)
        {
            Abandons.Enqueue(requestId);
            return Task.CompletedTask;
        }

        public Task<LockStatus> GetStatusAsync() => throw new NotSupportedException();

        // Idempotent by request id, as the real lock is.
        private LockLease Grant(AcquireRequest request) =>
            ByRequest.GetOrAdd(request.RequestId, _ =>
            {
                var token = Interlocked.Increment(ref _lastToken);
                return new LockLease("l", request.Owner, token, _time.GetUtcNow(), _time.GetUtcNow() + request.Ttl, request.Ttl, request.Access, request.RequestId);
            });
    }

    /// <summary>An <see cref="IGrainFactory"/> that hands out one scripted lock grain for every lock name.</summary>
    public class ScriptedGrainFactory : DispatchProxy
    {
        private object? _grain;

        internal static IGrainFactory For(ILockGrain grain)
        {
            var factory = DispatchProxy.Create<IGrainFactory, ScriptedGrainFactory>();
            ((ScriptedGrainFactory)(object)factory)._grain = grain;
            return factory;
        }

        /// <inheritdoc/>
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod is { Name: nameof(IGrainFactory.GetGrain), IsGenericMethod: true } && targetMethod.GetGenericArguments()[0] == typeof(ILockGrain)
                ? _grain
                : throw new NotSupportedException(targetMethod?.Name);
    }
}
