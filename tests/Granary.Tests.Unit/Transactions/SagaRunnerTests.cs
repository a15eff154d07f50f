using Granary.Transactions;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Transactions;

public sealed class SagaRunnerTests
{
    private static readonly SagaPolicy Policy = new(3, 2, new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), 0.5));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Drives a saga to a stop; actions fail when <paramref name="actionFails"/> says so, compensations likewise.</summary>
    private List<string> Drive(SagaRunner saga, Func<int, int, bool> actionFails, Func<int, int, bool> compensationFails)
    {
        var calls = new List<string>();
        for (var guard = 0; guard < 1000; guard++)
        {
            var cmd = saga.Next(Now);
            switch (cmd.Kind)
            {
                case SagaCommandKind.Stop:
                    return calls;
                case SagaCommandKind.Wait:
                    Assert.True(cmd.NotBefore > Now);
                    _time.SetUtcNow(cmd.NotBefore!.Value);
                    break;
                case SagaCommandKind.RunAction:
                    calls.Add($"a{cmd.Step}");
                    if (actionFails(cmd.Step, cmd.Attempt))
                    {
                        saga.ActionFailed(cmd.Step, "boom", retryable: true, Now, 0.5);
                    }
                    else
                    {
                        saga.ActionSucceeded(cmd.Step);
                    }

                    break;
                case SagaCommandKind.RunCompensation:
                    calls.Add($"c{cmd.Step}");
                    if (compensationFails(cmd.Step, cmd.Attempt))
                    {
                        saga.CompensationFailed(cmd.Step, "down", Now, 0.5);
                    }
                    else
                    {
                        saga.CompensationSucceeded(cmd.Step);
                    }

                    break;
            }
        }

        throw new InvalidOperationException("saga did not stop");
    }

    [Fact]
    public void All_actions_succeed_in_order()
    {
        var saga = new SagaRunner(3, Policy);
        var calls = Drive(saga, (_, _) => false, (_, _) => false);
        Assert.Equal(["a0", "a1", "a2"], calls);
        Assert.Equal(SagaStatus.Completed, saga.Status);
        Assert.True(saga.IsFinished);
    }

    [Theory]
    [InlineData(0, new[] { "a0", "a0", "a0", "c0" })]
    [InlineData(1, new[] { "a0", "a1", "a1", "a1", "c1", "c0" })]
    [InlineData(2, new[] { "a0", "a1", "a2", "a2", "a2", "c2", "c1", "c0" })]
    public void A_failing_step_is_retried_then_compensated_with_every_earlier_step_once_in_reverse(int failing, string[] expected)
    {
        var saga = new SagaRunner(3, Policy);
        var calls = Drive(saga, (step, _) => step == failing, (_, _) => false);
        Assert.Equal(expected, calls);
        Assert.Equal(SagaStatus.Compensated, saga.Status);
        Assert.Equal(failing, saga.FailedStep);
    }

    [Fact]
    public void A_transient_failure_recovers_after_backoff()
    {
        var saga = new SagaRunner(2, Policy);
        var start = Now;
        var calls = Drive(saga, (step, attempt) => step == 1 && attempt < 3, (_, _) => false);
        Assert.Equal(["a0", "a1", "a1", "a1"], calls);
        Assert.Equal(SagaStatus.Completed, saga.Status);
        // Backoff with jitter 0.5 at random 0.5: 75 ms then 150 ms.
        Assert.Equal(TimeSpan.FromMilliseconds(225), Now - start);
    }

    [Fact]
    public void A_non_retryable_failure_compensates_at_once()
    {
        var saga = new SagaRunner(2, Policy);
        saga.ActionSucceeded(0);
        saga.ActionFailed(1, "insufficient funds", retryable: false, Now, 0);
        Assert.Equal(SagaStatus.Compensating, saga.Status);
        Assert.Equal(new SagaCommand(SagaCommandKind.RunCompensation, 1, 1, null), saga.Next(Now));
    }

    [Fact]
    public void A_compensation_that_keeps_failing_parks_the_saga_and_an_operator_retry_finishes_it()
    {
        var saga = new SagaRunner(3, Policy);
        var broken = true;
        var calls = Drive(saga, (step, _) => step == 2, (step, _) => step == 1 && broken);
        Assert.Equal(SagaStatus.CompensationFailed, saga.Status);
        Assert.Equal(1, saga.Step);
        Assert.Equal("down", saga.LastError);
        Assert.Equal(["a0", "a1", "a2", "a2", "a2", "c2", "c1", "c1"], calls);
        Assert.Equal(SagaCommandKind.Stop, saga.Next(Now).Kind);

        // Survives a restart in that state.
        var restored = SagaRunner.Restore(saga.ToSnapshot(), Policy);
        Assert.Equal(SagaStatus.CompensationFailed, restored.Status);
        broken = false;
        restored.RetryCompensation();
        var more = Drive(restored, (_, _) => false, (_, _) => false);
        Assert.Equal(["c1", "c0"], more);
        Assert.Equal(SagaStatus.Compensated, restored.Status);
        Assert.Contains("operator retry at compensate 1", restored.Journal);
    }

    [Fact]
    public void Retry_is_only_for_a_parked_saga()
    {
        var saga = new SagaRunner(1, Policy);
        Assert.Throws<InvalidOperationException>(saga.RetryCompensation);
    }

    [Fact]
    public void Results_for_the_wrong_step_are_bugs()
    {
        var saga = new SagaRunner(2, Policy);
        Assert.Throws<InvalidOperationException>(() => saga.ActionSucceeded(1));
        Assert.Throws<InvalidOperationException>(() => saga.CompensationSucceeded(0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Recovery_from_each_persisted_point_continues_where_it_stopped(int transitions)
    {
        // Reference run: step 1 fails for good; record the snapshot after `transitions` results.
        var saga = new SagaRunner(2, Policy with { MaxActionAttempts = 1 });
        var results = new Action[]
        {
            () => saga.ActionSucceeded(0),
            () => saga.ActionFailed(1, "x", false, Now, 0),
            () => saga.CompensationSucceeded(1),
            () => saga.CompensationSucceeded(0),
        };
        for (var i = 0; i < Math.Min(transitions, results.Length); i++)
        {
            results[i]();
        }

        var restored = SagaRunner.Restore(saga.ToSnapshot(), Policy with { MaxActionAttempts = 1 });
        var calls = Drive(restored, (step, _) => step == 1, (_, _) => false);
        var all = new[] { "a0", "a1", "c1", "c0" };
        Assert.Equal(all.Skip(transitions), calls);
        Assert.Equal(SagaStatus.Compensated, restored.Status);
    }
}
