using Granary.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Scheduling;

public sealed class TaskLifecycleTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Eta_task_is_never_claimed_before_its_eta_and_only_once_after()
    {
        var task = new TestTask();
        var eta = _time.GetUtcNow().AddSeconds(30);
        TaskLifecycle.Submit(task, _time.GetUtcNow(), eta);
        Assert.Equal(TaskState.Scheduled, task.State);

        for (var i = 0; i < 30; i++)
        {
            Assert.False(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "l" + i, "w"));
            _time.Advance(TimeSpan.FromMilliseconds(999));
        }

        _time.SetUtcNow(eta - TimeSpan.FromTicks(1));
        Assert.False(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "early", "w"));
        _time.SetUtcNow(eta);
        Assert.True(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "on-time", "w1"));
        Assert.False(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "duplicate", "w2"));
        Assert.Equal("on-time", task.LeaseId);
        Assert.Equal(1, task.Attempts);
        Assert.True(task.StartedAt >= eta);
    }

    [Fact]
    public void Failures_retry_with_backoff_until_the_limit_then_dead_letter()
    {
        var task = new TestTask { MaxRetries = 3, BackoffBaseMs = 1000, BackoffCapMs = 3000 };
        TaskLifecycle.Submit(task, _time.GetUtcNow(), null);
        var random = new Random(7);
        var etas = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 4; attempt++)
        {
            // A retry is not due before its backoff has passed.
            while (!TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "lease" + attempt, "w"))
            {
                Assert.Equal(TaskState.Retrying, task.State);
                Assert.True(_time.GetUtcNow() < task.Eta);
                _time.Advance(TimeSpan.FromMilliseconds(50));
            }

            Assert.True(TaskLifecycle.Complete(task, _time.GetUtcNow(), "lease" + attempt, RunOutcome.Failed, "boom", random));
            if (task.Eta is { } eta)
            {
                etas.Add(eta - _time.GetUtcNow());
            }
        }

        Assert.Equal(TaskState.DeadLettered, task.State);
        Assert.Equal(3, task.Retries);
        Assert.Equal(4, task.Attempts);
        Assert.Equal(3, etas.Count);
        Assert.All(etas.Zip([1000, 2000, 3000]), p => Assert.InRange(p.First.TotalMilliseconds, 0, p.Second));

        TaskLifecycle.RetryFromDeadLetter(task);
        Assert.Equal(TaskState.Pending, task.State);
        Assert.Equal(0, task.Retries);
    }

    [Fact]
    public void Stale_lease_cannot_complete_a_redispatched_task()
    {
        var task = new TestTask();
        TaskLifecycle.Submit(task, _time.GetUtcNow(), null);
        Assert.True(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "first", "w1"));
        TaskLifecycle.LeaseLost(task, _time.GetUtcNow());
        Assert.Equal(TaskState.Pending, task.State);
        Assert.Equal(1, task.Redeliveries);
        Assert.True(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "second", "w2"));

        Assert.False(TaskLifecycle.Complete(task, _time.GetUtcNow(), "first", RunOutcome.Succeeded, "1", new Random(1)));
        Assert.Equal(TaskState.Running, task.State);
        Assert.True(TaskLifecycle.Complete(task, _time.GetUtcNow(), "second", RunOutcome.Succeeded, "2", new Random(1)));
        Assert.Equal(TaskState.Succeeded, task.State);
        Assert.Equal("2", task.Result);
    }

    [Fact]
    public void Time_limit_deadline_is_start_plus_limit()
    {
        var task = new TestTask { TimeLimitMs = 2000 };
        TaskLifecycle.Submit(task, _time.GetUtcNow(), null);
        TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "l", "w");

        _time.Advance(TimeSpan.FromMilliseconds(2000));
        Assert.False(TaskLifecycle.IsOverTime(task, _time.GetUtcNow()));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(TaskLifecycle.IsOverTime(task, _time.GetUtcNow()));
        Assert.False(TaskLifecycle.IsOverTime(task, _time.GetUtcNow(), grace: TimeSpan.FromSeconds(1)));

        TaskLifecycle.TimeLimitExceeded(task, _time.GetUtcNow());
        Assert.Equal(TaskState.TimedOut, task.State);
        Assert.False(TaskLifecycle.Cancel(task, _time.GetUtcNow()));
    }

    [Fact]
    public void Illegal_transitions_are_refused()
    {
        var task = new TestTask();
        TaskLifecycle.Submit(task, _time.GetUtcNow(), null);
        Assert.True(TaskLifecycle.Cancel(task, _time.GetUtcNow()));
        Assert.Throws<InvalidTaskTransitionException>(() => TaskLifecycle.RetryFromDeadLetter(task));
        Assert.False(TaskLifecycle.TryClaim(task, _time.GetUtcNow(), "l", "w"));

        foreach (var terminal in Enum.GetValues<TaskState>().Where(TaskTransitions.IsTerminal))
        {
            Assert.All(
                Enum.GetValues<TaskState>().Where(s => s != TaskState.Pending),
                to => Assert.False(TaskTransitions.IsAllowed(terminal, to)));
        }
    }
}
