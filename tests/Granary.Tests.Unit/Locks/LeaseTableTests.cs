using Granary.Locks;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Locks;

public sealed class LeaseTableTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void First_acquire_is_granted_with_token_one_and_expiry_ttl_from_now()
    {
        var table = new LeaseTable(_time);

        var outcome = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);

        Assert.Equal(AcquireStatus.Granted, outcome.Status);
        Assert.Equal(1, outcome.Lease!.Token);
        Assert.Equal(_time.GetUtcNow() + Ttl, outcome.Lease.ExpiresAt);
        Assert.Equal("a", Assert.Single(table.Holders).Owner);
    }

    [Fact]
    public void Nothing_is_granted_once_the_grant_window_ends_and_waiters_are_served_when_it_is_extended()
    {
        var table = new LeaseTable(_time);
        table.AllowGrantsUntil(_time.GetUtcNow() + TimeSpan.FromSeconds(1));
        Assert.Equal(AcquireStatus.Granted, table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Status);
        table.Release("a", 1);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(table.MayGrantAt(_time.GetUtcNow()));
        Assert.False(table.GrantWindowOpenAt(_time.GetUtcNow()));
        Assert.Equal(AcquireStatus.Unavailable, table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Status);
        Assert.Equal(AcquireStatus.Queued, table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, Wait).Status);
        Assert.True(table.Advance().Granted.Count == 0);

        table.AllowGrantsUntil(_time.GetUtcNow() - TimeSpan.FromSeconds(5)); // never moves back
        Assert.False(table.MayGrantAt(_time.GetUtcNow()));
        table.AllowGrantsUntil(_time.GetUtcNow() + TimeSpan.FromSeconds(1));
        Assert.True(table.GrantWindowOpenAt(_time.GetUtcNow()));
        var granted = Assert.Single(table.Advance().Granted);
        Assert.Equal("c", granted.Owner);
        Assert.Equal(2, granted.Token);
    }

    [Fact]
    public void Busy_lock_without_wait_is_unavailable_and_queues_nobody()
    {
        var table = new LeaseTable(_time);
        table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);

        var outcome = table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);

        Assert.Equal(AcquireStatus.Unavailable, outcome.Status);
        Assert.Empty(table.Waiters);
    }

    [Fact]
    public void Lease_expires_after_ttl_and_passes_to_the_next_waiter()
    {
        var table = new LeaseTable(_time);
        var first = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        Assert.Equal(AcquireStatus.Queued, table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait).Status);
        Assert.Equal(first.ExpiresAt, table.NextDeadline);

        _time.Advance(Ttl - TimeSpan.FromMilliseconds(1));
        Assert.True(table.Advance().IsEmpty);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var changes = table.Advance();

        Assert.Equal(first.Token, Assert.Single(changes.Expired).Token);
        var next = Assert.Single(changes.Granted);
        Assert.Equal("b", next.Owner);
        Assert.Equal(2, next.Token);
        Assert.Equal(_time.GetUtcNow() + Ttl, next.ExpiresAt);
    }

    [Fact]
    public void Waiters_are_granted_in_arrival_order()
    {
        var table = new LeaseTable(_time);
        var held = table.Acquire("w0", "r0", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        for (var i = 1; i <= 5; i++)
        {
            var queued = table.Acquire("w" + i, "r" + i, LeaseMode.Exclusive, Ttl, Wait);
            Assert.Equal(i, queued.QueuePosition);
        }

        var order = new List<string>();
        var token = held.Token;
        var owner = held.Owner;
        for (var i = 1; i <= 5; i++)
        {
            var granted = Assert.Single(table.Release(owner, token).Granted);
            order.Add(granted.Owner);
            Assert.Equal(token + 1, granted.Token);
            (owner, token) = (granted.Owner, granted.Token);
        }

        Assert.Equal(["w1", "w2", "w3", "w4", "w5"], order);
        Assert.True(table.Release(owner, token).Granted.Count == 0);
        Assert.Empty(table.Holders);
    }

    [Fact]
    public void New_request_does_not_barge_past_queued_waiters()
    {
        var table = new LeaseTable(_time);
        var held = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait);

        var changes = table.Release("a", held.Token);
        var late = table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);

        Assert.Equal("b", Assert.Single(changes.Granted).Owner);
        Assert.Equal(AcquireStatus.Unavailable, late.Status);
    }

    [Fact]
    public void Renew_extends_the_lease_from_now()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        _time.Advance(TimeSpan.FromSeconds(8));

        var renewed = table.Renew("a", lease.Token, Ttl);
        _time.Advance(TimeSpan.FromSeconds(8));

        Assert.Equal(lease.Token, renewed.Token);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(2), renewed.ExpiresAt);
        Assert.True(table.Advance().IsEmpty);
        Assert.Equal(lease.Token, Assert.Single(table.Holders).Token);
    }

    [Fact]
    public void Renew_after_expiry_fails_with_lease_expired_even_when_nobody_took_the_lock()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        _time.Advance(Ttl);

        var error = Assert.Throws<LockRequestException>(() => table.Renew("a", lease.Token, Ttl));

        Assert.Equal(LockError.LeaseExpired, error.Error);
        table.Advance();
        var again = Assert.Throws<LockRequestException>(() => table.Renew("a", lease.Token, Ttl));
        Assert.Equal(LockError.LeaseExpired, again.Error);
        Assert.Empty(table.Holders);
    }

    [Fact]
    public void Release_after_expiry_and_hand_off_fails_and_does_not_touch_the_new_holder()
    {
        var table = new LeaseTable(_time);
        var old = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait);
        _time.Advance(Ttl);
        var next = Assert.Single(table.Advance().Granted);

        var error = Assert.Throws<LockRequestException>(() => table.Release("a", old.Token));

        Assert.Equal(LockError.LeaseExpired, error.Error);
        Assert.Equal(next.Token, Assert.Single(table.Holders).Token);
    }

    [Fact]
    public void Wrong_owner_cannot_renew_or_release_and_nothing_changes()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;

        var renew = Assert.Throws<LockRequestException>(() => table.Renew("mallory", lease.Token, Ttl));
        var release = Assert.Throws<LockRequestException>(() => table.Release("mallory", lease.Token));

        Assert.Equal(LockError.NotHolder, renew.Error);
        Assert.Equal(LockError.NotHolder, release.Error);
        Assert.Equal(lease, Assert.Single(table.Holders));
    }

    [Fact]
    public void Unknown_token_is_not_holder()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;

        var error = Assert.Throws<LockRequestException>(() => table.Release("a", lease.Token + 41));

        Assert.Equal(LockError.NotHolder, error.Error);
        Assert.Equal(lease, Assert.Single(table.Holders));
    }

    [Fact]
    public void Retried_acquire_with_the_same_request_id_returns_the_same_lease()
    {
        var table = new LeaseTable(_time);
        var first = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        _time.Advance(TimeSpan.FromSeconds(1));

        var retry = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);

        Assert.Equal(AcquireStatus.Granted, retry.Status);
        Assert.Equal(first, retry.Lease);
        Assert.Equal(1, table.LastToken);
    }

    [Fact]
    public void Retried_acquire_of_a_queued_request_keeps_its_place()
    {
        var table = new LeaseTable(_time);
        var held = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait);
        table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, Wait);

        var retry = table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait);

        Assert.Equal(AcquireStatus.Queued, retry.Status);
        Assert.Equal(1, retry.QueuePosition);
        Assert.Equal(2, table.Waiters.Count);
        Assert.Equal("b", Assert.Single(table.Release("a", held.Token).Granted).Owner);
    }

    [Fact]
    public void Retried_acquire_after_the_lease_ended_is_refused()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Release("a", lease.Token);

        var error = Assert.Throws<LockRequestException>(() => table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero));

        Assert.Equal(LockError.LeaseExpired, error.Error);
        Assert.Empty(table.Holders);
    }

    [Fact]
    public void Request_id_of_another_owner_is_refused()
    {
        var table = new LeaseTable(_time);
        table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);

        var error = Assert.Throws<LockRequestException>(() => table.Acquire("b", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero));

        Assert.Equal(LockError.InvalidArgument, error.Error);
        Assert.Equal("a", Assert.Single(table.Holders).Owner);
    }

    [Fact]
    public void Retried_release_by_the_holder_succeeds_again()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Release("a", lease.Token);

        var again = table.Release("a", lease.Token);

        Assert.True(again.IsEmpty);
    }

    [Fact]
    public void Waiter_times_out_and_leaves_the_queue()
    {
        var table = new LeaseTable(_time);
        table.Acquire("a", "r1", LeaseMode.Exclusive, TimeSpan.FromMinutes(1), TimeSpan.Zero);
        table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, TimeSpan.FromSeconds(5));
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(5), table.NextDeadline);

        _time.Advance(TimeSpan.FromSeconds(5));
        var changes = table.Advance();

        Assert.Equal("b", Assert.Single(changes.TimedOut).Owner);
        Assert.Empty(table.Waiters);
        Assert.Empty(changes.Granted);
    }

    [Fact]
    public void Abandoned_waiter_leaves_and_abandoned_grant_is_released()
    {
        var table = new LeaseTable(_time);
        var held = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait);
        table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, Wait);

        table.Abandon("b", "r2");
        var granted = Assert.Single(table.Release("a", held.Token).Granted);
        Assert.Equal("c", granted.Owner);
        table.Abandon("c", "r3");

        Assert.Empty(table.Holders);
        Assert.Empty(table.Waiters);
    }

    [Fact]
    public void An_attempt_arriving_after_its_abandon_is_refused_and_leaves_the_lock_free()
    {
        // The client gave up (its abandon overtook the attempt on the way): the late attempt must
        // neither take the free lock nor queue behind a holder, or the lock stays held until the ttl.
        var table = new LeaseTable(_time);
        table.Abandon("a", "late-1");

        Assert.Equal(AcquireStatus.Unavailable, table.Acquire("a", "late-1", LeaseMode.Exclusive, Ttl, Wait).Status);
        Assert.Empty(table.Holders);
        Assert.Equal(AcquireStatus.Granted, table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Status);

        table.Abandon("a", "late-2");
        Assert.Equal(AcquireStatus.Unavailable, table.Acquire("a", "late-2", LeaseMode.Exclusive, Ttl, Wait).Status);
        Assert.Empty(table.Waiters);

        // A queued waiter that gave up and whose retry arrives afterwards does not queue again.
        Assert.Equal(AcquireStatus.Queued, table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, Wait).Status);
        table.Abandon("c", "r3");
        Assert.Equal(AcquireStatus.Unavailable, table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, Wait).Status);
        Assert.Empty(table.Waiters);
    }

    [Fact]
    public void Given_up_requests_are_remembered_within_the_limit_and_only_for_their_owner()
    {
        var table = new LeaseTable(_time, new LeaseTableLimits { RememberedEndedLeases = 2 });
        table.Abandon("a", "g1");
        table.Abandon("a", "g2");
        table.Abandon("a", "g3");

        // Another owner's request with the same id is not refused.
        Assert.Equal(AcquireStatus.Granted, table.Acquire("b", "g3", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Status);
        Assert.Equal(AcquireStatus.Unavailable, table.Acquire("a", "g2", LeaseMode.Exclusive, Ttl, Wait).Status);

        // The oldest was forgotten (bounded memory): its late attempt queues like any other.
        Assert.Equal(AcquireStatus.Queued, table.Acquire("a", "g1", LeaseMode.Exclusive, Ttl, Wait).Status);
    }

    [Fact]
    public void Tokens_strictly_increase_over_many_grants_and_resume_from_a_restored_last_token()
    {
        var table = new LeaseTable(_time);
        long previous = 0;
        for (var i = 0; i < 100; i++)
        {
            var lease = table.Acquire("a", "r" + i, LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
            Assert.True(lease.Token > previous);
            previous = lease.Token;
            if (i % 2 == 0)
            {
                table.Release("a", lease.Token);
            }
            else
            {
                _time.Advance(Ttl);
            }
        }

        var restored = new LeaseTable(_time, lastToken: table.LastToken);
        Assert.Equal(previous + 1, restored.Acquire("z", "rz", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!.Token);
    }

    [Fact]
    public void Restored_holder_keeps_the_lock_until_its_expiry()
    {
        var granted = _time.GetUtcNow();
        var holder = new Lease("a", "r1", 7, LeaseMode.Exclusive, granted, granted + Ttl, Ttl);
        var table = new LeaseTable(_time, lastToken: 7, holders: [holder]);

        Assert.Equal(AcquireStatus.Queued, table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait).Status);
        _time.Advance(Ttl);

        Assert.Equal(8, Assert.Single(table.Advance().Granted).Token);
    }

    [Fact]
    public void Lock_delay_blocks_grants_until_it_ends()
    {
        var until = _time.GetUtcNow() + TimeSpan.FromSeconds(3);
        var table = new LeaseTable(_time, lastToken: 5L << 32, grantsBlockedUntil: until);

        var outcome = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, Wait);
        Assert.Equal(AcquireStatus.Queued, outcome.Status);
        Assert.Equal(until, table.NextDeadline);
        _time.Advance(TimeSpan.FromSeconds(3));

        var lease = Assert.Single(table.Advance().Granted);
        Assert.Equal((5L << 32) + 1, lease.Token);
    }

    [Fact]
    public void Semaphore_grants_up_to_its_permits_then_queues()
    {
        var table = new LeaseTable(_time);
        var leases = Enumerable.Range(0, 3)
            .Select(i => table.Acquire("w" + i, "r" + i, LeaseMode.Exclusive, Ttl, TimeSpan.Zero, LockKind.Semaphore, permits: 3))
            .ToList();
        var fourth = table.Acquire("w3", "r3", LeaseMode.Exclusive, Ttl, Wait, LockKind.Semaphore, permits: 3);

        Assert.All(leases, l => Assert.Equal(AcquireStatus.Granted, l.Status));
        Assert.Equal(AcquireStatus.Queued, fourth.Status);
        Assert.Equal(3, table.Holders.Count);
        var granted = Assert.Single(table.Release("w1", leases[1].Lease!.Token).Granted);
        Assert.Equal("w3", granted.Owner);
        Assert.Equal(3, table.Holders.Count);
    }

    [Fact]
    public void Semaphore_with_other_permits_or_a_mutex_request_on_a_busy_semaphore_is_a_kind_mismatch()
    {
        var table = new LeaseTable(_time);
        table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero, LockKind.Semaphore, permits: 2);

        var permits = Assert.Throws<LockRequestException>(() => table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, TimeSpan.Zero, LockKind.Semaphore, permits: 5));
        var mutex = Assert.Throws<LockRequestException>(() => table.Acquire("b", "r3", LeaseMode.Exclusive, Ttl, TimeSpan.Zero));

        Assert.Equal(LockError.KindMismatch, permits.Error);
        Assert.Equal(LockError.KindMismatch, mutex.Error);
        Assert.Single(table.Holders);
        Assert.Equal(2, table.Permits);
    }

    [Fact]
    public void Readers_share_the_lock_and_a_writer_excludes_them()
    {
        var table = new LeaseTable(_time);
        var r1 = table.Acquire("r1", "q1", LeaseMode.Shared, Ttl, TimeSpan.Zero, LockKind.ReaderWriter);
        var r2 = table.Acquire("r2", "q2", LeaseMode.Shared, Ttl, TimeSpan.Zero, LockKind.ReaderWriter);
        var writer = table.Acquire("w", "q3", LeaseMode.Exclusive, Ttl, TimeSpan.Zero, LockKind.ReaderWriter);

        Assert.Equal(AcquireStatus.Granted, r1.Status);
        Assert.Equal(AcquireStatus.Granted, r2.Status);
        Assert.Equal(AcquireStatus.Unavailable, writer.Status);
    }

    [Fact]
    public void Queued_writer_is_not_starved_by_later_readers()
    {
        var table = new LeaseTable(_time);
        var r1 = table.Acquire("r1", "q1", LeaseMode.Shared, Ttl, TimeSpan.Zero, LockKind.ReaderWriter).Lease!;
        Assert.Equal(AcquireStatus.Queued, table.Acquire("w", "q2", LeaseMode.Exclusive, Ttl, Wait, LockKind.ReaderWriter).Status);

        var lateReader = table.Acquire("r2", "q3", LeaseMode.Shared, Ttl, Wait, LockKind.ReaderWriter);
        Assert.Equal(AcquireStatus.Queued, lateReader.Status);
        var lateReader2 = table.Acquire("r3", "q4", LeaseMode.Shared, Ttl, Wait, LockKind.ReaderWriter);

        var afterReader = table.Release("r1", r1.Token);
        var writerLease = Assert.Single(afterReader.Granted);
        Assert.Equal("w", writerLease.Owner);
        var afterWriter = table.Release("w", writerLease.Token);

        Assert.Equal(["r2", "r3"], afterWriter.Granted.Select(l => l.Owner));
        Assert.Equal(AcquireStatus.Queued, lateReader2.Status);
    }

    [Fact]
    public void Shared_mode_on_a_mutex_is_invalid()
    {
        var table = new LeaseTable(_time);

        var error = Assert.Throws<LockRequestException>(() => table.Acquire("a", "r1", LeaseMode.Shared, Ttl, TimeSpan.Zero));

        Assert.Equal(LockError.InvalidArgument, error.Error);
        Assert.Equal("mode", error.Parameter);
    }

    [Theory]
    [InlineData("", "r", 10, 0, "owner")]
    [InlineData("   ", "r", 10, 0, "owner")]
    [InlineData("a", "", 10, 0, "requestId")]
    [InlineData("a", "r", 0, 0, "ttl")]
    [InlineData("a", "r", -1, 0, "ttl")]
    [InlineData("a", "r", 301, 0, "ttl")]
    [InlineData("a", "r", 10, -1, "wait")]
    public void Bad_acquire_arguments_are_typed_errors_and_change_nothing(string owner, string requestId, int ttlSeconds, int waitSeconds, string parameter)
    {
        var table = new LeaseTable(_time);
        var held = table.Acquire("holder", "h", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;
        table.Acquire("waiter", "w", LeaseMode.Exclusive, Ttl, Wait);
        var before = table.Snapshot();

        var error = Assert.Throws<LockRequestException>(() =>
            table.Acquire(owner, requestId, LeaseMode.Exclusive, TimeSpan.FromSeconds(ttlSeconds), TimeSpan.FromSeconds(waitSeconds)));

        Assert.Equal(LockError.InvalidArgument, error.Error);
        Assert.Equal(parameter, error.Parameter);
        var after = table.Snapshot();
        Assert.Equal(before.LastToken, after.LastToken);
        Assert.Equal(before.Holders, after.Holders);
        Assert.Equal(before.Waiters, after.Waiters);
        Assert.Equal(held, Assert.Single(after.Holders));
    }

    [Fact]
    public void Over_long_owner_and_non_positive_tokens_are_refused()
    {
        var table = new LeaseTable(_time);
        var lease = table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero).Lease!;

        var longOwner = Assert.Throws<LockRequestException>(() => table.Acquire(new string('x', 257), "r2", LeaseMode.Exclusive, Ttl, TimeSpan.Zero));
        var zeroToken = Assert.Throws<LockRequestException>(() => table.Release("a", 0));
        var badTtl = Assert.Throws<LockRequestException>(() => table.Renew("a", lease.Token, TimeSpan.Zero));

        Assert.Equal("owner", longOwner.Parameter);
        Assert.Equal("token", zeroToken.Parameter);
        Assert.Equal("ttl", badTtl.Parameter);
        Assert.Equal(lease, Assert.Single(table.Holders));
    }

    [Fact]
    public void Queue_limit_is_a_typed_error()
    {
        var table = new LeaseTable(_time, new LeaseTableLimits { MaxWaiters = 2 });
        table.Acquire("a", "r1", LeaseMode.Exclusive, Ttl, TimeSpan.Zero);
        table.Acquire("b", "r2", LeaseMode.Exclusive, Ttl, Wait);
        table.Acquire("c", "r3", LeaseMode.Exclusive, Ttl, Wait);

        var error = Assert.Throws<LockRequestException>(() => table.Acquire("d", "r4", LeaseMode.Exclusive, Ttl, Wait));

        Assert.Equal(LockError.QueueFull, error.Error);
        Assert.Equal(2, table.Waiters.Count);
    }
}
