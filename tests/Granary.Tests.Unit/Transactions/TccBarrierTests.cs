using Granary.Transactions;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Transactions;

public sealed class TccBarrierTests
{
    // The defaults: CallTimeout 5 s + MaxClockSkew 5 s, OutcomeRetention 10 min.
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Unowned = TimeSpan.FromMinutes(10);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private DateTimeOffset Now => _time.GetUtcNow();

    [Fact]
    public void Action_then_compensation_runs_each_once()
    {
        var b = new TccBarrier();
        Assert.Equal(TccActionVerdict.Run, b.CheckAction("s/0:a"));
        b.ActionDone("s/0:a", Now, "s");
        Assert.Equal(TccActionVerdict.AlreadyDone, b.CheckAction("s/0:a"));
        Assert.Equal(TccCompensationVerdict.Run, b.CheckCompensation("s/0:a", Now, "s"));
        b.Compensated("s/0:a", Now);
        Assert.Equal(TccCompensationVerdict.AlreadyCompensated, b.CheckCompensation("s/0:a", Now, "s"));
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, b.CheckAction("s/0:a"));
    }

    [Fact]
    public void Compensation_without_action_is_a_no_op_and_bars_the_late_action()
    {
        var b = new TccBarrier();
        Assert.Equal(TccCompensationVerdict.NoOpWithoutAction, b.CheckCompensation("s/1:b", Now, "s"));
        Assert.Equal(TccCompensationVerdict.AlreadyCompensated, b.CheckCompensation("s/1:b", Now, "s"));
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, b.CheckAction("s/1:b"));
        var restored = new TccBarrier(b.Steps.Select(kv => TccStepCodec.Decode(TccStepCodec.Encode(kv.Key, kv.Value))));
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, restored.CheckAction("s/1:b"));
    }

    [Fact]
    public void A_done_step_is_kept_while_its_saga_is_unfinished_however_long_that_takes()
    {
        var b = new TccBarrier();
        b.ActionDone("parked/0:debit", Now, "parked");

        // A saga waiting for an operator in CompensationFailed may compensate the step at any time.
        for (var i = 0; i < 100; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(10));
            foreach (var saga in b.DueForInquiry(Now, Window, 32))
            {
                b.SagaPending(saga, Now, Window, Unowned);
            }

            Assert.Equal(0, b.Prune(Now, Window, Unowned));
        }

        // 1,000 minutes later its compensation still undoes the action, and a late action is absorbed.
        Assert.Equal(TccActionVerdict.AlreadyDone, b.CheckAction("parked/0:debit"));
        Assert.Equal(TccCompensationVerdict.Run, b.CheckCompensation("parked/0:debit", Now, "parked"));
    }

    [Fact]
    public void A_finished_sagas_steps_are_dropped_one_window_after_it_said_so()
    {
        var b = new TccBarrier();
        b.ActionDone("done/0:a", Now, "done");
        b.ActionDone("done/1:b", Now, "done");

        // Not asked before the window: the saga is probably still running its later steps.
        _time.Advance(Window - TimeSpan.FromMilliseconds(1));
        Assert.Empty(b.DueForInquiry(Now, Window, 32));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["done"], b.DueForInquiry(Now, Window, 32));

        Assert.Equal(2, b.SagaFinished("done", Now));
        Assert.False(b.AwaitsSagas);

        // Until the window has passed, a late copy of the action (sent before the saga finished,
        // its deadline not yet passed) is still absorbed.
        _time.Advance(Window);
        Assert.Equal(0, b.Prune(Now, Window, Unowned));
        Assert.Equal(TccActionVerdict.AlreadyDone, b.CheckAction("done/0:a"));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, b.Prune(Now, Window, Unowned));
        Assert.Empty(b.Steps);
    }

    [Fact]
    public void Barriers_and_compensated_steps_are_dropped_one_window_after_the_compensation()
    {
        var b = new TccBarrier();
        b.ActionDone("c/0:a", Now, "c");
        b.CheckCompensation("c/0:a", Now, "c");
        b.Compensated("c/0:a", Now);
        Assert.Equal(TccCompensationVerdict.NoOpWithoutAction, b.CheckCompensation("c/1:b", Now, "c"));

        // No inquiry: a compensating saga never sends these actions again, and every copy sent
        // earlier is past its deadline one window after the compensation.
        Assert.False(b.AwaitsSagas);
        _time.Advance(Window);
        Assert.Equal(0, b.Prune(Now, Window, Unowned));
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, b.CheckAction("c/1:b"));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, b.Prune(Now, Window, Unowned));

        // A late duplicate compensation then finds nothing: an empty rollback, nothing undone twice.
        Assert.Equal(TccCompensationVerdict.NoOpWithoutAction, b.CheckCompensation("c/0:a", Now, "c"));
    }

    [Fact]
    public void An_unfinished_saga_is_asked_again_with_a_doubling_delay_up_to_the_cap()
    {
        var b = new TccBarrier();
        b.ActionDone("slow/0:a", Now, "slow");
        _time.Advance(Window);
        var asked = new List<TimeSpan>();
        var start = Now;
        while (Now - start < TimeSpan.FromMinutes(30))
        {
            if (b.DueForInquiry(Now, Window, 32).Count > 0)
            {
                asked.Add(Now - start);
                b.SagaPending("slow", Now, Window, TimeSpan.FromMinutes(1));
            }

            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // 10 s, 20 s, 40 s, then every minute (the cap).
        Assert.Equal(TimeSpan.Zero, asked[0]);
        Assert.Equal(new double[] { 10, 20, 40, 60, 60 }, asked.Zip(asked.Skip(1), (a, c) => (c - a).TotalSeconds).Take(5));
    }

    [Fact]
    public void Steps_without_a_saga_are_kept_for_the_unowned_retention_whatever_their_state()
    {
        var b = new TccBarrier();
        b.ActionDone("direct-step", Now, null);                 // no saga named
        b.ActionDone("other/0:a", Now, "someone-else");         // the key is not that saga's
        Assert.False(b.AwaitsSagas);
        Assert.All(b.Steps.Values, s => Assert.Null(s.SagaId));

        _time.Advance(Unowned);
        Assert.Equal(0, b.Prune(Now, Window, Unowned));
        Assert.Equal(TccActionVerdict.AlreadyDone, b.CheckAction("direct-step"));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, b.Prune(Now, Window, Unowned));
    }

    [Fact]
    public void A_stream_of_sagas_leaves_a_bounded_table()
    {
        // One saga step a second on one participant for an hour; each saga finishes 3 s after its step,
        // the participant asks once a second and writes (prunes) after every step.
        var b = new TccBarrier();
        var finishedAt = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var largest = 0;
        for (var i = 0; i < 3600; i++)
        {
            var saga = $"saga-{i}";
            b.ActionDone($"{saga}/0:debit", Now, saga);
            finishedAt[saga] = Now + TimeSpan.FromSeconds(3);
            foreach (var due in b.DueForInquiry(Now, Window, 32))
            {
                if (finishedAt[due] <= Now)
                {
                    b.SagaFinished(due, Now);
                }
                else
                {
                    b.SagaPending(due, Now, Window, Unowned);
                }
            }

            b.Prune(Now, Window, Unowned);
            largest = Math.Max(largest, b.Steps.Count);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // About two windows' worth of steps (asked after one, dropped one later), never 3,600.
        Assert.InRange(largest, 10, 2 * (int)Window.TotalSeconds + 2);
    }

    [Theory]
    [InlineData("saga-1/0:debit", "saga-1")]
    [InlineData("order/17/2:take stock", "order/17")]
    [InlineData("a/1:x/y", "a")]
    [InlineData("a/1:x/2:y", null)]          // ambiguous: two places the saga id may end
    [InlineData("no-step-here", null)]
    [InlineData("/0:a", null)]               // empty saga id
    [InlineData("s/:a", null)]               // no step number
    public void The_saga_of_a_legacy_key_is_read_only_when_unambiguous(string key, string? sagaId) =>
        Assert.Equal(sagaId, TccBarrier.SagaIdOfLegacyKey(key));

    [Theory]
    [InlineData(TccStepState.Done, "saga-1")]
    [InlineData(TccStepState.Compensated, "a/b")]
    [InlineData(TccStepState.Barrier, null)]
    [InlineData(TccStepState.Released, "x")]
    public void A_step_round_trips_through_its_compact_form(TccStepState state, string? sagaId)
    {
        var key = (sagaId ?? "direct") + "/3:step:with:colons";
        var step = new TccStep(state, new DateTimeOffset(2026, 11, 26, 10, 17, 45, 942, TimeSpan.Zero), sagaId);

        var decoded = TccStepCodec.Decode(TccStepCodec.Encode(key, step));

        Assert.Equal(key, decoded.Key);
        Assert.Equal(step, decoded.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("X1:0:k")]
    [InlineData("D1:0")]
    [InlineData("Dx:0:k")]
    [InlineData("D1:5:k")]
    [InlineData("D1:1:k")]
    public void Garbage_is_not_a_step(string text) =>
        Assert.Throws<FormatException>(() => TccStepCodec.Decode(text));
}
