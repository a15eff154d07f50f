using System.Runtime.CompilerServices;
using Granary.Durability;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Durability;

/// <summary>
/// The group-commit primitive. Every write is a <see cref="TaskCompletionSource"/> the test
/// completes, with synchronous continuations and no synchronization context (<see cref="Isolated"/>):
/// completing a write runs the loop on to the next write before <c>SetResult</c> returns, so each
/// interleaving is exact, with no polling.
/// </summary>
public sealed class GroupCommitTests
{
    private readonly List<TaskCompletionSource> _writes = [];
    private readonly List<string[]> _batches = [];
    private readonly List<int> _snapshots = [];
    private int _state;
    private int _inFlight;
    private int _maxInFlight;

    [Fact]
    public Task Callers_arriving_while_a_write_is_in_flight_share_the_next_write() => Isolated(async () =>
    {
        var commit = WholeState(GroupCommitFailureMode.FailBatch);
        _state = 1;
        var first = commit.CommitAsync();
        Assert.Single(_writes);

        // Ten changes arrive while the first write is in flight: none is durable with it.
        var later = Enumerable.Range(2, 10).Select(i => { _state = i; return commit.CommitAsync(); }).ToList();
        Assert.Single(_writes);
        Assert.True(commit.Writing);
        _writes[0].SetResult();
        await first;
        Assert.All(later, t => Assert.False(t.IsCompleted));

        // One more write, started as the first ended, holds all ten.
        Assert.Equal(2, _writes.Count);
        Assert.Equal([1, 11], _snapshots);
        _writes[1].SetResult();
        await Task.WhenAll(later);
        Assert.Equal(2, commit.Writes);
        Assert.Equal(11, commit.Changes);
        Assert.False(commit.Writing);
        Assert.True(commit.IsDurable);
    });

    [Fact]
    public Task Items_arriving_during_a_write_join_the_next_batch_up_to_the_batch_limit() => Isolated(async () =>
    {
        var commit = Items(new GroupCommitOptions { MaxBatch = 3 });
        var a = commit.CommitAsync("a");
        var rest = "bcdefg".Select(c => commit.CommitAsync(c.ToString())).ToList();
        Assert.Equal([["a"]], _batches);

        _writes[0].SetResult();
        await a;
        Assert.Equal(["b", "c", "d"], _batches[1]);
        _writes[1].SetResult();
        Assert.Equal(["e", "f", "g"], _batches[2]);
        _writes[2].SetResult();
        await Task.WhenAll(rest);
        Assert.Equal(3, _writes.Count);
    });

    [Fact]
    public Task At_most_the_configured_writes_are_in_flight() => Isolated(async () =>
    {
        var commit = Items(new GroupCommitOptions { MaxInFlight = 2, MaxBatch = 2 });
        var all = Enumerable.Range(0, 10).Select(i => commit.CommitAsync(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();

        // Two writes took one item each at once; the other eight wait in batches of two.
        Assert.Equal(2, _writes.Count);
        Assert.Equal([["0"], ["1"]], _batches);
        var completed = 0;
        while (completed < _writes.Count)
        {
            Assert.True(_inFlight <= 2, $"{_inFlight} writes in flight");
            _inFlight--;
            _writes[completed++].SetResult();
        }

        await Task.WhenAll(all);
        Assert.Equal(2, _maxInFlight);
        Assert.Equal(6, _writes.Count);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), _batches.SelectMany(b => b));
    });

    [Fact]
    public Task Each_caller_gets_its_own_batch_outcome_and_a_failure_fails_exactly_its_batch() => Isolated(async () =>
    {
        var commit = Items(new GroupCommitOptions { MaxInFlight = 2, MaxBatch = 2 });
        var first = commit.CommitAsync("first");
        var second = commit.CommitAsync("second");
        var third = new[] { commit.CommitAsync("third"), commit.CommitAsync("fourth") };
        Assert.Equal(2, _writes.Count);

        // The second write ends first and fails; the first succeeds; the third (started by the
        // second's slot) succeeds: each caller sees its own batch's outcome.
        _writes[1].SetException(new InvalidOperationException("disk on fire"));
        Assert.Equal(["third", "fourth"], _batches[2]);
        Assert.Equal("disk on fire", (await Assert.ThrowsAsync<InvalidOperationException>(() => second)).Message);
        Assert.False(first.IsCompleted);
        _writes[0].SetResult();
        await first;
        _writes[2].SetResult();
        await Task.WhenAll(third);
        Assert.Null(commit.Failure);
    });

    [Fact]
    public Task A_failed_whole_state_write_fails_its_callers_only_and_the_next_write_stores_the_state_again() => Isolated(async () =>
    {
        var commit = WholeState(GroupCommitFailureMode.FailBatch);
        _state = 1;
        var failed = commit.CommitAsync();

        // A repeat of that change while its write is in flight waits for the next attempt, not this one.
        var repeat = commit.DurableAsync();
        Assert.NotSame(failed, repeat);
        _state = 2;
        var next = commit.CommitAsync();
        _writes[0].SetException(new TimeoutException("lost"));
        await Assert.ThrowsAsync<TimeoutException>(() => failed);

        Assert.Equal([1, 2], _snapshots);
        Assert.False(repeat.IsCompleted);
        _writes[1].SetResult();
        await Task.WhenAll(next, repeat);
        Assert.Null(commit.Failure);
        Assert.True(commit.IsDurable);
    });

    [Fact]
    public Task Durable_after_a_failed_write_starts_a_write() => Isolated(async () =>
    {
        var commit = WholeState(GroupCommitFailureMode.FailBatch);
        var change = commit.CommitAsync();
        _writes[0].SetException(new TimeoutException("lost"));
        await Assert.ThrowsAsync<TimeoutException>(() => change);
        Assert.False(commit.IsDurable);

        // An idempotent repeat of that change is answered only once a later write stored it.
        var repeat = commit.DurableAsync();
        Assert.Equal(2, _writes.Count);
        Assert.False(repeat.IsCompleted);
        _writes[1].SetResult();
        await repeat;
        Assert.True(commit.DurableAsync().IsCompletedSuccessfully);
    });

    [Fact]
    public Task Sticky_failure_fails_the_batch_every_queued_caller_and_every_later_call() => Isolated(async () =>
    {
        var commit = WholeState(GroupCommitFailureMode.Sticky);
        var first = commit.CommitAsync();
        var queued = new[] { commit.CommitAsync(), commit.CommitAsync(), commit.DurableAsync() };
        _writes[0].SetException(new InvalidOperationException("disk on fire"));

        Assert.Equal("disk on fire", (await Assert.ThrowsAsync<InvalidOperationException>(() => first)).Message);
        foreach (var t in queued)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => t);
        }

        // Memory is ahead of storage: nothing is confirmed any more, nothing more is written.
        Assert.NotNull(commit.Failure);
        await Assert.ThrowsAsync<InvalidOperationException>(() => commit.CommitAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => commit.DurableAsync());
        Assert.Single(_writes);
        Assert.False(commit.Writing);
    });

    [Theory]
    [InlineData(GroupCommitFailureMode.FailBatch)]
    [InlineData(GroupCommitFailureMode.Sticky)]
    public async Task A_write_that_throws_before_returning_a_task_fails_its_callers_and_the_loop_survives(GroupCommitFailureMode mode)
    {
        var throwNext = true;
        var commit = new GroupCommit(
            () =>
            {
                if (throwNext)
                {
                    throwNext = false;
                    throw new TimeoutException("no connection");
                }

                return Task.CompletedTask;
            },
            mode);

        await Assert.ThrowsAsync<TimeoutException>(() => commit.CommitAsync());
        Assert.False(commit.Writing);
        if (mode == GroupCommitFailureMode.Sticky)
        {
            Assert.IsType<TimeoutException>(commit.Failure);
            await Assert.ThrowsAsync<TimeoutException>(() => commit.CommitAsync());
        }
        else
        {
            await commit.CommitAsync();
            Assert.Equal(2, commit.Writes);
        }
    }

    [Fact]
    public Task Durable_is_immediate_when_nothing_is_pending_and_joins_the_write_in_flight_when_it_holds_every_change() => Isolated(async () =>
    {
        var commit = WholeState(GroupCommitFailureMode.Sticky);
        Assert.True(commit.DurableAsync().IsCompletedSuccessfully);

        var change = commit.CommitAsync();
        var durable = commit.DurableAsync();
        Assert.Same(change, durable);
        _writes[0].SetResult();
        await Task.WhenAll(change, durable);
        Assert.True(commit.DurableAsync().IsCompletedSuccessfully);
        Assert.Equal(1, commit.Writes);

        // A change recorded without waiting (after the write's snapshot) needs a write of its own.
        var inFlight = commit.CommitAsync();
        commit.Changed();
        var covering = commit.DurableAsync();
        Assert.NotSame(inFlight, covering);
        _writes[1].SetResult();
        await inFlight;
        Assert.False(covering.IsCompleted);
        _writes[2].SetResult();
        await covering;
        Assert.Equal(3, commit.Writes);
    });

    [Fact]
    public Task Close_lets_queued_batches_drain_then_refuses_new_commits() => Isolated(async () =>
    {
        var commit = Items(new GroupCommitOptions { MaxBatch = 1 });
        var queued = new[] { commit.CommitAsync("a"), commit.CommitAsync("b") };
        var closing = commit.CloseAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => commit.CommitAsync("late"));

        _writes[0].SetResult();
        _writes[1].SetResult();
        await closing;
        await Task.WhenAll(queued);
        Assert.Equal([["a"], ["b"]], _batches);
    });

    [Fact]
    public Task Close_fails_what_is_still_queued_when_the_drain_deadline_passes() => Isolated(async () =>
    {
        var time = new FakeTimeProvider();
        var commit = Items(new GroupCommitOptions { MaxBatch = 1, TimeProvider = time });
        var stuck = commit.CommitAsync("stuck");
        var queued = commit.CommitAsync("queued");
        var closing = commit.CloseAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(closing.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1));
        await closing;
        await Assert.ThrowsAsync<ObjectDisposedException>(() => queued);

        // The write in flight ends on its own, with its own outcome.
        Assert.False(stuck.IsCompleted);
        _writes[0].SetResult();
        await stuck;
        Assert.Single(_batches);
    });

    [Fact]
    public void A_failed_batch_nobody_awaits_raises_no_unobserved_task_exception()
    {
        var unobserved = new List<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            lock (unobserved)
            {
                unobserved.AddRange(e.Exception.Flatten().InnerExceptions);
            }
        }

        var marker = new InvalidOperationException("dropped " + Guid.NewGuid());
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            DropFailedCommits(marker);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        lock (unobserved)
        {
            Assert.DoesNotContain(marker, unobserved);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DropFailedCommits(Exception error)
    {
        // Callers that drop their task: a failed batch (the delegate throws at once, so the batch has
        // failed when the call returns) and a call refused after the sticky failure.
        var commit = new GroupCommit(() => throw error, GroupCommitFailureMode.Sticky);
        _ = commit.CommitAsync();
        Assert.Same(error, commit.Failure);
        _ = commit.CommitAsync();
    }

    private static Task Isolated(Func<Task> body) => Task.Run(body);

    private GroupCommit WholeState(GroupCommitFailureMode mode) => new(
        () =>
        {
            // The snapshot is taken before the first await, as the grains' write delegates do.
            _snapshots.Add(_state);
            return NextWrite();
        },
        mode);

    private GroupCommit<string> Items(GroupCommitOptions options) => new(
        items =>
        {
            _batches.Add([.. items]);
            _maxInFlight = Math.Max(_maxInFlight, ++_inFlight);
            return NextWrite();
        },
        options);

    private Task NextWrite()
    {
        // Synchronous continuations: completing the write runs the loop on at once (see the class comment).
        var write = new TaskCompletionSource();
        _writes.Add(write);
        return write.Task;
    }
}
