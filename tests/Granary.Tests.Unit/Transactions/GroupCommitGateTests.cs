using Granary.Transactions;

namespace Granary.Tests.Unit.Transactions;

/// <summary>The participants' group commit: callers share writes, are answered only once durable, and fail together.</summary>
public sealed class GroupCommitGateTests
{
    private readonly List<TaskCompletionSource> _writes = [];
    private readonly List<int> _snapshots = [];
    private int _state;

    private GroupCommitGate NewGate() => new(() =>
    {
        // The snapshot is taken before the first await, like the participant grain's copy.
        _snapshots.Add(_state);
        var write = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _writes.Add(write);
        return write.Task;
    });

    [Fact]
    public async Task Callers_waiting_while_a_write_is_in_flight_share_the_next_write()
    {
        var gate = NewGate();
        _state = 1;
        var first = gate.ChangedAsync();
        Assert.Single(_writes);

        // Ten changes arrive while the first write is in flight: none is durable with it.
        var later = Enumerable.Range(2, 10).Select(i => { _state = i; return gate.ChangedAsync(); }).ToList();
        Assert.Single(_writes);
        _writes[0].SetResult();
        await first;
        Assert.All(later, t => Assert.False(t.IsCompleted));

        // One more write holds all ten.
        await WaitForAsync(() => _writes.Count == 2);
        Assert.Equal(11, _snapshots[1]);
        _writes[1].SetResult();
        await Task.WhenAll(later);
        Assert.Equal(2, gate.Writes);
        Assert.Equal(11, gate.Changes);
    }

    [Fact]
    public async Task A_failed_write_fails_every_caller_on_it_and_every_later_call()
    {
        var gate = NewGate();
        var first = gate.ChangedAsync();
        var queued = new[] { gate.ChangedAsync(), gate.ChangedAsync(), gate.DurableAsync() };
        _writes[0].SetException(new InvalidOperationException("disk on fire"));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        Assert.Equal("disk on fire", error.Message);
        foreach (var t in queued)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => t);
        }

        // Memory is ahead of storage: nothing is confirmed any more, nothing more is written.
        Assert.NotNull(gate.Failure);
        await Assert.ThrowsAsync<InvalidOperationException>(() => gate.ChangedAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => gate.DurableAsync());
        Assert.Single(_writes);
        await WaitForAsync(() => !gate.Writing);
    }

    [Fact]
    public async Task Durable_waits_for_earlier_changes_and_is_immediate_when_nothing_is_pending()
    {
        var gate = NewGate();
        Assert.True(gate.DurableAsync().IsCompletedSuccessfully);

        var change = gate.ChangedAsync();
        var durable = gate.DurableAsync();
        Assert.False(durable.IsCompleted);
        _writes[0].SetResult();
        await Task.WhenAll(change, durable);

        Assert.True(gate.DurableAsync().IsCompletedSuccessfully);
        Assert.Equal(1, gate.Writes);
    }

    [Fact]
    public async Task A_write_that_throws_before_its_first_await_fails_its_callers()
    {
        var gate = new GroupCommitGate(() => throw new TimeoutException("no connection"));

        await Assert.ThrowsAsync<TimeoutException>(() => gate.ChangedAsync());
        Assert.IsType<TimeoutException>(gate.Failure);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 5 s");
            await Task.Delay(1); // poll interval; bounded by the 5 s deadline above
        }
    }
}
