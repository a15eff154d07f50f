using Granary.Caching;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Caching;

/// <summary>The write-behind queue: flush times (delay, then backoff while the table fails), its bound, and dropping.</summary>
public sealed class WriteBehindQueueTests
{
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(4);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Failed_flushes_wait_twice_as_long_each_time_up_to_the_cap_and_success_resets()
    {
        var queue = new WriteBehindQueue(Delay, Cap, 100, _time);
        var start = _time.GetUtcNow();
        Assert.True(queue.TryAdd("k", new WriteBehindRow("v", 1)));
        Assert.Equal(start + Delay, queue.DueAt);

        // The table fails at every flush: each flush happens when due, and the gaps grow.
        var attempts = new List<TimeSpan>();
        for (var flush = 0; flush < 7; flush++)
        {
            _time.Advance(queue.TimeUntilDue);
            attempts.Add(_time.GetUtcNow() - start);
            var rows = queue.Take();
            Assert.Single(rows);
            Assert.Equal(1, queue.Count);
            queue.Complete(rows.Count, rows);
        }

        var gaps = attempts.Zip(attempts.Skip(1), (a, b) => (b - a).TotalMilliseconds).ToList();
        Assert.Equal(500, attempts[0].TotalMilliseconds);
        Assert.Equal([500, 1000, 2000, 4000, 4000, 4000], gaps);
        Assert.Equal(7, queue.ConsecutiveFailedFlushes);
        Assert.Equal(7, queue.FailedWrites);

        // Not due before its time; after a flush that writes everything, nothing is due and the next row waits the plain delay.
        _time.Advance(queue.TimeUntilDue - TimeSpan.FromMilliseconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(1), queue.TimeUntilDue);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var last = queue.Take();
        queue.Complete(last.Count, []);
        Assert.Equal(0, queue.ConsecutiveFailedFlushes);
        Assert.Null(queue.DueAt);
        Assert.Equal(Timeout.InfiniteTimeSpan, queue.TimeUntilDue);
        Assert.True(queue.TryAdd("k2", new WriteBehindRow("v", 2)));
        Assert.Equal(Delay, queue.TimeUntilDue);
    }

    [Fact]
    public void Rows_arriving_during_a_failing_flush_wait_for_the_backoff_too_and_during_a_good_one_keep_their_time()
    {
        var queue = new WriteBehindQueue(Delay, Cap, 100, _time);
        queue.TryAdd("a", new WriteBehindRow("v", 1));
        _time.Advance(Delay);
        var rows = queue.Take();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        queue.TryAdd("b", new WriteBehindRow("v", 1));
        var dueOfB = queue.DueAt;
        queue.Complete(rows.Count, []);
        Assert.Equal(dueOfB, queue.DueAt);

        _time.Advance(queue.TimeUntilDue);
        rows = queue.Take();
        queue.TryAdd("c", new WriteBehindRow("v", 1));
        queue.Complete(rows.Count, rows);
        Assert.Equal(2, queue.Pending);
        Assert.Equal(Delay, queue.TimeUntilDue);
        rows = queue.Take();
        queue.Complete(rows.Count, rows);
        Assert.Equal(Delay * 2, queue.TimeUntilDue);
    }

    [Fact]
    public void The_queue_is_bounded_in_flight_rows_included_and_a_newer_row_of_a_queued_key_is_accepted()
    {
        var queue = new WriteBehindQueue(Delay, Cap, 3, _time);
        Assert.True(queue.TryAdd("k1", new WriteBehindRow("v", 1)));
        Assert.True(queue.TryAdd("k2", new WriteBehindRow("v", 1)));
        Assert.True(queue.TryAdd("k3", new WriteBehindRow("v", 1)));
        Assert.False(queue.TryAdd("k4", new WriteBehindRow("v", 1)));
        Assert.True(queue.TryAdd("k1", new WriteBehindRow("v2", 2)));
        Assert.Equal(1, queue.Refused);

        var rows = queue.Take();
        Assert.Equal(3, queue.Count);
        Assert.False(queue.TryAdd("k4", new WriteBehindRow("v", 1)));
        Assert.Equal(2, queue.Refused);
        queue.Complete(rows.Count, []);
        Assert.Equal(0, queue.Count);
        Assert.True(queue.TryAdd("k4", new WriteBehindRow("v", 1)));
    }

    [Fact]
    public void A_failed_row_does_not_replace_a_newer_row_of_its_key_and_dropping_counts_what_was_lost()
    {
        var queue = new WriteBehindQueue(Delay, Cap, 10, _time);
        queue.TryAdd("k", new WriteBehindRow("old", 1));
        queue.TryAdd("j", new WriteBehindRow("j", 1));
        var rows = queue.Take();
        queue.TryAdd("k", new WriteBehindRow("new", 2));
        queue.Complete(rows.Count, rows);
        Assert.True(queue.TryGetPending("k", out var pending));
        Assert.Equal(new WriteBehindRow("new", 2), pending);
        Assert.Equal(2, queue.Pending);

        var dropped = queue.DropAll();
        Assert.Equal(["j", "k"], dropped.Order(StringComparer.Ordinal));
        Assert.Equal(2, queue.Dropped);
        Assert.Equal(0, queue.Count);
        Assert.Null(queue.DueAt);
    }
}
